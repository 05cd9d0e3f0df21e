//! The server's background workers: loops that run beside the requests and
//! stop when the application does (`app.rs` starts and awaits each).
//!
//! - `traffic_writer.rs`: the one batching writer of the access log and the
//!   `api_requests` counts that requests queue.
//! - `deliverer.rs`: webhook deliveries, queued from the outbox and posted.
//! - `checkpointer.rs`: the audit trail's signed checkpoints, every interval
//!   and at shutdown.
//! - `pruner.rs`: periodic pruning of what is past its retention.

pub mod checkpointer;
pub mod deliverer;
pub mod pruner;
pub mod traffic_writer;
