//! What a store keeps of api_keys, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::KeyRecord;
use crate::error::StoreResult;
use crate::ids::OrgId;
use crate::orgs::OrgRecord;
use crate::page::PageRequest;

#[async_trait]
pub trait KeyRepo {
    /// Fails with [`crate::error::StoreError::Conflict`] on a duplicate id or digest.
    async fn insert_key(&mut self, key: &KeyRecord) -> StoreResult<()>;
    async fn key(&mut self, org: &OrgId, id: &str) -> StoreResult<Option<KeyRecord>>;
    /// The key with this digest, whatever its state, and its org without its
    /// tags: this is every request's authentication, and only the org's
    /// state matters to it.
    async fn key_by_digest(&mut self, digest: &str) -> StoreResult<Option<(KeyRecord, OrgRecord)>>;
    /// Keys of `org` that are not revoked, ordered by id.
    async fn list_keys(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<KeyRecord>>;
    async fn revoke_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Keys of `org` neither revoked nor expired at `now`.
    async fn count_live_keys(&mut self, org: &OrgId, now: DateTime<Utc>) -> StoreResult<i64>;
    async fn touch_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
}
