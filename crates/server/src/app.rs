//! The application: a store, the domain service, the HTTP router and a bound
//! listener, built from a [`Config`]. Tests build and run exactly this.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use orgd_core::checkpoints::{SigningKey, parse_seed_file};
use orgd_core::clock::{Clock, SystemClock};
use orgd_core::service::bootstrap::Bootstrap;
use orgd_core::service::{Orgd, Settings};
use orgd_core::store::{OpenMode, Store, StoreError};
use orgd_store_postgres::{PgOptions, PgStore};
use orgd_store_sqlite::{SqliteOptions, SqliteStore};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, DatabaseArgs};
use crate::state::{AppState, SharedState};
use crate::web::connections::{self, ConnectionLimits};
use crate::web::envelope::Envelope;
use crate::web::layer::WrapLayer;
use crate::web::metrics::{Metrics, Readings};
use crate::web::problem::{Kind, Problem};
use crate::web::rate_limit::RateLimits;
use crate::workers::deliverer::Deliverer;
use crate::workers::traffic_writer::{self, TrafficWriter};
use crate::workers::{checkpointer, pruner};
use crate::{console, http};

/// Opens the store the URL names as `mode` says (creating and migrating it,
/// or read-only). Errors are one sentence naming the database and the fix.
pub async fn open_store(db: &DatabaseArgs, mode: OpenMode) -> anyhow::Result<Arc<dyn Store>> {
    if db.database_url.is_sqlite() {
        Ok(Arc::new(open_sqlite(db, mode).await?))
    } else {
        let opts = PgOptions {
            url: db.database_url.expose().to_owned(),
            max_connections: db.db_max_connections,
            acquire_timeout: Duration::from_secs(db.db_acquire_timeout_secs),
            statement_timeout: Duration::from_secs(db.db_statement_timeout_secs),
            mode,
        };
        Ok(Arc::new(PgStore::open(&opts).await.map_err(store_error)?))
    }
}

/// The SQLite store itself, for what only it can do (`orgd backup`).
pub async fn open_sqlite(db: &DatabaseArgs, mode: OpenMode) -> anyhow::Result<SqliteStore> {
    let mut opts = SqliteOptions::new(db.database_url.expose());
    opts.busy_timeout = Duration::from_secs(db.db_acquire_timeout_secs);
    opts.mode = mode;
    SqliteStore::open(&opts).await.map_err(store_error)
}

/// The stores' open errors already name the database and the fix; the
/// kind prefix (`unavailable: …`) would only get in the way.
fn store_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Other(why) | StoreError::Unavailable(why) => anyhow::anyhow!(why),
        e => anyhow::Error::new(e),
    }
}

/// The whole router: the API (`http/`) and the console beside it, the
/// server's own `/metrics`, a problem for any other path, all inside the
/// envelope (`web/envelope.rs`) and so the access log.
pub fn router(state: AppState) -> anyhow::Result<axum::Router> {
    Ok(http::routes(&state)?
        // The console's pages: not the API, so not in its document.
        .merge(console::routes(state.clone()))
        .route("/metrics", get(metrics))
        .fallback(|| async { Problem::new(Kind::NotFound, "no such route") })
        .layer(WrapLayer(Envelope(state.clone())))
        .with_state(state))
}

/// `/metrics`: the registry, with the readings taken as it is asked.
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(&Readings {
            pools: s.orgd.pool_stats(),
            traffic_queue: s.traffic.queued(),
        }),
    )
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    orgd: Arc<Orgd>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
    writer: tokio::task::JoinHandle<()>,
    traffic: TrafficWriter,
    writer_stop: CancellationToken,
    tasks: TaskTracker,
    retention: pruner::Retention,
    bootstrap: Bootstrap,
    deliverer: Deliverer,
    checkpoint_interval: Duration,
    connection_limits: ConnectionLimits,
}

/// The key of `--audit-signing-key-file`. The error names the file, never
/// its content.
fn read_signing_key(path: &std::path::Path) -> anyhow::Result<SigningKey> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the audit signing key file {}", path.display()))?;
    let seed = parse_seed_file(&bytes).ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not hold an Ed25519 key: it must hold the 32-byte seed, raw or as hex or \
             base64 text (e.g. made with `head -c 32 /dev/urandom | base64`)",
            path.display()
        )
    })?;
    Ok(SigningKey::from_seed(&seed))
}

/// One sentence for the ways binding fails that an operator meets.
fn bind_error(addr: &crate::config::ListenAddr, e: &std::io::Error) -> anyhow::Error {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => "the address is already in use (another orgd, or the \
                                           first `orgd serve` still running?); stop it, or choose \
                                           another address with --listen (e.g. --listen \
                                           127.0.0.1:8081)"
            .to_owned(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges); choose a port above 1023"
                .to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "no interface of this machine has that address; check --listen".to_owned()
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {why}")
}

