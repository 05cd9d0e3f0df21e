//! The HTTP integration suite of `tests/api`, again on PostgreSQL: the same
//! test files, with every server on a database of its own on the server that
//! `ORGD_TEST_POSTGRES_URL` names (`.ci/run` sets it). Built without that
//! variable, this binary holds one test that says, loudly, that the suite was
//! skipped. (`build.rs` turns the variable into the `orgd_pg_tests` cfg.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(orgd_pg_tests)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

/// The files of `tests/api` that run on both databases.
#[cfg(orgd_pg_tests)]
mod both {
    include!("../api/both_databases.rs");
}

// PostgreSQL only.
#[cfg(orgd_pg_tests)]
mod multinode;
#[cfg(orgd_pg_tests)]
mod outage;

#[cfg(not(orgd_pg_tests))]
#[test]
fn http_suite_on_postgresql_skipped() {
    use std::io::Write as _;
    // Straight to stderr: libtest would swallow eprintln! of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: the HTTP suite on PostgreSQL did not run: \
         ORGD_TEST_POSTGRES_URL was not set when this binary was built ***\n"
    );
}
