//! The shared store suite (crates/store-tests), run against SQLite.

use orgd_store_sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

/// A new, empty, migrated database in its own temporary directory, which
/// lives as long as the returned guard.
#[allow(clippy::expect_used)] // test setup: a failure here should fail the test
async fn fresh() -> Option<(SqliteStore, TempDir)> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = SqliteStore::open(&SqliteOptions::new(url))
        .await
        .expect("open the SQLite store");
    Some((store, dir))
}

fn main() -> std::process::ExitCode {
    orgd_store_tests::run(fresh)
}
