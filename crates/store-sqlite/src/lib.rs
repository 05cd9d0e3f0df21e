//! The embedded SQLite store: orgd's default, nothing to install.
//!
//! SQLite is called directly, on the thread of the task that asks: a
//! statement is a function call on a prepared, cached statement, not a
//! message to a connection's own thread and back (one such round trip per
//! statement had the machine spending most of its time waking threads).
//!
//! WAL mode with `synchronous = FULL`, so every acknowledged commit survives a
//! crash of the process and of the machine. Reads run on a small pool of
//! `query_only` connections, each read transaction one snapshot, and never
//! wait for the writer.
//!
//! SQLite has one writer at a time, and each commit costs an fsync. orgd
//! keeps one writer connection and commits in groups (`writer.rs`): a write
//! transaction is a savepoint inside a shared batch transaction, so units
//! that queue up behind each other share one COMMIT, and a unit that fails
//! or is dropped rolls back to its savepoint alone. `commit` returns only
//! once the batch's COMMIT has returned, so nothing is acknowledged before
//! it is durable.
//!
//! What can wait on the disk or on another process runs in `spawn_blocking`
//! instead of stalling an async worker thread: the COMMIT (its fsync), and
//! `BEGIN IMMEDIATE` when another process holds the write lock. That task
//! owns the writer, so a request cancelled meanwhile (a client hanging up)
//! can neither interrupt the COMMIT nor leave the connection inside a
//! transaction. Everything else a unit does to the connection is synchronous
//! and runs from `Drop` when the unit is abandoned: there is no await point
//! at which a cancelled request could leave the writer in an unknown state.

mod access_blocks;
mod api_keys;
mod audit;
mod checkpoints;
mod error;
mod events;
mod idempotency;
mod open;
mod orgs;
mod readers;
mod registries;
mod sessions;
mod sql;
mod tags;
mod traffic;
mod webhooks;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orgd_core::store::{OpenMode, PoolStats, Store, StoreError, StoreResult, Tx};
use rusqlite::Connection;

use crate::error::Error;
use crate::open::{Location, Opener, open_error};
use crate::readers::{ReadUnit, Readers};
use crate::writer::{WriteUnit, Writer};

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
            busy_timeout: orgd_core::store::DEFAULT_WAIT,
            mode: OpenMode::Create,
        }
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    /// `None` when opened read-only: write transactions then run on the
    /// read-only connections, and their writes fail.
    writer: Option<Arc<Writer>>,
    readers: Arc<Readers>,
    applied: Vec<String>,
    path: PathBuf,
    /// How `backup_to` opens its own connection.
    opener: Opener,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.writer.is_none())
            .finish_non_exhaustive()
    }
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
        let loc = Location::parse(&opts.url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?;
        let opened = match opts.mode {
            OpenMode::ReadOnly => Self::open_read_only(&loc, opts),
            OpenMode::Create | OpenMode::Existing => Self::open_writable(&loc, opts).await,
        };
        opened.map_err(|e| open_error(&loc.path, opts.mode, e.into()))
    }

    async fn open_writable(loc: &Location, opts: &SqliteOptions) -> Result<Self, Error> {
        let opener = Opener::new(loc, opts.mode, false, opts.busy_timeout);
        let writer = opener.open_writer()?;
        let before = open::applied_versions(&writer)?;
        let applied = open::migrate(loc, opts.busy_timeout, &before).await?;
        let readers = Readers::open(
            opener.clone().query_only(),
            opts.readers as usize,
            opts.busy_timeout,
        )?;
        Ok(Self {
            writer: Some(Arc::new(Writer::new(writer, opts.busy_timeout))),
            readers: Arc::new(readers),
            applied,
            path: loc.path.clone(),
            opener,
        })
    }

    /// Read-only: nothing is created, migrated or written. A database with a
    /// write-ahead log (one a server has open, or left after a crash) is read
    /// through it; one without is opened `immutable`, which needs no `-shm`
    /// file beside it and so works in a read-only directory.
    fn open_read_only(loc: &Location, opts: &SqliteOptions) -> Result<Self, Error> {
        // A missing file fails to open (read-only never creates), and
        // `open_error` says so.
        let has_wal = std::fs::metadata(open::wal_path(&loc.path)).is_ok_and(|m| m.len() > 0);
        let mut opener = Opener::new(loc, OpenMode::ReadOnly, true, opts.busy_timeout);
        if !has_wal {
            opener = opener.immutable();
        }
        let first = opener.open()?;
        open::check_schema(&first)?;
        let mut conns = vec![first];
        for _ in 1..opts.readers.max(1) {
            conns.push(opener.open()?);
        }
        Ok(Self {
            writer: None,
            readers: Arc::new(Readers::new(conns, opener.clone(), opts.busy_timeout)),
            applied: Vec::new(),
            path: loc.path.clone(),
            opener,
        })
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
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::Other(format!(
                "the directory {} does not exist; create it first",
                dir.display()
            )));
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        let target = partial
            .to_str()
            .ok_or_else(|| StoreError::Other("the backup path is not valid UTF-8".into()))?
            .to_owned();
        // Its own connection, off the async threads: copying a large
        // database takes a while.
        let opener = self.opener.clone();
        let copied = tokio::task::spawn_blocking(move || -> Result<(), Error> {
            let conn = opener.open()?;
            sql::execute(&conn, "VACUUM INTO ?", [target])?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Other(format!("the backup task failed: {e}")))?
        .map_err(StoreError::from);
        let durable = copied.and_then(|()| {
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
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let unit = match &self.writer {
            Some(w) => Unit::Write(w.begin().await?),
            None => Unit::Read(self.readers.begin().await?),
        };
        Ok(Box::new(SqliteTx { unit }))
    }

    async fn read(&self) -> StoreResult<Box<dyn Tx>> {
        let unit = Unit::Read(self.readers.begin().await?);
        Ok(Box::new(SqliteTx { unit }))
    }

    async fn ping(&self) -> StoreResult<()> {
        let unit = self.readers.begin().await?;
        sql::count(unit.conn()?, "SELECT 1", [])?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        if let Some(w) = &self.writer {
            w.close().await;
        }
    }

    fn migrations_applied(&self) -> Vec<String> {
        self.applied.clone()
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let writer = match &self.writer {
            Some(w) => w.stats(),
            None => self.readers.stats("writer"),
        };
        vec![writer, self.readers.stats("readers")]
    }
}

/// A transaction of either kind; the repositories only need its connection.
pub struct SqliteTx {
    unit: Unit,
}

enum Unit {
    Read(ReadUnit),
    Write(WriteUnit),
}

impl SqliteTx {
    fn conn(&self) -> Result<&Connection, Error> {
        match &self.unit {
            Unit::Read(u) => u.conn(),
            Unit::Write(u) => u.conn(),
        }
    }

    fn write_unit(&mut self) -> Result<&mut WriteUnit, Error> {
        match &mut self.unit {
            Unit::Write(u) => Ok(u),
            Unit::Read(_) => Err(StoreError::Other("a write in a read transaction".into()).into()),
        }
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        match self.unit {
            // Nothing to keep: ending it is enough.
            Unit::Read(_) => Ok(()),
            Unit::Write(u) => Ok(u.commit().await?),
        }
    }
}
