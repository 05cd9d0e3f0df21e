//! What a store keeps of idempotency, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;

/// A response kept to replay a retried POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key_id: String,
    pub idempotency_key: String,
    /// Digest of the method, path and body of the first request.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    /// `None` while the first request is still running.
    pub response: Option<StoredResponse>,
}

#[async_trait]
pub trait IdempotencyRepo {
    async fn idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Claims `(key_id, idempotency_key)`; fails with [`crate::error::StoreError::Conflict`]
    /// when a record for it exists.
    async fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()>;
    /// Stores the response of a claimed request.
    async fn complete_idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    async fn delete_idempotency(&mut self, key_id: &str, idempotency_key: &str) -> StoreResult<()>;
    /// Removes records created before `before`; returns how many.
    async fn prune_idempotency(&mut self, before: DateTime<Utc>) -> StoreResult<u64>;
}
