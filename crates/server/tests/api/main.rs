//! HTTP integration tests: the real server on a random loopback port, a real
//! SQLite file per test. One binary, so linking stays cheap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

/// Run on PostgreSQL as well, by `api_postgres`.
mod both {
    include!("both_databases.rs");
}

// SQLite only (each named, with its reason, in `files::SQLITE_ONLY`).
mod browser;
mod console_browser;
mod files;
mod readme;
mod sqlite_files;
