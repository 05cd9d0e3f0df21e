//! Reading and verifying the audit trail.

use crate::api_keys::Permission;
use crate::audit::{AuditEvent, ChainVerifier, Verification};
use crate::authz::Principal;
use crate::page::{Page, PageRequest, encode_number_cursor, paginate};
use crate::service::Orgd;
use crate::service::reach::path_org_id;
use crate::store::{AuditFilter, Tx};
use crate::{Error, Result};

/// Events read per round trip while verifying a chain.
const VERIFY_BATCH: usize = 1000;

impl Orgd {
    /// The org's own events, newest first.
    pub async fn org_audit(
        &self,
        who: &Principal,
        org_id: &str,
        filter: AuditFilter,
        page: PageRequest<i64>,
    ) -> Result<Page<AuditEvent>> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let limit = page.limit;
        let rows = tx.org_events(&org.id, &filter, &page).await?;
        Ok(paginate(rows, limit, |e| encode_number_cursor(e.seq)))
    }

    /// Events of every strict descendant, deleted ones included, newest first.
    pub async fn children_audit(
        &self,
        who: &Principal,
        org_id: &str,
        filter: AuditFilter,
        page: PageRequest<i64>,
    ) -> Result<Page<AuditEvent>> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let limit = page.limit;
        let rows = tx.subtree_events(&org.path, &filter, &page).await?;
        let page = paginate(rows, limit, |(gid, _)| encode_number_cursor(*gid));
        Ok(Page {
            items: page.items.into_iter().map(|(_, e)| e).collect(),
            next: page.next,
        })
    }

    pub async fn verify_audit(&self, who: &Principal, org_id: &str) -> Result<Verification> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        self.verify_chain(tx.as_mut(), &org.id).await
    }

    /// Every org that ever existed, tombstones included, by id: what
    /// `orgd audit verify --all` checks one by one.
    pub async fn all_org_ids_as_operator(&self) -> Result<Vec<crate::ids::OrgId>> {
        let mut tx = self.store.read().await?;
        Ok(tx.all_org_ids().await?)
    }

    /// `orgd audit verify`: any org that ever existed, tombstones included.
    pub async fn verify_audit_as_operator(&self, org_id: &str) -> Result<Verification> {
        let org_id = path_org_id(org_id)?;
        let mut tx = self.store.read().await?;
        tx.org(&org_id)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        self.verify_chain(tx.as_mut(), &org_id).await
    }
}

impl Orgd {
    /// Re-walks the org's chain, from its prune anchor when retention pruned
    /// it, and holds it to the head the latest signed checkpoint has for it,
    /// read through the checkpoint's signed tree: a chain cut or rewritten
    /// after that checkpoint is found even when every link is consistent,
    /// and so is a checkpoint whose stored leaves were changed to match.
    pub(crate) async fn verify_chain(
        &self,
        tx: &mut dyn Tx,
        org: &crate::ids::OrgId,
    ) -> Result<Verification> {
        let (mut verifier, mut after) = self.chain_walk(tx, org).await?;
        loop {
            let batch = tx.chain_events(org, after, VERIFY_BATCH).await?;
            for e in &batch {
                verifier.push(e);
            }
            match batch.last() {
                Some(last) if batch.len() == VERIFY_BATCH => after = last.seq,
                _ => break,
            }
        }
        Ok(verifier.finish())
    }

    /// Where a walk of the org's chain starts: a verifier held to the
    /// latest checkpoint's head for it, started after the org's prune
    /// anchor when retention pruned it, and the `seq` to read after.
    pub(crate) async fn chain_walk(
        &self,
        tx: &mut dyn Tx,
        org: &crate::ids::OrgId,
    ) -> Result<(ChainVerifier, i64)> {
        let verifier = self.chain_verifier(tx, org).await?;
        Ok(match tx.audit_anchor(org).await? {
            Some(a) => {
                let signed = anchor_signed(tx, &a).await?;
                (verifier.after_anchor(a.seq, &a.hash, signed), a.seq)
            }
            None => (verifier, 0),
        })
    }

    /// What can be told of the org's chain without walking it: that its
    /// prune anchor, if any, is signed, and that the chain still holds,
    /// unchanged, the head the latest checkpoint signed for it (read
    /// through the signed tree). A cut, a consistent rewrite before that
    /// head, or a changed checkpoint fails here; an event edited without
    /// its hash takes the walk to find.
    pub(crate) async fn chain_holds_its_checkpoint(
        &self,
        tx: &mut dyn Tx,
        latest: Option<&(i64, crate::checkpoints::Checkpoint)>,
        org: &crate::ids::OrgId,
    ) -> Result<bool> {
        if let Some(a) = tx.audit_anchor(org).await?
            && !anchor_signed(tx, &a).await?
        {
            return Ok(false);
        }
        let Some((position, c)) = latest else {
            return Ok(true);
        };
        let proven = match self.tree_of(tx, *position, c).await {
            Ok(tree) => Self::proven_leaf(tx, &tree, *position, c, org).await,
            Err(e) => Err(e),
        };
        let head = match proven {
            Ok(Some(p)) => p.head,
            Ok(None) => return Ok(true),
            Err(crate::Error::Conflict {
                kind: crate::error::ConflictKind::AuditChainInvalid,
                ..
            }) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(
            match crate::checkpoints::chains::chain_at(tx, org, head.seq).await? {
                crate::checkpoints::chains::ChainAt::Hash(hash) => hash == head.hash,
                crate::checkpoints::chains::ChainAt::PrunedPast => true,
                crate::checkpoints::chains::ChainAt::Missing => false,
            },
        )
    }
}

/// Whether a key the database lists signed the anchor.
async fn anchor_signed(tx: &mut dyn Tx, a: &crate::checkpoints::PruneAnchor) -> Result<bool> {
    Ok(tx
        .audit_keys()
        .await?
        .iter()
        .filter_map(crate::checkpoints::AuditKeyRecord::public)
        .any(|k| a.verify(&k)))
}
