//! What a store keeps of webhooks, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{DeliveryRecord, DeliveryStatus, WebhookRecord};
use crate::error::StoreResult;
use crate::ids::OrgId;
use crate::page::PageRequest;

/// Webhook endpoints and their queue of deliveries.
#[async_trait]
pub trait WebhookRepo {
    async fn insert_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()>;
    /// Every field but `id`, `org_id` and `created_at`.
    async fn update_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()>;
    /// The endpoint, whatever its org: callers check it is the org's.
    async fn webhook_by_id(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>>;
    /// The endpoint, locked until the transaction ends: what every
    /// read-modify-write of an endpoint reads, so none overwrites another.
    async fn lock_webhook(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>>;
    /// Ordered by id.
    async fn list_webhooks(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<WebhookRecord>>;
    /// Removes the endpoint and its deliveries; `false` when there was none.
    async fn delete_webhook(&mut self, org: &OrgId, id: &str) -> StoreResult<bool>;
    /// Up to `limit` enabled endpoints of live orgs whose cursor is behind
    /// the newest event, locked until the transaction ends; an endpoint
    /// another transaction holds is skipped (PostgreSQL: `SKIP LOCKED`).
    async fn webhooks_behind(&mut self, limit: usize) -> StoreResult<Vec<WebhookRecord>>;
    /// Whether any enabled endpoint is behind the newest event, without
    /// locking: a cheap look, in a read transaction, before queuing.
    async fn any_webhook_behind(&mut self) -> StoreResult<bool>;
    /// Queues deliveries; each one's `seq` is given by the store, in order.
    async fn insert_deliveries(&mut self, ds: &[DeliveryRecord]) -> StoreResult<()>;
    /// Leases up to `limit` deliveries due at `now` until `lease_until`:
    /// pending, not leased (or their lease expired), of enabled endpoints of
    /// live orgs, and each the first pending one of its endpoint and org, so
    /// that an endpoint receives an org's events in order. Deliveries
    /// another transaction is leasing are skipped.
    async fn claim_deliveries(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Whether any pending delivery is due at `now` (leased or not): a
    /// cheap look, in a read transaction, before claiming.
    async fn any_due_delivery(&mut self, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn delivery(&mut self, webhook_id: &str, id: &str)
    -> StoreResult<Option<DeliveryRecord>>;
    /// Its state: status, attempts, times, lease and last answer.
    async fn update_delivery(&mut self, d: &DeliveryRecord) -> StoreResult<()>;
    /// Newest first (by `seq`), after the page's `seq`.
    async fn list_deliveries(
        &mut self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// When the oldest pending delivery of an enabled endpoint of a live org
    /// was queued.
    async fn oldest_pending_delivery(&mut self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Removes up to `limit` finished deliveries queued before `before`.
    async fn prune_deliveries(&mut self, before: DateTime<Utc>, limit: usize) -> StoreResult<u64>;
}