impl Application {
    /// Binds the listener (port 0 picks a free port; see
    /// [`Application::local_addr`]), then opens and migrates the database and
    /// bootstraps it when empty. Binding comes first: a port in use fails at
    /// once, before a database is created or a root key made.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a given clock, so tests can move time.
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = config
            .listen
            .bind()
            .await
            .map_err(|e| bind_error(&config.listen, &e))?;
        let store = open_store(&config.database, OpenMode::Create).await?;
        let settings = Settings {
            root_id: config.root_id.clone(),
            max_depth: config.max_depth,
            default_rate_limit_per_minute: config.rate_limit_per_minute,
            cache_ttl: config.cache_ttl,
            webhook_allow_private_targets: config.webhooks.allow_private_targets,
        };
        let mut orgd = Orgd::new(store.clone(), clock, settings);
        if let Some(path) = &config.audit_signing_key_file {
            orgd = orgd.with_audit_signing_key(read_signing_key(path)?);
        }
        let orgd = Arc::new(orgd);
        orgd.watch_other_nodes()
            .await
            .context("listening for changes made by other nodes")?;
        let chosen = config
            .bootstrap_key
            .as_ref()
            .map(|s| s.expose_secret().to_owned());
        let bootstrap = orgd
            .bootstrap(chosen)
            .await
            .context("bootstrapping the database")?;
        // The root as the database has it (`--root-id` names it only at
        // the first start).
        let root = orgd
            .root_id()
            .await
            .context("reading the root organization")?;
        orgd.prepare_audit_key()
            .await
            .context("preparing the audit trail's signing key")?;
        let writer_stop = CancellationToken::new();
        let metrics = Arc::new(Metrics::new().context("setting up metrics")?);
        let (traffic, writer) =
            traffic_writer::spawn(orgd.clone(), writer_stop.clone(), metrics.clone());
        let tasks = TaskTracker::new();
        let deliverer = Deliverer::new(
            orgd.clone(),
            metrics.clone(),
            config.webhooks.workers,
            config.webhooks.allow_private_targets,
        )
        .context("setting up the webhook deliverer")?;
        let router = router(AppState::new(SharedState {
            orgd: orgd.clone(),
            request_timeout: config.request_timeout,
            traffic: traffic.clone(),
            access_log: config.access_log,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            tasks: tasks.clone(),
            rate_limits: RateLimits {
                limiter: Default::default(),
                exempt: (!config.rate_limit_root).then_some(root),
            },
            metrics,
        }))?;
        Ok(Self {
            listener,
            router,
            orgd,
            store,
            shutdown: CancellationToken::new(),
            writer,
            writer_stop,
            traffic,
            tasks,
            retention: pruner::Retention {
                access_log: config.access_log_retention,
                events: config.event_retention,
            },
            bootstrap,
            deliverer,
            checkpoint_interval: config.checkpoint_interval,
            connection_limits: ConnectionLimits {
                head: config.header_read_timeout,
                keep_alive: config.keep_alive_timeout,
            },
        })
    }

    /// What start-up found: a new database and its root key's secret, or
    /// one bootstrapped before. Printing it is the caller's business.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// The domain service this application serves (for tests and tools
    /// that run beside the server).
    pub fn service(&self) -> Arc<Orgd> {
        self.orgd.clone()
    }

    /// The traffic writer, whose `flush` waits until every queued access
    /// entry and counter is stored.
    pub fn traffic(&self) -> TrafficWriter {
        self.traffic.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Cancelling this token stops the server gracefully: no new connections,
    /// held feed reads answer at once, in-flight requests finish, background
    /// work stops, the store closes.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let pruner = pruner::spawn(self.orgd.clone(), self.shutdown.clone(), self.retention);
        let deliverer = self.deliverer.spawn(self.shutdown.clone());
        let checkpointer_stop = CancellationToken::new();
        let checkpointer = checkpointer::spawn(
            self.orgd.clone(),
            checkpointer_stop.clone(),
            self.checkpoint_interval,
        );
        let stopping = {
            let (shutdown, orgd) = (self.shutdown.clone(), self.orgd.clone());
            async move {
                shutdown.cancelled().await;
                // Held feed reads answer now rather than when their wait
                // runs out: in-flight requests are waited for below.
                orgd.feed().close();
            }
        };
        connections::serve(self.listener, self.router, self.connection_limits, stopping).await;
        // Every connection is closed; requests whose clients hung up may
        // still be running. Once they finish, drain the traffic queue, then
        // close the store.
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        // Every change is committed: the last checkpoint signs them all.
        checkpointer_stop.cancel();
        let _ = checkpointer.await;
        self.writer_stop.cancel();
        let _ = self.writer.await;
        let _ = pruner.await;
        let _ = deliverer.await;
        self.store.close().await;
        Ok(())
    }
}
