//! Throwaway PostgreSQL databases for tests (the `testing` feature): this
//! crate's suite and the server's HTTP suite on PostgreSQL use them.
#![allow(clippy::expect_used)] // test setup: a failure should fail the test

use std::io::Write as _;

use crate::{PgOptions, PgStore};
use sqlx::Connection as _;

pub const URL_VAR: &str = "ORGD_TEST_POSTGRES_URL";

/// A database that is dropped (with any connections still open) when this
/// guard is.
pub struct TempDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime we may block: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
            .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Replaces the database of a `postgres://` URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A new empty database on the test server, or `None` (after saying so on
/// stderr) when no server is configured.
pub async fn temp_database() -> Option<(String, TempDatabase)> {
    let Ok(admin_url) = std::env::var(URL_VAR) else {
        // Straight to stderr: libtest would swallow eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {URL_VAR} is not set, so this PostgreSQL test did not run"
        );
        return None;
    };
    let name = format!("orgd_t_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the PostgreSQL test server");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let url = with_database(&admin_url, &name);
    Some((url, TempDatabase { admin_url, name }))
}

/// A fresh migrated store on a database of its own.
pub async fn fresh() -> Option<(PgStore, TempDatabase)> {
    let (url, guard) = temp_database().await?;
    let store = PgStore::open(&PgOptions::new(url))
        .await
        .expect("open the PostgreSQL store");
    Some((store, guard))
}

#[cfg(test)]
#[test]
fn urls_get_their_database_replaced() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    assert_eq!(
        with_database("postgres://u@h/db?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
}
