//! The application: a store, the domain service, the HTTP router and a bound
//! listener, built from a [`Config`]. Tests build and run exactly this.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orgd_core::clock::{Clock, SystemClock};
use orgd_core::service::{Orgd, Settings};
use orgd_core::store::Store;
use orgd_store_postgres::{PgOptions, PgStore};
use orgd_store_sqlite::{SqliteOptions, SqliteStore};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, DatabaseArgs};
use crate::http::{self, AppState};
use crate::{ingest, jobs};

/// Opens the store the URL names and brings its schema up to date.
pub async fn open_store(db: &DatabaseArgs) -> anyhow::Result<Arc<dyn Store>> {
    let url = &db.database_url;
    let acquire_timeout = Duration::from_secs(db.db_acquire_timeout_secs);
    if url.is_sqlite() {
        let mut opts = SqliteOptions::new(url.expose());
        opts.busy_timeout = acquire_timeout;
        let store = SqliteStore::open(&opts)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(store))
    } else {
        let opts = PgOptions {
            url: url.expose().to_owned(),
            max_connections: db.db_max_connections,
            acquire_timeout,
            statement_timeout: Duration::from_secs(db.db_statement_timeout_secs),
        };
        let store = PgStore::open(&opts)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(store))
    }
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    orgd: Arc<Orgd>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
    writer: tokio::task::JoinHandle<()>,
    traffic: crate::ingest::TrafficWriter,
    writer_stop: CancellationToken,
    tasks: TaskTracker,
    access_log_retention: chrono::Duration,
}

impl Application {
    /// Opens and migrates the database, bootstraps it when empty, and binds
    /// the listener (port 0 picks a free port; see [`Application::local_addr`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a given clock, so tests can move time.
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(&config.database).await?;
        let settings = Settings {
            root_id: config.root_id.clone(),
            max_depth: config.max_depth,
            default_rate_limit_per_minute: config.rate_limit_per_minute,
        };
        let orgd = Arc::new(Orgd::new(store.clone(), clock, settings));
        let chosen = config
            .bootstrap_key
            .as_ref()
            .map(|s| s.expose_secret().to_owned());
        let generated = chosen.is_none();
        if let Some(secret) = orgd
            .bootstrap(chosen)
            .await
            .context("bootstrapping the database")?
        {
            if generated {
                // Printed once, on stderr, never logged: the only copy there is.
                eprintln!(
                    "orgd: created the root organization '{}' and its root key.\n\
                     orgd: root key secret (shown once, store it now): {secret}",
                    config.root_id
                );
            } else {
                eprintln!(
                    "orgd: created the root organization '{}'; its root key is ORGD_BOOTSTRAP_KEY",
                    config.root_id
                );
            }
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let writer_stop = CancellationToken::new();
        let (traffic, writer) = ingest::spawn(orgd.clone(), writer_stop.clone());
        let tasks = TaskTracker::new();
        let router = http::router(AppState {
            orgd: orgd.clone(),
            request_timeout: config.request_timeout,
            traffic: traffic.clone(),
            access_log: config.access_log,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            tasks: tasks.clone(),
            rate_limiter: Default::default(),
            metrics: Arc::new(http::metrics::Metrics::new().context("setting up metrics")?),
        });
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
            access_log_retention: config.access_log_retention,
        })
    }

    /// The domain service this application serves (for tests and tools
    /// that run beside the server).
    pub fn service(&self) -> Arc<Orgd> {
        self.orgd.clone()
    }

    /// The traffic writer, whose `flush` waits until every queued access
    /// entry and counter is stored.
    pub fn traffic(&self) -> crate::ingest::TrafficWriter {
        self.traffic.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Cancelling this token stops the server gracefully: no new connections,
    /// in-flight requests finish, background work stops, the store closes.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let jobs = jobs::spawn(
            self.orgd.clone(),
            self.shutdown.clone(),
            self.access_log_retention,
        );
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(self.shutdown.clone().cancelled_owned())
            .await
            .context("serving HTTP")?;
        // Every connection is closed; requests whose clients hung up may
        // still be running. Once they finish, drain the traffic queue, then
        // close the store.
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.writer_stop.cancel();
        let _ = self.writer.await;
        let _ = jobs.await;
        self.store.close().await;
        Ok(())
    }
}
