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

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::store::{OpenMode, PoolStats, Store, StoreError, StoreResult, Tx, WaitMeter};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `sqlite://path/to/file.db`.
    pub url: String,
    /// Read connections; SQLite in WAL mode serves them concurrently.
    pub readers: u32,
    /// How long to wait for a connection or a lock before answering "unavailable".
    pub busy_timeout: Duration,
    pub mode: OpenMode,
}

impl SqliteOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            mode: OpenMode::Create,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    applied: Vec<String>,
    writer_waits: std::sync::Arc<WaitMeter>,
    reader_waits: std::sync::Arc<WaitMeter>,
}

impl SqliteStore {
    /// Opens the database as `opts.mode` says: creating it when missing and
    /// migrating it, or read-only (see [`OpenMode::ReadOnly`]).
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
            .foreign_keys(true)
            .busy_timeout(opts.busy_timeout);
        let path = base.get_filename().to_owned();
        let opened = match opts.mode {
            OpenMode::ReadOnly => Self::open_read_only(base, &path, opts).await,
            OpenMode::Create | OpenMode::Existing => Self::open_writable(base, opts).await,
        };
        opened.map_err(|e| open_error(&path, opts.mode, e))
    }

    async fn open_writable(base: SqliteConnectOptions, opts: &SqliteOptions) -> StoreResult<Self> {
        let base = base
            .create_if_missing(opts.mode == OpenMode::Create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.busy_timeout)
            .connect_with(base.clone())
            .await
            .map_err(map_err)?;
        let before = applied_versions(&writer).await?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let applied = MIGRATOR
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        let readers = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .acquire_timeout(opts.busy_timeout)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(map_err)?;
        Ok(Self::new(writer, readers, applied))
    }

    /// Read-only: nothing is created, migrated or written. A database with a
    /// write-ahead log (one a server has open, or left after a crash) is read
    /// through it; one without is opened `immutable`, which needs no `-shm`
    /// file beside it and so works in a read-only directory. Both pools are
    /// read-only; writes fail.
    async fn open_read_only(
        base: SqliteConnectOptions,
        path: &Path,
        opts: &SqliteOptions,
    ) -> StoreResult<Self> {
        // A missing file fails to open (read-only never creates), and
        // `open_error` says so.
        let has_wal = std::fs::metadata(wal_path(path)).is_ok_and(|m| m.len() > 0);
        let base = base.read_only(true).immutable(!has_wal);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .acquire_timeout(opts.busy_timeout)
            .connect_with(base)
            .await
            .map_err(map_err)?;
        let applied = applied_versions(&pool).await?;
        if applied.is_empty() {
            return Err(StoreError::Other(
                "it is not an orgd database (it has no orgd schema)".into(),
            ));
        }
        if MIGRATOR.iter().any(|m| !applied.contains(&m.version)) {
            return Err(StoreError::Other(
                "its schema is older than this orgd: run `orgd migrate` on it first".into(),
            ));
        }
        Ok(Self::new(pool.clone(), pool, Vec::new()))
    }

    fn new(writer: SqlitePool, readers: SqlitePool, applied: Vec<String>) -> Self {
        Self {
            writer,
            readers,
            applied,
            writer_waits: Default::default(),
            reader_waits: Default::default(),
        }
    }

    /// Writes a consistent copy of the database to `dest` (`VACUUM INTO`,
    /// which reads one snapshot and does not block writers), made durable
    /// before it takes its name: a crash leaves `dest` whole or absent.
    pub async fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        if dest.exists() {
            return Err(StoreError::Other(format!(
                "{} exists already; orgd backup never overwrites a file",
                dest.display()
            )));
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::Other(format!(
                "the directory {} does not exist; create it first",
                dir.display()
            )));
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        let target = partial
            .to_str()
            .ok_or_else(|| StoreError::Other("the backup path is not valid UTF-8".into()))?;
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.writer)
            .await
            .map_err(map_err);
        let durable = copied.and_then(|_| {
            let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
            sync(&partial)
                .and_then(|()| std::fs::rename(&partial, dest))
                .and_then(|()| sync(&dir))
                .map_err(|e| StoreError::Other(format!("writing {}: {e}", dest.display())))
        });
        if durable.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        durable
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

fn waiting<'a>(pool: &SqlitePool, meter: &'a WaitMeter) -> Option<orgd_core::store::WaitGuard<'a>> {
    meter.acquiring(
        pool.num_idle(),
        pool.size(),
        pool.options().get_max_connections(),
    )
}

/// Versions of the migrations applied to the database (none on a new one).
async fn applied_versions(pool: &SqlitePool) -> StoreResult<Vec<i64>> {
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(pool)
    .await
    .map_err(map_err)?;
    if !has_table {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

/// Turns a failure to open `path` into one sentence naming the path and the
/// likely fix: SQLite itself says only "unable to open database file".
fn open_error(path: &Path, mode: OpenMode, e: StoreError) -> StoreError {
    let shown = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let why = if !dir.is_dir() {
        format!(
            "the directory {} does not exist; create it (mkdir -p {}) or point --database-url elsewhere",
            dir.display(),
            dir.display()
        )
    } else if !path.exists() && mode != OpenMode::Create {
        format!(
            "there is no database at {shown}; start `orgd serve` once to create it, or check --database-url"
        )
    } else if mode != OpenMode::ReadOnly
        && path.exists()
        && std::fs::OpenOptions::new().write(true).open(path).is_err()
    {
        format!(
            "{shown} is read-only for this user; orgd writes to it (make it writable, e.g. chmod u+w {shown}, \
             or run orgd as its owner; `orgd audit verify` and `orgd backup` work on a read-only copy)"
        )
    } else if mode != OpenMode::ReadOnly && is_read_only_dir(&dir) {
        format!(
            "the directory {} is not writable for this user; SQLite keeps its -wal and -shm files \
             beside the database, so orgd needs to write there",
            dir.display()
        )
    } else {
        match e {
            StoreError::Other(why) | StoreError::Unavailable(why) => why,
            e => e.to_string(),
        }
    };
    StoreError::Other(format!("cannot open the SQLite database {shown}: {why}"))
}

/// Whether a file can be made in `dir` (checked by making one).
fn is_read_only_dir(dir: &Path) -> bool {
    let probe = dir.join(format!(".orgd-write-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(_) => true,
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let _waiting = waiting(&self.writer, &self.writer_waits);
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
        let _waiting = waiting(&self.readers, &self.reader_waits);
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

    fn migrations_applied(&self) -> Vec<String> {
        self.applied.clone()
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        [
            ("writer", &self.writer, &self.writer_waits),
            ("readers", &self.readers, &self.reader_waits),
        ]
        .into_iter()
        .map(|(name, pool, meter)| {
            let idle = pool.num_idle() as u64;
            let (waiting, waits_total) = meter.read();
            PoolStats {
                pool: name,
                in_use: u64::from(pool.size()).saturating_sub(idle),
                idle,
                waiting,
                waits_total,
            }
        })
        .collect()
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
