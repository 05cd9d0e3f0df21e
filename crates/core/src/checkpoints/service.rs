//! Signed checkpoints of the audit trail (SPEC §12): the signing key, making
//! a checkpoint, and serving checkpoints, keys and inclusion proofs.
//!
//! A checkpoint is built from one snapshot of every org's chain head (a read
//! transaction), so it never holds the writer while it reads and hashes;
//! the write that stores it then checks, under the checkpoints' lock, that
//! no other node stored one meanwhile. Before it signs, it holds the heads
//! to the previous checkpoint: an org's head may only move forward along the
//! same chain. A head that vanished, went back, or moved off the
//! checkpointed event means someone rewrote history in the database, and
//! orgd refuses to sign over it.
//!
//! The newest checkpoint's tree stays in memory ([`LeafSet`]), so proofs
//! against it cost no hashing; an older one's is rebuilt from its stored
//! leaves, and held to its signed root first.

use std::sync::Arc;

use crate::api_keys::Permission;
use crate::audit::{ChainVerifier, Checkpointed};
use crate::authz::Principal;
use crate::checkpoints::chains::{ChainAt, chain_at};
use crate::checkpoints::signing_state::Tree;
use crate::checkpoints::{
    AuditKey, AuditKeyRecord, Checkpoint, Heads, InclusionProof, LeafSet, ProvenLeaf, SigningKey,
    head_leaf,
};
use crate::error::{ConflictKind, FieldError};
use crate::ids::{OrgId, prefixed_ulid};
use crate::page::{Page, paginate};
use crate::service::Orgd;
use crate::store::Tx;
use crate::{Error, Result};

/// What [`Orgd::make_checkpoint`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointMade {
    /// A new checkpoint, signed and stored.
    Made(Checkpoint),
    /// No head moved since the latest checkpoint (or there is no event at
    /// all): nothing to sign.
    Unchanged,
    /// Another node stored a checkpoint while this one was building its own.
    Raced,
}

impl Orgd {
    /// Signs checkpoints with `key` (read from `--audit-signing-key-file`)
    /// instead of a key kept in the database.
    pub fn with_audit_signing_key(mut self, key: SigningKey) -> Self {
        self.audit.file_key = Some(key);
        self
    }

