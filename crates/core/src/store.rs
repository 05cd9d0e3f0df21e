//! The store traits. Each database implements them once; the rules live in
//! [`crate::service`], which opens a transaction, runs its logic against it and
//! commits, so a change and its audit event are one atomic unit on every store.
//!
//! Split per entity; every method takes the org it acts on. List methods
//! return up to `page.limit + 1` rows, so the caller knows whether a next page
//! exists.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::access::{AccessEntry, AccessEntryRef, AccessFilter};
use crate::audit::AuditEvent;
use crate::checkpoint::{AuditKeyRecord, Checkpoint, Head, Heads, PruneAnchor};
use crate::consumption::{MetricValue, Month};
use crate::events::{EventFilter, NewEvent};
use crate::ids::OrgId;
use crate::keys::KeyRecord;
use crate::org::OrgRecord;
use crate::page::PageRequest;
use crate::resources::{Resource, ResourceKind};
use crate::session::ConsoleSession;
use crate::tags::Tag;
use crate::webhooks::{DeliveryRecord, DeliveryStatus, WebhookRecord};

/// Connections a store keeps at most, unless told otherwise (PostgreSQL;
/// SQLite has one writer and a few readers).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
/// How long a unit waits for a connection or a lock, unless told otherwise,
/// before the store answers [`StoreError::Unavailable`].
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// How long a statement may run, unless told otherwise (PostgreSQL cancels it).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated (the store says which, for logs).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is too busy to answer in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database cannot hold a value the client sent (PostgreSQL refuses
    /// the NUL character in text and JSON): the request's fault, a 400.
    #[error("cannot be stored: {0}")]
    Unstorable(String),
    #[error("{0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How a command opens the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `orgd serve` and `orgd migrate`: create it when missing, then migrate.
    Create,
    /// Commands that write to a database that must exist (`orgd keys
    /// create`): never create one; migrate.
    Existing,
    /// Commands that only read (`orgd audit verify`, `orgd backup`): never
    /// create, migrate or write anything, so they work on a read-only copy.
    /// The schema must be current.
    ReadOnly,
}

/// A connection pool's state, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Which pool (`writer`, `readers`, `main`).
    pub pool: &'static str,
    pub in_use: u64,
    pub idle: u64,
    /// Transactions waiting for a connection now.
    pub waiting: u64,
    /// Transactions that found no free connection and had to wait, since start.
    pub waits_total: u64,
}

/// Counts the waits for a pool's connections. Pool crates report their size
/// and idle connections, not who waits for them; each store passes its
/// pool's state to [`WaitMeter::acquiring`] before it takes a connection.
#[derive(Debug, Default)]
pub struct WaitMeter {
    waiting: std::sync::atomic::AtomicU64,
    waits: std::sync::atomic::AtomicU64,
}

impl WaitMeter {
    /// Called as a connection is about to be taken from a pool holding
    /// `size` of at most `max` connections, `idle` of them free. When none is
    /// free and no new one may be opened, the caller waits: it is counted,
    /// and counted as waiting until the guard drops.
    pub fn acquiring(&self, idle: usize, size: u32, max: u32) -> Option<WaitGuard<'_>> {
        use std::sync::atomic::Ordering::Relaxed;
        if idle > 0 || size < max {
            return None;
        }
        self.waits.fetch_add(1, Relaxed);
        self.waiting.fetch_add(1, Relaxed);
        Some(WaitGuard(self))
    }

    /// `(waiting now, waits since start)`.
    pub fn read(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.waiting.load(Relaxed), self.waits.load(Relaxed))
    }
}

