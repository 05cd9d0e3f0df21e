//! `/metrics`: Prometheus text exposition of this node's request counts and
//! latencies. Labels are route templates (`/orgs/{org_id}`), methods and
//! statuses only: no org ids or other tenant data.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("orgd".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to answering it",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "Requests being answered")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
        })
    }

    /// Marks a request as started; the guard marks it done when dropped.
    pub fn started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        // Any token is a method to HTTP; a label per made-up one would let a
        // client grow the registry without bound.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
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
            m.observe("GET", "/orgs/{org_id}", 200, 0.003);
        }
        m.observe("GET", "/orgs/{org_id}", 200, 0.004);
        m.observe("BREW", "unmatched", 405, 0.001);
        let text = m.render();
        assert!(text.contains(
            "orgd_http_requests_total{method=\"GET\",route=\"/orgs/{org_id}\",status=\"200\"} 2"
        ));
        assert!(text.contains("orgd_http_requests_in_flight 0"));
        assert!(text.contains("method=\"other\",route=\"unmatched\",status=\"405\"} 1"));
        assert!(!text.contains("BREW"));
        assert!(text.contains("orgd_http_request_duration_seconds_bucket"));
    }
}
