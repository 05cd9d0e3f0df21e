//! `/metrics`: Prometheus text exposition of this node: request counts and
//! latencies, the database pools, the access-log queue, the process (RSS,
//! CPU, open files) and the build. Labels are route templates
//! (`/orgs/{org_id}`), methods, statuses and pool names only: no org ids or
//! other tenant data.

use axum::http::StatusCode;
use orgd_core::store::PoolStats;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// The process collector's, unprefixed as Prometheus names them
    /// everywhere (`process_resident_memory_bytes`, …).
    process: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    pool_connections: IntGaugeVec,
    pool_waiting: IntGaugeVec,
    pool_waits: IntCounterVec,
    /// Held while a scrape copies the stores' readings in, so that two
    /// scrapes cannot both add the same waits to the counter.
    scrape: std::sync::Mutex<()>,
    traffic_queue: IntGauge,
    traffic_flush: Histogram,
    pub webhooks: WebhookMetrics,
}

/// The deliverer's: what became of deliveries and attempts, and how far
/// behind the queue is.
pub struct WebhookMetrics {
    deliveries: IntCounterVec,
    attempts: IntCounterVec,
    lag: prometheus::Gauge,
}

impl WebhookMetrics {
    fn new(r: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            deliveries: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "webhook_deliveries_total",
                        "Webhook deliveries finished by this node, by outcome (succeeded; \
                         failed: retried for 3 days in vain)",
                    ),
                    &["outcome"],
                )?,
            )?,
            attempts: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "webhook_attempts_total",
                        "Webhook delivery attempts by this node, by result (ok, http_error, \
                         timeout, refused, network_error)",
                    ),
                    &["result"],
                )?,
            )?,
            lag: registered(
                r,
                prometheus::Gauge::new(
                    "webhook_queue_lag_seconds",
                    "Age of the oldest pending webhook delivery of an enabled endpoint (0: none)",
                )?,
            )?,
        })
    }

    pub fn attempted(&self, result: &str) {
        self.attempts.with_label_values(&[result]).inc();
    }

    pub fn finished(&self, outcome: &str) {
        self.deliveries.with_label_values(&[outcome]).inc();
    }

    pub fn set_lag(&self, seconds: f64) {
        self.lag.set(seconds);
    }
}

/// What is read afresh at every scrape.
pub struct Readings {
    pub pools: Vec<PoolStats>,
    /// Access-log and request-count records queued, not yet written.
    pub traffic_queue: usize,
}

/// `c`, registered in `registry` (which keeps a handle to the same values).
fn registered<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Every metric orgd exports, each declared once with its help text. Long
    /// as a list is long: one declaration per metric, nothing else.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("orgd".into()), None)?;
        let process = Registry::new();
        #[cfg(target_os = "linux")]
        process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "This orgd's version; always 1"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        let r = &registry;
        let pool_connections = registered(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "db_pool_connections",
                    "Database connections by pool and state (in_use, idle)",
                ),
                &["pool", "state"],
            )?,
        )?;
        let pool_waiting = registered(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "db_pool_waiting",
                    "Transactions waiting for a database connection now",
                ),
                &["pool"],
            )?,
        )?;
        // The stores count; each scrape adds what they counted since.
        let pool_waits = registered(
            r,
            IntCounterVec::new(
                Opts::new(
                    "db_pool_waits_total",
                    "Transactions that found no free database connection and waited, since start",
                ),
                &["pool"],
            )?,
        )?;
        let traffic_queue = registered(
            r,
            IntGauge::new(
                "access_log_queue_depth",
                "Access-log entries and request counts queued for the batch writer",
            )?,
        )?;
        let traffic_flush = registered(
            r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "access_log_flush_seconds",
                    "Time to write one batch of access-log entries and request counts",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
            )?,
        )?;
        let requests = registered(
            r,
            IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests answered"),
                &["method", "route", "status"],
            )?,
        )?;
        let latency = registered(
            r,
            HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "Time from receiving a request to answering it",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["method", "route"],
            )?,
        )?;
        let in_flight = registered(
            r,
            IntGauge::new("http_requests_in_flight", "Requests being answered")?,
        )?;
        let webhooks = WebhookMetrics::new(r)?;
        Ok(Self {
            registry,
            process,
            requests,
            latency,
            in_flight,
            pool_connections,
            pool_waiting,
            pool_waits,
            traffic_queue,
            traffic_flush,
            webhooks,
            scrape: std::sync::Mutex::new(()),
        })
    }

    /// Records how long one access-log batch took to write.
    pub fn traffic_flushed(&self, seconds: f64) {
        self.traffic_flush.observe(seconds);
    }

    /// Marks a request as started; the guard marks it done when dropped.
    pub fn started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        // Any token is a method to HTTP; a label per made-up one would let a
        // client grow the registry without bound.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn render(&self, now: &Readings) -> String {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let _one_at_a_time = self
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for p in &now.pools {
            self.pool_connections
                .with_label_values(&[p.pool, "in_use"])
                .set(gauge(p.in_use));
            self.pool_connections
                .with_label_values(&[p.pool, "idle"])
                .set(gauge(p.idle));
            self.pool_waiting
                .with_label_values(&[p.pool])
                .set(gauge(p.waiting));
            let waits = self.pool_waits.with_label_values(&[p.pool]);
            waits.inc_by(p.waits_total.saturating_sub(waits.get()));
        }
        self.traffic_queue
            .set(i64::try_from(now.traffic_queue).unwrap_or(i64::MAX));
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        // The text encoder writes only UTF-8.
        String::from_utf8_lossy(&out).into_owned()
    }
}

pub struct InFlight<'a>(&'a IntGauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template() {
        let m = Metrics::new().unwrap_or_else(|e| panic!("{e}"));
        {
            let _g = m.started();
            m.observe("GET", "/orgs/{org_id}", StatusCode::OK, 0.003);
        }
        m.observe("GET", "/orgs/{org_id}", StatusCode::OK, 0.004);
        m.observe("BREW", "unmatched", StatusCode::METHOD_NOT_ALLOWED, 0.001);
        m.traffic_flushed(0.002);
        let text = m.render(&Readings {
            pools: vec![PoolStats {
                pool: "writer",
                in_use: 1,
                idle: 0,
                waiting: 2,
                waits_total: 7,
            }],
            traffic_queue: 3,
        });
        assert!(text.contains(
            "orgd_http_requests_total{method=\"GET\",route=\"/orgs/{org_id}\",status=\"200\"} 2"
        ));
        assert!(text.contains("orgd_http_requests_in_flight 0"));
        assert!(text.contains("method=\"other\",route=\"unmatched\",status=\"405\"} 1"));
        assert!(!text.contains("BREW"));
        assert!(text.contains("orgd_http_request_duration_seconds_bucket"));
        assert!(text.contains("orgd_db_pool_connections{pool=\"writer\",state=\"in_use\"} 1"));
        assert!(text.contains("orgd_db_pool_waiting{pool=\"writer\"} 2"));
        assert!(text.contains("orgd_db_pool_waits_total{pool=\"writer\"} 7"));
        assert!(text.contains("orgd_access_log_queue_depth 3"));
        assert!(text.contains("orgd_access_log_flush_seconds_count 1"));
        assert!(text.contains(&format!(
            "orgd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("process_resident_memory_bytes"));
        assert!(text.contains("process_open_fds"));
    }
}
