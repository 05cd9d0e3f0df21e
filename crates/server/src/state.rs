//! What every request's handler shares, API and console alike: the domain
//! service and the server's own parts (the traffic writer, the rate limits,
//! the metrics). It imports neither the API nor the console, only the parts
//! it holds, so the API (`http/`), the console (`console/`) and the shared
//! layers (`web/`) all build on it without reaching each other through it.

use std::sync::Arc;
use std::time::Duration;

use orgd_core::service::Orgd;

use crate::web::metrics::Metrics;
use crate::web::rate_limit::RateLimits;
use crate::workers::traffic_writer::TrafficWriter;

/// What every handler shares. Axum clones the state for each extractor of
/// each request: one reference count, not a dozen.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub orgd: Arc<Orgd>,
    pub request_timeout: Duration,
    pub traffic: TrafficWriter,
    /// Whether requests are recorded in the access log.
    pub access_log: bool,
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Every request's handler task; shutdown waits for all of them.
    pub tasks: tokio_util::task::TaskTracker,
    /// Each key's requests a minute, for the API and the console alike.
    pub rate_limits: RateLimits,
    pub metrics: Arc<Metrics>,
}
