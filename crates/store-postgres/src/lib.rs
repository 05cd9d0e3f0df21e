//! The PostgreSQL store: several orgd nodes on one database.
//!
//! Write transactions run at READ COMMITTED and serialise on row locks:
//! every change to an org takes its row lock first ([`OrgRepo::lock_org`] is
//! `SELECT … FOR UPDATE`), which orders the org's audit chain and makes each
//! limit check exact across nodes. Reads run in REPEATABLE READ READ ONLY
//! transactions, so one request sees one snapshot. Statements that may meet a
//! duplicate use `ON CONFLICT DO NOTHING` rather than failing: in PostgreSQL a
//! failed statement aborts the whole transaction, and some callers go on
//! after a conflict.
//!
//! [`OrgRepo::lock_org`]: orgd_core::store::OrgRepo::lock_org

mod audit;
mod idempotency;
mod keys;
mod orgs;
mod resources;
mod tags;
#[cfg(feature = "testing")]
pub mod testing;
mod traffic;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use orgd_core::store::{Store, StoreError, StoreResult, Tx};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

/// The migrations. Ones applied by a newer orgd are ignored rather than
/// refused, so that during a rolling upgrade an older node can still start
/// (orgd's migrations are additive within a minor version).
fn migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.set_ignore_missing(true);
    m
}

#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/database`.
    pub url: String,
    /// Connections this node keeps at most.
    pub max_connections: u32,
    /// How long a request waits for a free connection (or a new one) before
    /// answering "unavailable".
    pub acquire_timeout: Duration,
    /// The server cancels any statement running longer than this.
    pub statement_timeout: Duration,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and runs pending migrations. Nodes starting together are
    /// safe: the migrator holds an advisory lock while it runs.
    pub async fn open(opts: &PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("orgd")
            .options([(
                "statement_timeout",
                format!("{}ms", opts.statement_timeout.as_millis()),
            )]);
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(PgTx { tx }))
    }

    async fn read(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(map_err)?;
        Ok(Box::new(PgTx { tx }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

pub struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(map_err)
    }
}

/// Sorts sqlx errors into the store's kinds.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        // Class 08 (connection), 40001/40P01 (serialization, deadlock: retry),
        // 53 (insufficient resources), 57P01–57P03 (shutdown, cannot connect
        // now), 57014 (statement timeout).
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| {
                c.starts_with("08")
                    || c.starts_with("53")
                    || matches!(
                        &*c,
                        "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "57014"
                    )
            }) =>
        {
            StoreError::Unavailable(db.message().to_owned())
        }
        // 22021 (character not in repertoire: NUL in text), 22P05
        // (untranslatable character: \u0000 in JSONB).
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| matches!(&*c, "22021" | "22P05")) =>
        {
            StoreError::Unstorable(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

fn parse_json(s: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("bad stored JSON: {e}")))
}

/// The page size as SQL wants it: one row more than asked, to see whether a
/// next page exists.
fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
}