    /// Makes sure a key will sign the next checkpoint, and returns its kid:
    /// the file's key when the server was given one (it becomes the active
    /// key, any other is retired); else the active key in the database; else
    /// a new key, made now and kept in the database.
    pub async fn prepare_audit_key(&self) -> Result<String> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_checkpoints().await?;
        let keys = tx.audit_keys().await?;
        let active = keys.iter().find(|k| k.retired_at.is_none());
        let kid = match (&self.audit.file_key, active) {
            (Some(file), Some(a)) if a.kid == file.public.kid => return Ok(a.kid.clone()),
            (Some(file), _) => {
                if let Some(a) = active {
                    tx.set_audit_key_retired(&a.kid, Some(now)).await?;
                }
                if keys.iter().any(|k| k.kid == file.public.kid) {
                    tx.set_audit_key_retired(&file.public.kid, None).await?;
                } else {
                    tx.insert_audit_key(&AuditKeyRecord::of(file, false, now))
                        .await?;
                }
                file.public.kid.clone()
            }
            (None, Some(a)) if a.seed.is_some() => return Ok(a.kid.clone()),
            (None, Some(a)) => {
                return Err(Error::Internal(format!(
                    "the active audit signing key ({}) is kept in a file, and this server was \
                     given none: pass the same --audit-signing-key-file, or make a new key in \
                     the database with `orgd audit rotate-key`",
                    a.kid
                )));
            }
            (None, None) => {
                let key = SigningKey::generate();
                tx.insert_audit_key(&AuditKeyRecord::of(&key, true, now))
                    .await?;
                key.public.kid.clone()
            }
        };
        tx.commit().await?;
        Ok(kid)
    }

    /// `orgd audit rotate-key`: retires the active key and makes a new one,
    /// kept in the database. Checkpoints signed before stay valid under the
    /// retired key, which `GET /audit/keys` keeps listing; servers sign with
    /// the new key from their next checkpoint.
    pub async fn rotate_audit_key(&self) -> Result<AuditKey> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_checkpoints().await?;
        for k in tx.audit_keys().await? {
            if k.retired_at.is_none() {
                tx.set_audit_key_retired(&k.kid, Some(now)).await?;
            }
        }
        let key = SigningKey::generate();
        let record = AuditKeyRecord::of(&key, true, now);
        tx.insert_audit_key(&record).await?;
        tx.commit().await?;
        Ok(record.view())
    }

    /// `GET /audit/keys`: every key that signed or signs checkpoints,
    /// oldest first. Public: anyone may check a signature.
    pub async fn audit_keys(&self) -> Result<Vec<AuditKey>> {
        let mut tx = self.store.read().await?;
        Ok(tx
            .audit_keys()
            .await?
            .iter()
            .map(AuditKeyRecord::view)
            .collect())
    }

    /// Builds, signs and stores a checkpoint over every org's chain head,
    /// unless no head moved since the latest one.
    pub async fn make_checkpoint(&self) -> Result<CheckpointMade> {
        let now = crate::time::truncate(self.now());
        let mut tx = self.store.read().await?;
        let latest = tx.latest_checkpoint().await?;
        // The leaf order is the org ids' bytes, whatever the database's.
        let heads = tx.audit_heads().await?.into_sorted();
        let changed = match &latest {
            None => Heads::default(),
            Some((position, c)) => {
                let before = self.tree_of(tx.as_mut(), *position, c).await?;
                let changes = before.leaves.compare(&heads);
                let mut broken = changes.broken;
                for (org, seq, leaf) in &changes.moved {
                    let id = OrgId::from_trusted(org.clone());
                    let holds = match chain_at(tx.as_mut(), &id, *seq).await? {
                        ChainAt::Hash(hash) => head_leaf(org, *seq, &hash) == *leaf,
                        ChainAt::PrunedPast => true,
                        ChainAt::Missing => false,
                    };
                    if !holds {
                        broken.push(org.clone());
                    }
                }
                if !broken.is_empty() {
                    broken.sort_unstable();
                    return Err(Error::Internal(format!(
                        "refusing to sign a checkpoint: the audit chains of {} org(s) no longer \
                         extend checkpoint {} (first: {}); the database was changed outside \
                         orgd. Run `orgd audit verify --all` and `orgd audit verify-checkpoints`",
                        broken.len(),
                        c.id,
                        broken[0]
                    )));
                }
                changes.changed
            }
        };
        drop(tx);
        if heads.is_empty() || (latest.is_some() && changed.is_empty()) {
            return Ok(CheckpointMade::Unchanged);
        }
        let leaves = LeafSet::new(&heads);
        // The first checkpoint stores every head.
        let changed = if latest.is_none() { heads } else { changed };
        let position = latest.as_ref().map_or(1, |(p, _)| p + 1);
        let mut checkpoint = Checkpoint {
            id: prefixed_ulid("ckpt"),
            created_at: now,
            tree_size: i64::try_from(leaves.size()).unwrap_or(i64::MAX),
            root_hash: hex::encode(leaves.root()),
            prev_id: latest.as_ref().map(|(_, c)| c.id.clone()),
            kid: String::new(),
            signature: String::new(),
        };

        let mut tx = self.store.begin().await?;
        tx.lock_checkpoints().await?;
        let now_latest = tx.latest_checkpoint().await?.map(|(p, _)| p);
        if now_latest != latest.as_ref().map(|(p, _)| *p) {
            return Ok(CheckpointMade::Raced);
        }
        let key = self.signing_key(tx.as_mut()).await?;
        checkpoint.kid = key.public.kid.clone();
        checkpoint.signature = key.sign(&checkpoint.signed_bytes());
        tx.insert_checkpoint(position, &checkpoint, &changed)
            .await?;
        tx.commit().await?;
        self.remember(Arc::new(Tree { position, leaves }));
        Ok(CheckpointMade::Made(checkpoint))
    }

    /// The active key, which signs: its seed from the database, or the
    /// file's key.
    pub(crate) async fn signing_key(&self, tx: &mut dyn Tx) -> Result<SigningKey> {
        let keys = tx.audit_keys().await?;
        let Some(active) = keys.iter().find(|k| k.retired_at.is_none()) else {
            return Err(Error::Internal(
                "no audit signing key is active; restart the server or run `orgd audit \
                 rotate-key`"
                    .into(),
            ));
        };
        if let Some(key) = active.signing_key() {
            return Ok(key);
        }
        match &self.audit.file_key {
            Some(file) if file.public.kid == active.kid => Ok(SigningKey::from_seed(&file.seed())),
            _ => Err(Error::Internal(format!(
                "the active audit signing key ({}) is kept in a file this server does not have",
                active.kid
            ))),
        }
    }

    /// The tree of checkpoint `position`: from memory, or rebuilt from its
    /// stored leaves and held to its signed root and its signature. Stored
    /// leaves or a checkpoint changed outside orgd are an
    /// [`ConflictKind::AuditChainInvalid`]: nothing may be proven, verified
    /// or signed against them.
    pub(crate) async fn tree_of(
        &self,
        tx: &mut dyn Tx,
        position: i64,
        c: &Checkpoint,
    ) -> Result<Arc<Tree>> {
        if let Some(t) = self.remembered()
            && t.position == position
        {
            return Ok(t);
        }
        if let Some((p, why)) = self.audit_broken()
            && p == position
        {
            return Err(tampered(why));
        }
        let signed = tx
            .audit_keys()
            .await?
            .iter()
            .filter_map(AuditKeyRecord::public)
            .any(|k| k.kid == c.kid && c.verify(&k));
        let heads = tx.checkpoint_leaves(position).await?.into_sorted();
        let leaves = LeafSet::new(&heads);
        let why = if !signed {
            format!(
                "checkpoint {} is not signed by an audit key orgd lists; run `orgd audit \
                 verify-checkpoints`",
                c.id
            )
        } else if hex::encode(leaves.root()) != c.root_hash
            || i64::try_from(leaves.size()).ok() != Some(c.tree_size)
        {
            format!(
                "the stored leaves of checkpoint {} do not match its signed root; run `orgd \
                 audit verify-checkpoints`",
                c.id
            )
        } else {
            String::new()
        };
        if !why.is_empty() {
            *self
                .audit
                .broken
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((position, why.clone()));
            return Err(tampered(why));
        }
        let tree = Arc::new(Tree { position, leaves });
        self.remember(tree.clone());
        Ok(tree)
    }

    /// The org's leaf in checkpoint `position`, held to the checkpoint's
    /// signed `tree` (from [`Orgd::tree_of`]; never the stored row alone:
    /// someone with the database could replace it), with its place in it.
    pub(crate) async fn proven_leaf(
        tx: &mut dyn Tx,
        tree: &Tree,
        position: i64,
        c: &Checkpoint,
        org: &OrgId,
    ) -> Result<Option<ProvenLeaf>> {
        let stored = tx.checkpoint_leaf(org, position).await?;
        let index = tree.leaves.index_of(org.as_str());
        match (stored, index) {
            (None, None) => Ok(None),
            (Some(head), Some(index)) if tree.leaves.leaf(index) == Some(&head.leaf_hash()) => {
                let path = tree.leaves.inclusion_path(index).ok_or_else(|| {
                    Error::Internal(format!("leaf {index} of checkpoint {} has no path", c.id))
                })?;
                Ok(Some(ProvenLeaf {
                    head,
                    index,
                    tree_size: tree.leaves.size(),
                    path,
                }))
            }
            _ => Err(tampered(format!(
                "the stored leaf of {org} in checkpoint {} is not the one its signed tree holds",
                c.id
            ))),
        }
    }

    /// What the org's chain is held to: the head the latest checkpoint
    /// signed for it, proven through the checkpoint's tree (see
    /// [`crate::audit::ChainVerifier::against`]).
    pub(crate) async fn chain_verifier(
        &self,
        tx: &mut dyn Tx,
        org: &OrgId,
    ) -> Result<ChainVerifier> {
        let Some((position, c)) = tx.latest_checkpoint().await? else {
            return Ok(ChainVerifier::default());
        };
        let proven = match self.tree_of(tx, position, &c).await {
            Ok(tree) => Self::proven_leaf(tx, &tree, position, &c, org).await,
            Err(e) => Err(e),
        };
        match proven {
            Ok(Some(ProvenLeaf { head, .. })) => Ok(ChainVerifier::against(Some(Checkpointed {
                checkpoint_id: c.id,
                seq: head.seq,
                hash: head.hash,
            }))),
            Ok(None) => Ok(ChainVerifier::default()),
            Err(Error::Conflict {
                kind: ConflictKind::AuditChainInvalid,
                detail,
            }) => {
                // Said once per checkpoint by whoever found it: every org's
                // verification meets the same.
                tracing::debug!(org = %org, "{detail}");
                Ok(ChainVerifier::against_unverifiable(c.id))
            }
            Err(e) => Err(e),
        }
    }

    fn audit_broken(&self) -> Option<(i64, String)> {
        self.audit
            .broken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn remembered(&self) -> Option<Arc<Tree>> {
        self.audit
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Keeps `tree` when it is the newest this node has seen.
    fn remember(&self, tree: Arc<Tree>) {
        let mut latest = self
            .audit
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if latest.as_ref().is_none_or(|t| t.position < tree.position) {
            *latest = Some(tree);
        }
    }

    /// `GET /audit/checkpoints`: every checkpoint after `after` (an id),
    /// oldest first. Root-org keys only: a checkpoint's size tells how many
    /// orgs there are.
    pub async fn checkpoints(
        &self,
        who: &Principal,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Checkpoint>> {
        who.require(Permission::Read)?;
        let mut tx = self.store.read().await?;
        let own = tx.org(&who.org_id).await?;
        if !own.is_some_and(|o| o.is_root()) {
            return Err(Error::Forbidden(
                "only keys of the root organization may list checkpoints".into(),
            ));
        }
        let after = match after {
            None => 0,
            Some(id) => {
                tx.checkpoint(id)
                    .await?
                    .ok_or_else(|| {
                        Error::Validation(vec![FieldError::new(
                            "after",
                            "no checkpoint has this id",
                        )])
                    })?
                    .0
            }
        };
        let rows = tx.checkpoints_after(after, limit + 1).await?;
        let page = paginate(rows, limit, |(_, c)| c.id.clone());
        Ok(Page {
            items: page.items.into_iter().map(|(_, c)| c).collect(),
            next: page.next,
        })
    }

    /// `GET /audit/checkpoints/latest`: any valid key may read it.
    pub async fn latest_checkpoint(&self) -> Result<Checkpoint> {
        let mut tx = self.store.read().await?;
        Ok(tx
            .latest_checkpoint()
            .await?
            .ok_or(Error::NotFound("checkpoint"))?
            .1)
    }

    /// `GET /orgs/{id}/audit/proof`: the org's leaf in a checkpoint (the
    /// latest by default) and its inclusion path, so the org can prove its
    /// head is in a signed checkpoint without seeing any other org's.
    pub async fn audit_proof(
        &self,
        who: &Principal,
        org_id: &str,
        checkpoint: Option<&str>,
    ) -> Result<InclusionProof> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let found = match checkpoint {
            Some(id) => tx.checkpoint(id).await?,
            None => tx.latest_checkpoint().await?,
        };
        let (position, c) = found.ok_or(Error::NotFound("checkpoint"))?;
        let tree = self.tree_of(tx.as_mut(), position, &c).await?;
        let proven = Self::proven_leaf(tx.as_mut(), &tree, position, &c, &org.id)
            .await?
            .ok_or(Error::NotFound(
                "audit head of this organization in the checkpoint",
            ))?;
        Ok(proven.proof(c))
    }
}

/// The database holds what orgd did not write.
pub(crate) fn tampered(detail: String) -> Error {
    Error::conflict(ConflictKind::AuditChainInvalid, detail)
}
