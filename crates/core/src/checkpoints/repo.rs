//! What a store keeps of checkpoints, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Checkpoint, Head, Heads};
use super::signing_keys::AuditKeyRecord;
use crate::error::StoreResult;
use crate::ids::OrgId;

/// The audit trail's signing keys and signed checkpoints (SPEC §12; the
/// rules are in `checkpoints/service.rs`).
#[async_trait]
pub trait CheckpointRepo {
    /// Every signing key, oldest first.
    async fn audit_keys(&mut self) -> StoreResult<Vec<AuditKeyRecord>>;
    /// Fails with [`crate::error::StoreError::Conflict`] when the kid is stored already,
    /// or when the key is active and another one is too.
    async fn insert_audit_key(&mut self, key: &AuditKeyRecord) -> StoreResult<()>;
    /// Sets or clears a key's `retired_at`.
    async fn set_audit_key_retired(
        &mut self,
        kid: &str,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// Orders checkpoints and key changes between the nodes sharing the
    /// database, until the transaction ends. A store whose write
    /// transactions never overlap (SQLite) needs nothing here.
    async fn lock_checkpoints(&mut self) -> StoreResult<()> {
        Ok(())
    }
    /// Every org's chain head, ordered by org id bytewise: its newest event,
    /// or, when pruning removed them all, its prune anchor.
    async fn audit_heads(&mut self) -> StoreResult<Heads>;
    /// The hash of the org's event `seq`, if it is stored.
    async fn audit_event_hash(&mut self, org: &OrgId, seq: i64) -> StoreResult<Option<String>>;
    /// The newest checkpoint, with its position (1, 2, …).
    async fn latest_checkpoint(&mut self) -> StoreResult<Option<(i64, Checkpoint)>>;
    /// The checkpoint with this id, with its position.
    async fn checkpoint(&mut self, id: &str) -> StoreResult<Option<(i64, Checkpoint)>>;
    /// The first checkpoint made at or after `at`, with its position: the
    /// one an export that ends at `at` is held to.
    async fn first_checkpoint_since(
        &mut self,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(i64, Checkpoint)>>;
    /// Up to `limit` checkpoints after position `after`, oldest first.
    async fn checkpoints_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Checkpoint)>>;
    /// Stores checkpoint `position` and its leaves that are new or changed
    /// since the checkpoint before (the rest it shares with that one).
    /// Fails with [`crate::error::StoreError::Conflict`] when the position is taken.
    async fn insert_checkpoint(
        &mut self,
        position: i64,
        checkpoint: &Checkpoint,
        changed: &Heads,
    ) -> StoreResult<()>;
    /// The leaves checkpoint `position` stored of itself: the heads that
    /// were new or had moved since the checkpoint before.
    async fn checkpoint_changes(&mut self, position: i64) -> StoreResult<Heads>;
    /// Every leaf of checkpoint `position`, ordered by org id bytewise.
    async fn checkpoint_leaves(&mut self, position: i64) -> StoreResult<Heads>;
    /// The org's leaf in checkpoint `position`, if it has one.
    async fn checkpoint_leaf(&mut self, org: &OrgId, position: i64) -> StoreResult<Option<Head>>;
}
