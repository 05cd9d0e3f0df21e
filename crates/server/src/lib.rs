//! orgd's server: the HTTP API (axum), the browser console, the command
//! line (clap), configuration and background workers around the domain in
//! `orgd-core`.
//!
//! - `app.rs`: the application, built from a [`Config`]; composes the API
//!   and the console into one router.
//! - `state.rs`: what every request's handler shares.
//! - `http/`: the API, a file per resource, and its OpenAPI document.
//! - `console/`: the browser console at `/console`.
//! - `web/`: what the API and the console share (the envelope, the access
//!   log, problems, rate limits, connections, metrics).
//! - `workers/`: the traffic writer, the webhook deliverer, the
//!   checkpointer, the pruner.
//! - `cli/`: `orgd <command>`, a file per command; `config.rs`, `logging.rs`.

pub mod app;
pub mod cli;
pub mod config;
mod console;
pub mod http;
pub mod logging;
mod state;
mod web;
mod workers;

pub use app::Application;
pub use config::Config;
pub use workers::traffic_writer::TrafficWriter;
