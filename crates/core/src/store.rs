//! The store: a database as the domain sees it. [`Store`] opens units of
//! work; [`Tx`] composes the repository traits, each declared beside the
//! resource it keeps (`orgs/repo.rs`, `api_keys/repo.rs`, …) and re-exported
//! here, so a store implementation finds in this one file all it must
//! implement. Each database implements them once; the rules live in the
//! resources' operations on [`crate::service::Orgd`], which open a
//! transaction, run their logic against it and commit, so a change and its
//! audit event are one atomic unit on every store.
//!
//! Every repository method takes the org it acts on. List methods return up
//! to `page.limit + 1` rows, so the caller knows whether a next page exists.

use std::time::Duration;

use async_trait::async_trait;

pub use crate::access_log::AccessLogRepo;
pub use crate::api_keys::KeyRepo;
pub use crate::audit::{AuditFilter, AuditRepo};
pub use crate::checkpoints::CheckpointRepo;
pub use crate::consumption::{ConsumptionRepo, CounterDelta, GaugeChange, GaugeRow, MetricRow};
pub use crate::error::{StoreError, StoreResult};
pub use crate::events::EventRepo;
pub use crate::idempotency::{IdempotencyRecord, IdempotencyRepo, StoredResponse};
use crate::ids::OrgId;
pub use crate::orgs::{OrgQuery, OrgRepo};
pub use crate::registries::ResourceRepo;
pub use crate::sessions::SessionRepo;
pub use crate::tags::TagRepo;
pub use crate::webhooks::WebhookRepo;

/// Connections a store keeps at most, unless told otherwise (PostgreSQL;
/// SQLite has one writer and a few readers).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
/// How long a unit waits for a connection or a lock, unless told otherwise,
/// before the store answers [`StoreError::Unavailable`].
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// How long a statement may run, unless told otherwise (PostgreSQL cancels it).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

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
