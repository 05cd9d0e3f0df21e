//! What serving HTTP takes beyond any one route, shared by the API (`http/`)
//! and the console (`console/`), which sit above it and never reach each
//! other: the connections, the envelope around every request, the access
//! log, problem bodies, the caller, client addresses, request ids, rate
//! limits, ETags and metrics.
//!
//! - `connections.rs`: hyper's connections, their clocks, graceful shutdown.
//! - `layer.rs`: the one tower layer shape the envelope, the access log and
//!   the API's guard are written in.
//! - `envelope.rs`: request id, client address, timeout, panics, bare
//!   statuses and long bodies turned into problems, metrics.
//! - `access_log.rs`: the access log layer, handing visits to the traffic writer.
//! - `problem.rs`: RFC 9457 problem bodies, the one table of kinds, and the
//!   mapping of every domain error.
//! - `caller.rs`, `client_ip.rs`, `request_id.rs`: who asks, from where,
//!   under which id.
//! - `rate_limit.rs`: each key's requests a minute.
//! - `etag.rs`: versions as ETags, `If-Match` and `If-None-Match`.
//! - `metrics.rs`: the Prometheus registry (`/metrics` itself is served by
//!   `app.rs`).

pub mod access_log;
pub mod caller;
pub mod client_ip;
pub mod connections;
pub mod envelope;
pub mod etag;
pub mod layer;
pub mod metrics;
pub mod problem;
pub mod rate_limit;
pub mod request_id;
