//! The embedded SQLite store: orgd's default, nothing to install.
//!
//! WAL mode with `synchronous = FULL`, so every acknowledged commit survives a
//! crash of the process and of the machine. SQLite has one writer at a time;
//! orgd gives it exactly one writer connection, and starts every write
//! transaction with `BEGIN IMMEDIATE` so a transaction that reads before it
//! writes can never fail to upgrade (another process, such as `orgd keys
//! create`, may hold the write lock; it waits up to the busy timeout). Reads
//! run on a separate pool of read-only connections and never wait for writers.

mod audit;
mod idempotency;
mod keys;
mod orgs;
mod resources;
mod tags;
mod traffic;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::store::{Store, StoreError, StoreResult, Tx};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `sqlite://path/to/file.db` (created when missing).
    pub url: String,
    /// Read connections; SQLite in WAL mode serves them concurrently.
    pub readers: u32,
    /// How long to wait for a connection or a lock before answering "unavailable".
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and runs pending migrations.
    pub async fn open(opts: &SqliteOptions) -> StoreResult<Self> {
        // Readers and the writer are separate connections; an in-memory
        // database would give each its own, empty, database.
        if opts.url.contains(":memory:") || opts.url.contains("mode=memory") {
            return Err(StoreError::Other(
                "in-memory SQLite is not supported: use a file (sqlite://PATH)".into(),
            ));
        }
        let base = SqliteConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(opts.busy_timeout);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.busy_timeout)
            .connect_with(base.clone())
            .await
            .map_err(map_err)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .acquire_timeout(opts.busy_timeout)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(map_err)?;
        Ok(Self { writer, readers })
    }

    async fn discard_stuck_writer(&self) {
        use sqlx::Connection as _;
        if let Ok(conn) = self.writer.acquire().await
            && conn.is_in_transaction()
        {
            tracing::warn!("replacing the SQLite writer connection left inside a transaction");
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "closing the stuck writer connection failed");
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = match self.writer.begin_with("BEGIN IMMEDIATE").await {
            // sqlx 0.8 checks that a custom BEGIN took effect after the
            // worker has run it; a caller cancelled in that window leaves the
            // pooled connection inside a transaction nobody owns, and every
            // later begin fails like this. Replace the connection (closing it
            // rolls its transaction back) and begin again.
            Err(sqlx::Error::InvalidSavePointStatement) => {
                self.discard_stuck_writer().await;
                self.writer.begin_with("BEGIN IMMEDIATE").await
            }
            other => other,
        }
        .map_err(map_err)?;
        Ok(Box::new(SqliteTx { tx }))
    }

    async fn read(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.readers.begin().await.map_err(map_err)?;
        Ok(Box::new(SqliteTx { tx }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

pub struct SqliteTx {
    tx: sqlx::Transaction<'static, Sqlite>,
}

#[async_trait]
impl Tx for SqliteTx {
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
        // SQLITE_BUSY / SQLITE_LOCKED: another writer held the lock past the timeout.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "6" | "517")) => {
            StoreError::Unavailable(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    orgd_core::time::format(t)
}

fn parse_ts(s: &str) -> StoreResult<DateTime<Utc>> {
    orgd_core::time::parse(s)
        .ok_or_else(|| StoreError::Other(format!("bad stored timestamp {s:?}")))
}

fn parse_opt_ts(s: Option<String>) -> StoreResult<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

fn parse_json(s: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("bad stored JSON: {e}")))
}

/// The page size as SQL wants it: one row more than asked, to see whether a
/// next page exists.
fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::Connection as _;

    use super::*;

    #[tokio::test]
    async fn a_writer_left_inside_a_transaction_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&SqliteOptions::new(url)).await.unwrap();

        // What a begin cancelled at the wrong moment leaves behind: the pooled
        // writer inside a transaction that no `Transaction` value owns.
        let mut conn = store.writer.acquire().await.unwrap();
        std::mem::forget(conn.begin().await.unwrap());
        assert!(conn.is_in_transaction());
        drop(conn);

        let tx = store.begin().await.expect("begin recovers");
        tx.commit().await.unwrap();
        let tx = store.begin().await.unwrap();
        tx.commit().await.unwrap();
    }
}
