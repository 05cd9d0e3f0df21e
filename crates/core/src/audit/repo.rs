//! What a store keeps of audit, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::AuditEvent;
use crate::checkpoints::PruneAnchor;
use crate::error::StoreResult;
use crate::ids::OrgId;
use crate::page::PageRequest;

/// Filters of audit listings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub action: Option<String>,
    pub key_id: Option<String>,
    pub org_id: Option<OrgId>,
}

#[async_trait]
pub trait AuditRepo {
    /// `(seq, hash)` of the org's newest event.
    async fn audit_head(&mut self, org: &OrgId) -> StoreResult<Option<(i64, String)>>;
    async fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()>;
    /// The org's own events, newest first; the page key is `seq`.
    async fn org_events(
        &mut self,
        org: &OrgId,
        filter: &AuditFilter,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Events of every strict descendant of the org at `path`, tombstones
    /// included, newest first. Each comes with its position in the store's
    /// global order, which is the page key.
    async fn subtree_events(
        &mut self,
        path: &str,
        filter: &AuditFilter,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<(i64, AuditEvent)>>;
    /// The org's prune anchor, when its chain was pruned.
    async fn audit_anchor(&mut self, org: &OrgId) -> StoreResult<Option<PruneAnchor>>;
    /// Up to `limit` of the org's oldest events, as `(seq, hash,
    /// timestamp)`, oldest first.
    async fn oldest_audit_events(
        &mut self,
        org: &OrgId,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String, DateTime<Utc>)>>;
    /// Removes the org's events up to `anchor.seq` and keeps `anchor` in
    /// place of the org's earlier one; returns how many events went.
    async fn prune_audit_events(&mut self, anchor: &PruneAnchor) -> StoreResult<u64>;
    /// The org's events with `seq > after_seq`, oldest first, as stored.
    async fn chain_events(
        &mut self,
        org: &OrgId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>>;
}
