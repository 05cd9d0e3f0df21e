//! What a store keeps of access_log, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{AccessEntry, AccessEntryRef, AccessFilter};
use crate::error::StoreResult;
use crate::ids::OrgId;
use crate::page::PageRequest;

#[async_trait]
pub trait AccessLogRepo {
    /// Stores the entries whose org exists (tombstones included); entries
    /// naming no org are dropped. Returns how many were stored.
    async fn insert_access_entries(&mut self, entries: &[AccessEntryRef<'_>]) -> StoreResult<u64>;
    /// The org's entries, newest first; the page key is `(timestamp, position)`.
    async fn access_entries(
        &mut self,
        org: &OrgId,
        filter: &AccessFilter,
        page: &PageRequest<(DateTime<Utc>, i64)>,
    ) -> StoreResult<Vec<(i64, AccessEntry)>>;
    /// Looks at the `max_rows` entries written first and removes those older
    /// than `before`; returns how many. Retention follows write order, which
    /// is time order but for entries posted late or dated ahead, so that no
    /// index on time is paid for by every insert. Zero: nothing at the front
    /// of the log is old enough.
    async fn prune_access_log(&mut self, before: DateTime<Utc>, max_rows: u64) -> StoreResult<u64>;
}
