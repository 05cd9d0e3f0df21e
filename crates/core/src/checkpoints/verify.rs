//! Checking the checkpoints themselves (`orgd audit verify-checkpoints`):
//! each signature, the `prev_id` chain, and every org's head moving only
//! forward along its chain.

use crate::Result;
use crate::checkpoints::chains::{ChainAt, chain_at};
use crate::checkpoints::{AuditKeyRecord, Head};
use crate::ids::OrgId;
use crate::service::Orgd;

/// What `orgd audit verify-checkpoints` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointsReport {
    /// Checkpoints checked.
    pub checkpoints: i64,
    /// Leaves of the latest checkpoint held to the chains of now.
    pub heads: i64,
    /// One sentence per finding, in order; empty when all is well.
    pub problems: Vec<String>,
}

/// Checkpoints read per round trip while verifying them.
const VERIFY_BATCH: usize = 500;

impl Orgd {
    /// `orgd audit verify-checkpoints`: every checkpoint's signature (under
    /// `pinned` keys when given, else the keys the database lists), its
    /// `prev_id` link to the one before, its stored leaves against its
    /// signed root, and the latest one's leaves against the chains of now
    /// (a chain cut or rewritten since shows here). One snapshot.
    pub async fn verify_checkpoints(
        &self,
        pinned: &[crate::checkpoints::PublicKey],
    ) -> Result<CheckpointsReport> {
        use std::collections::{BTreeMap, HashMap};
        let mut tx = self.store.read().await?;
        let keys: HashMap<String, crate::checkpoints::PublicKey> = if pinned.is_empty() {
            tx.audit_keys()
                .await?
                .iter()
                .filter_map(AuditKeyRecord::public)
                .map(|k| (k.kid.clone(), k))
                .collect()
        } else {
            pinned.iter().map(|k| (k.kid.clone(), k.clone())).collect()
        };
        let mut report = CheckpointsReport::default();
        // Every org's leaf as of the checkpoint being checked, with its hash.
        let mut leaves: BTreeMap<String, (Head, crate::merkle::Hash)> = BTreeMap::new();
        let mut prev: Option<String> = None;
        let mut after = 0;
        loop {
            let batch = tx.checkpoints_after(after, VERIFY_BATCH).await?;
            for (position, c) in &batch {
                report.checkpoints += 1;
                let problem = |what: String| format!("checkpoint {} (#{position}): {what}", c.id);
                if c.prev_id != prev {
                    report.problems.push(problem(format!(
                        "its prev_id ({}) is not the checkpoint before it ({})",
                        c.prev_id.as_deref().unwrap_or("none"),
                        prev.as_deref().unwrap_or("none")
                    )));
                }
                match keys.get(&c.kid) {
                    None if pinned.is_empty() => report.problems.push(problem(format!(
                        "signed by key {}, which the database does not list",
                        c.kid
                    ))),
                    None => report.problems.push(problem(format!(
                        "signed by key {}, which is not one of the keys given",
                        c.kid
                    ))),
                    Some(key) if !c.verify(key) => report
                        .problems
                        .push(problem("its signature does not verify".into())),
                    Some(_) => {}
                }
                for h in tx.checkpoint_changes(*position).await?.iter() {
                    leaves.insert(h.org_id.to_owned(), (h.to_head(), h.leaf_hash()));
                }
                let tree = crate::merkle::MerkleTree::new(leaves.values().map(|l| l.1).collect());
                if hex::encode(tree.root()) != c.root_hash
                    || i64::try_from(tree.size()).ok() != Some(c.tree_size)
                {
                    report.problems.push(problem(
                        "its stored leaves do not hash to its signed root".into(),
                    ));
                }
                prev = Some(c.id.clone());
                after = *position;
            }
            if batch.len() < VERIFY_BATCH {
                break;
            }
        }
        for (org, (head, _)) in &leaves {
            report.heads += 1;
            let id = OrgId::from_trusted(org.clone());
            match chain_at(tx.as_mut(), &id, head.seq).await? {
                ChainAt::Hash(hash) if hash == head.hash => {}
                ChainAt::PrunedPast => {}
                ChainAt::Hash(_) => report.problems.push(format!(
                    "org {org}: event {} is not the one the latest checkpoint holds (the chain \
                     was rewritten)",
                    head.seq
                )),
                ChainAt::Missing => report.problems.push(format!(
                    "org {org}: event {}, which the latest checkpoint holds, is missing (the \
                     chain was truncated)",
                    head.seq
                )),
            }
        }
        Ok(report)
    }
}