pub struct WaitGuard<'a>(&'a WaitMeter);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0
            .waiting
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_acquisition_with_nothing_free_is_a_wait() {
        let m = WaitMeter::default();
        assert!(m.acquiring(1, 4, 4).is_none());
        assert!(m.acquiring(0, 3, 4).is_none());
        let waiting = m.acquiring(0, 4, 4);
        assert_eq!(m.read(), (1, 1));
        drop(waiting);
        assert_eq!(m.read(), (0, 1));
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Opens a transaction that may write. Write transactions that touch the
    /// same org are serialised (see [`OrgRepo::lock_org`]).
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    /// Opens a read-only transaction: one consistent snapshot.
    async fn read(&self) -> StoreResult<Box<dyn Tx>>;
    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Waits for connections in use to come back, then closes them.
    async fn close(&self);
    /// The migrations this store applied when it was opened, as
    /// `VERSION description`, oldest first (empty when it was up to date).
    fn migrations_applied(&self) -> Vec<String> {
        Vec::new()
    }
    /// The state of each connection pool.
    fn pool_stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }
    /// From when it returns until the store closes, calls `sink` with every
    /// change other processes sharing the database publish
    /// ([`Tx::publish_invalidation`]). Whenever some may have been missed (a
    /// lost connection) it says [`Invalidation::All`]. Stores with one server
    /// process (SQLite) have nothing to watch.
    async fn watch_invalidations(&self, _sink: InvalidationSink) -> StoreResult<()> {
        Ok(())
    }
}

/// What a committed change makes stale in the caches of other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// The state of these orgs (their record, tags, keys).
    Orgs(Vec<OrgId>),
    /// Anything: a subtree moved or was deleted, or changes may have been missed.
    All,
}

pub type InvalidationSink = std::sync::Arc<dyn Fn(Invalidation) + Send + Sync>;

/// A unit of work. Dropped without [`Tx::commit`], it rolls back.
#[async_trait]
pub trait Tx:
    OrgRepo
    + TagRepo
    + KeyRepo
    + ResourceRepo
    + AuditRepo
    + IdempotencyRepo
    + AccessLogRepo
    + ConsumptionRepo
    + EventRepo
    + WebhookRepo
    + CheckpointRepo
    + SessionRepo
    + Send
{
    async fn commit(self: Box<Self>) -> StoreResult<()>;
    /// Tells the other nodes sharing the database, when this transaction
    /// commits (and only then), what it made stale.
    async fn publish_invalidation(&mut self, _what: &Invalidation) -> StoreResult<()> {
        Ok(())
    }
}

/// Which live orgs a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgQuery {
    /// Only orgs in the subtree rooted at this path.
    pub subtree_of: String,
    /// Whether the subtree's own root is included.
    pub include_root: bool,
    pub parent_id: Option<OrgId>,
    pub name_prefix: Option<String>,
    /// Only orgs carrying every one of these tag names.
    pub tags: Vec<String>,
}

