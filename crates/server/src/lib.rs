//! orgd's server: HTTP API (axum), command line (clap), configuration and
//! background jobs around the domain in `orgd-core`.

pub mod app;
mod checkpointer;
pub mod cli;
pub mod config;
mod console;
mod deliverer;
pub mod http;
pub mod ingest;
mod jobs;
pub mod logging;

pub use app::Application;
pub use config::Config;
