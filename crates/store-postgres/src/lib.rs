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

mod api_keys;
mod audit;
mod checkpoints;
mod error;
mod events;
mod idempotency;
mod invalidations;
mod orgs;
mod registries;
mod sessions;
mod sql;
mod tags;
#[cfg(feature = "testing")]
pub mod testing;
mod traffic;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use orgd_core::store::{
    self, Invalidation, InvalidationSink, OpenMode, PoolStats, Store, StoreError, StoreResult, Tx,
    WaitGuard, WaitMeter,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::error::{Error, classify};
use crate::sql::Run;

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
    pub mode: OpenMode,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: store::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: store::DEFAULT_WAIT,
            statement_timeout: store::DEFAULT_STATEMENT_TIMEOUT,
            mode: OpenMode::Create,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// One connection, made when first needed, that LISTENs for the cache
    /// invalidations other nodes publish; apart, so it never takes one of
    /// the requests' connections.
    listener: PgPool,
    /// This store's tag on the invalidations it publishes, so its listener
    /// can skip them (see [`invalidations`]).
    node: std::sync::Arc<str>,
    applied: Vec<String>,
    waits: std::sync::Arc<WaitMeter>,
}

/// One connection, on its own: the pool retries a failed connect until its
/// timeout and then reports only that it timed out, where this says why
/// (refused, unknown database, bad password).
async fn probe(
    connect: &PgConnectOptions,
    timeout: std::time::Duration,
) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(connect)).await {
        Ok(Ok(probe)) => {
            let _ = probe.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Runs the pending migrations, and names them; read-only, checks instead
/// that none is pending.
async fn migrate(pool: &PgPool, mode: OpenMode, where_: &str) -> StoreResult<Vec<String>> {
    let migrator = migrator();
    let before = applied_versions(pool).await?;
    let pending: Vec<_> = migrator
        .iter()
        .filter(|m| !before.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    if mode == OpenMode::ReadOnly {
        if before.is_empty() {
            return Err(StoreError::Other(format!(
                "the PostgreSQL database {where_} has no orgd schema; check --database-url"
            )));
        }
        if !pending.is_empty() {
            return Err(StoreError::Other(format!(
                "the schema of {where_} is older than this orgd: run `orgd migrate` on it first"
            )));
        }
        return Ok(Vec::new());
    }
    migrator
        .run(pool)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
    Ok(pending)
}

impl PgStore {
    /// Connects and runs pending migrations (or, read-only, checks that none
    /// is pending). Nodes starting together are safe: the migrator holds an
    /// advisory lock while it runs.
    pub async fn open(opts: &PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        let where_ = format!(
            "{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("")
        );
        let mut settings = vec![(
            "statement_timeout",
            format!("{}ms", opts.statement_timeout.as_millis()),
        )];
        if opts.mode == OpenMode::ReadOnly {
            settings.push(("default_transaction_read_only", "on".to_owned()));
        }
        let connect = connect.application_name("orgd").options(settings);
        let listener = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(connect.clone());
        let user = connect.get_username().to_owned();
        probe(&connect, opts.acquire_timeout)
            .await
            .map_err(|e| connect_error(&where_, &user, e))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| connect_error(&where_, &user, e))?;
        let applied = migrate(&pool, opts.mode, &where_).await?;
        Ok(Self::new(pool, listener, applied))
    }

    fn new(pool: PgPool, listener: PgPool, applied: Vec<String>) -> Self {
        Self {
            pool,
            listener,
            node: invalidations::new_node_tag().into(),
            applied,
            waits: Default::default(),
        }
    }
}

/// Versions of the migrations applied to the database (none on a new one).
async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, Error> {
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !has_table {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?,
    )
}

/// One sentence naming the server and the likely fix, for the failures an
/// operator meets first.
fn connect_error(where_: &str, user: &str, e: sqlx::Error) -> StoreError {
    let why = match &e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused; is PostgreSQL running and listening for TCP connections \
             there? Check the host and port in --database-url"
                .to_owned()
        }
        sqlx::Error::Io(io)
            if io.kind() == std::io::ErrorKind::NotFound || io.to_string().contains("lookup") =>
        {
            format!("the host name could not be resolved ({io}); check --database-url")
        }
        sqlx::Error::Io(io) => format!("{io}; check that the server is reachable"),
        sqlx::Error::PoolTimedOut => {
            "no connection could be made in time; is the server reachable from here?".to_owned()
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("3D000") => "the database does not exist; create it (e.g. `createdb` or CREATE \
                              DATABASE) or fix its name in --database-url"
                .to_owned(),
            Some("28P01" | "28000") => format!(
                "the server refused user {user:?} ({}); check the user and password in --database-url and pg_hba.conf",
                db.message()
            ),
            _ => db.message().to_owned(),
        },
        other => other.to_string(),
    };
    StoreError::Unavailable(format!("cannot connect to PostgreSQL at {where_}: {why}"))
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let _waiting = self.waiting();
        let tx = self.pool.begin().await.map_err(classify)?;
        let node = self.node.clone();
        Ok(Box::new(PgTx { tx, node }))
    }

    async fn read(&self) -> StoreResult<Box<dyn Tx>> {
        let _waiting = self.waiting();
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(classify)?;
        let node = self.node.clone();
        Ok(Box::new(PgTx { tx, node }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn close(&self) {
        self.listener.close().await;
        self.pool.close().await;
    }

    async fn watch_invalidations(&self, sink: InvalidationSink) -> StoreResult<()> {
        let listening = invalidations::listen(&self.listener)
            .await
            .map_err(classify)?;
        let node = self.node.to_string();
        tokio::spawn(invalidations::relay(
            listening,
            self.listener.clone(),
            node,
            sink,
        ));
        Ok(())
    }

    fn migrations_applied(&self) -> Vec<String> {
        self.applied.clone()
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let idle = self.pool.num_idle() as u64;
        let (waiting, waits_total) = self.waits.read();
        vec![PoolStats {
            pool: "main",
            in_use: u64::from(self.pool.size()).saturating_sub(idle),
            idle,
            waiting,
            waits_total,
        }]
    }
}

impl PgStore {
    fn waiting(&self) -> Option<WaitGuard<'_>> {
        let p = &self.pool;
        self.waits
            .acquiring(p.num_idle(), p.size(), p.options().get_max_connections())
    }
}

pub struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
    /// The store's tag, sent with each invalidation.
    node: std::sync::Arc<str>,
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(classify)
    }

    async fn publish_invalidation(&mut self, what: &Invalidation) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(invalidations::CHANNEL)
            .bind(invalidations::encode(&self.node, what))
            .run(&mut self.tx)
            .await?;
        Ok(())
    }
}