#[async_trait]
pub trait OrgRepo {
    /// An org by id, tombstones included.
    async fn org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>>;
    /// Like [`OrgRepo::org`], and holds the org's lock until the transaction
    /// ends. Every change to an org's state or audit chain takes it first.
    async fn lock_org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>>;
    /// The root org, if the database has been bootstrapped.
    async fn root_org(&mut self) -> StoreResult<Option<OrgRecord>>;
    /// Fails with [`StoreError::Conflict`] when the id was ever used.
    async fn insert_org(&mut self, org: &OrgRecord) -> StoreResult<()>;
    /// Writes every field of an existing org.
    async fn update_org(&mut self, org: &OrgRecord) -> StoreResult<()>;
    /// Rewrites the paths and depths of every org (tombstones too) under
    /// `old_path`, the subtree's root included, to lie under `new_path`.
    async fn move_subtree(&mut self, old_path: &str, new_path: &str) -> StoreResult<()>;
    /// Live orgs matching `q`, ordered by id.
    async fn list_orgs(
        &mut self,
        q: &OrgQuery,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<OrgRecord>>;
    async fn count_live_children(&mut self, id: &OrgId) -> StoreResult<i64>;
    /// The largest depth of a live org in the subtree rooted at `path`.
    async fn max_depth_in_subtree(&mut self, path: &str) -> StoreResult<i64>;
    /// Every live org in the subtree rooted at `path`, deepest first, locked
    /// against concurrent writes until the transaction ends (a cascading
    /// delete rewrites them all): call it in a write transaction.
    async fn live_subtree(&mut self, path: &str) -> StoreResult<Vec<OrgRecord>>;
    /// The orgs with these ids (tombstones included), in no particular order.
    async fn orgs_by_ids(&mut self, ids: &[OrgId]) -> StoreResult<Vec<OrgRecord>>;
    /// The id of every org that ever existed (tombstones included), ordered
    /// by id bytewise: what `orgd audit verify --all` walks.
    async fn all_org_ids(&mut self) -> StoreResult<Vec<OrgId>>;
    /// The id and path of the org at `path` and of every org beneath it,
    /// tombstones included, ordered by id bytewise.
    async fn subtree_orgs(&mut self, path: &str) -> StoreResult<Vec<(OrgId, String)>>;
    /// The orgs (tombstones included) whose configs set a key starting
    /// with `audit.`: what the audit retention is decided from.
    async fn orgs_with_audit_configs(&mut self) -> StoreResult<Vec<OrgRecord>>;
    /// Orders changes to the tree's shape, before any org lock is taken:
    /// moves and cascading deletes take it exclusively, creating an org takes
    /// it shared. Org locks alone cannot stop two crossing moves from making
    /// a cycle, or a new child from landing under a subtree being deleted.
    /// A store whose write transactions never overlap (SQLite's single
    /// writer) needs nothing here.
    async fn lock_tree(&mut self, _exclusive: bool) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
pub trait TagRepo {
    /// Fails with [`StoreError::Conflict`] when the org has a tag of that name.
    async fn insert_tag(&mut self, org: &OrgId, tag: &Tag) -> StoreResult<()>;
    /// Returns the removed tag, if the org had it.
    async fn delete_tag(&mut self, org: &OrgId, tag_id: &str) -> StoreResult<Option<Tag>>;
}

#[async_trait]
pub trait KeyRepo {
    /// Fails with [`StoreError::Conflict`] on a duplicate id or digest.
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

/// The browser console's sessions, each held by the SHA-256 of its id and
/// the digest of the key it signed in with (no foreign key: the key is
/// resolved again on every request).
#[async_trait]
pub trait SessionRepo {
    /// Fails with [`StoreError::Conflict`] on a duplicate id_hash.
    async fn insert_session(&mut self, session: &ConsoleSession) -> StoreResult<()>;
    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<ConsoleSession>>;
    /// Sets last_seen_at (no error if the session is gone).
    async fn touch_session(&mut self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Whether there was such a session.
    async fn delete_session(&mut self, id_hash: &str) -> StoreResult<bool>;
    /// Deletes at most `limit` sessions whose last_seen_at is before `before`; returns how many.
    async fn delete_sessions_idle_since(
        &mut self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize>;
    /// Deletes every session signed in with this key digest (a key's revocation); returns how many.
    async fn delete_sessions_of_key(&mut self, key_digest: &str) -> StoreResult<usize>;
}

/// The registries of limited resources. Limits are enforced by the service:
/// it takes the org's lock ([`OrgRepo::lock_org`]), counts, and inserts in
/// one transaction, so a store whose lock serialises those transactions
/// enforces every limit exactly.
#[async_trait]
pub trait ResourceRepo {
    /// Fails with [`StoreError::Conflict`] when the org has an item of this
    /// kind with the same name (or id).
    async fn insert_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        item: &Resource,
    ) -> StoreResult<()>;
    async fn resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>>;
    /// The org's items of this kind, ordered by id.
    async fn list_resources(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<Resource>>;
    /// Returns the removed item, if the org had it.
    async fn delete_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>>;
    async fn count_resources(&mut self, org: &OrgId, kind: ResourceKind) -> StoreResult<i64>;
    /// Removes every item of every kind the org holds (it is being deleted);
    /// returns how many.
    async fn delete_org_resources(&mut self, org: &OrgId) -> StoreResult<u64>;
}

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
    async fn insert_event(&mut self, event: &AuditEvent) -> StoreResult<()>;
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

/// The audit trail's signing keys and signed checkpoints (SPEC §12; the
/// rules are in `service::checkpoints`).
#[async_trait]
pub trait CheckpointRepo {
    /// Every signing key, oldest first.
    async fn audit_keys(&mut self) -> StoreResult<Vec<AuditKeyRecord>>;
    /// Fails with [`StoreError::Conflict`] when the kid is stored already,
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
    /// Fails with [`StoreError::Conflict`] when the position is taken.
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

/// The outbox of events (see [`crate::events`]).
#[async_trait]
pub trait EventRepo {
    /// Stores events, each given the next position of the one global order.
    /// Positions become visible in the order they are given: a reader that
    /// has seen position N never later sees a new event below N. A store may
    /// write them as the transaction commits (SQLite does, see its
    /// `writer.rs`), so reads in the same transaction need not see them.
    async fn insert_events(&mut self, events: Vec<NewEvent>) -> StoreResult<()>;
    /// Up to `limit` events of `filter` after position `after`, oldest
    /// first, each with its position and its JSON as stored.
    async fn events_after(
        &mut self,
        filter: &EventFilter,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>>;
    /// Deletes up to `limit` of the oldest events that happened before
    /// `before`; returns how many went.
    async fn prune_events(&mut self, before: DateTime<Utc>, limit: usize) -> StoreResult<u64>;
    /// The newest event's position; 0 when there is none.
    async fn last_event_position(&mut self) -> StoreResult<i64>;
    /// The position of the first event that happened at or after `t`.
    async fn first_event_since(&mut self, t: DateTime<Utc>) -> StoreResult<Option<i64>>;
}

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

#[async_trait]
pub trait IdempotencyRepo {
    async fn idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Claims `(key_id, idempotency_key)`; fails with [`StoreError::Conflict`]
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

/// An amount to add to one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    pub org_id: String,
    pub month: Month,
    pub metric: String,
    pub amount: i64,
}

/// One org's value of one metric in a month, with the org's place in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRow {
    pub org_id: OrgId,
    pub path: String,
    pub metric: String,
    pub value: MetricValue,
}

/// A gauge's `(current, peak)` in a month, before and after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaugeChange {
    pub before: (i64, i64),
    pub after: (i64, i64),
}

/// One subtree gauge row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaugeRow {
    pub gauge: String,
    pub month: Month,
    pub current: i64,
    pub peak: i64,
}

#[async_trait]
pub trait ConsumptionRepo {
    /// Adds to the counters of orgs that exist; deltas naming no org are dropped.
    async fn add_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()>;
    /// Remembers a usage event's idempotency key; `false` when the org had it already.
    async fn claim_usage_key(
        &mut self,
        org: &OrgId,
        key: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Forgets usage keys claimed before `before`; returns how many.
    async fn prune_usage_keys(&mut self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Sets a gauge's current value in `month`; the month's peak keeps the
    /// maximum (a month's first value starts from the one carried in).
    /// Returns the org's `(current, peak)` for the month before and after.
    async fn set_gauge(
        &mut self,
        org: &OrgId,
        month: Month,
        gauge: &str,
        current: i64,
    ) -> StoreResult<GaugeChange>;
    /// Roll-ups (kept by the service, see `service::rollups`): adds each
    /// delta to the subtree counter of its org, creating it at 0. No org
    /// check: the service passes ancestors of orgs that exist.
    async fn add_subtree_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()>;
    /// Every subtree counter of the org, all months.
    async fn subtree_counter_rows(&mut self, org: &OrgId) -> StoreResult<Vec<CounterDelta>>;
    /// Creates the org's subtree gauge row for `month`, when missing, from
    /// the current of its latest earlier row (`(c, c)`, or zeros).
    async fn seed_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
    ) -> StoreResult<()>;
    /// Adds to an existing subtree gauge row.
    async fn add_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
        current: i64,
        peak: i64,
    ) -> StoreResult<()>;
    /// Every subtree gauge row of the org, all gauges and months, by gauge
    /// then month.
    async fn subtree_gauge_rows(&mut self, org: &OrgId) -> StoreResult<Vec<GaugeRow>>;
    /// The roll-ups in `month` of the org (`children: false`) or of each of
    /// its direct children, tombstones included (`children: true`): counters
    /// of the month, and each gauge's row of the month, else the latest
    /// before it carried as `(current, current)`.
    async fn rollups(
        &mut self,
        org: &OrgId,
        children: bool,
        month: Month,
    ) -> StoreResult<Vec<(OrgId, String, MetricValue)>>;
    /// Counters and gauges in `month` of the org at `path`, and with
    /// `subtree` of every org beneath it (tombstones included). A gauge not
    /// set during the month carries the last value set before it, as both
    /// `current` and `peak`.
    async fn month_metrics(
        &mut self,
        path: &str,
        subtree: bool,
        month: Month,
    ) -> StoreResult<Vec<MetricRow>>;
}
