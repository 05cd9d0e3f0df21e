//! The HTTP integration suite of `tests/api`, again on PostgreSQL: the same
//! test files, with every server on a database of its own on the server that
//! `ORGD_TEST_POSTGRES_URL` names (`.ci/run` sets it). Built without that
//! variable, this binary holds one test that says, loudly, that the suite was
//! skipped. (`build.rs` turns the variable into the `orgd_pg_tests` cfg.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(orgd_pg_tests)]
#[path = "../api/helpers.rs"]
mod helpers;

#[cfg(orgd_pg_tests)]
#[path = "../api/access_log.rs"]
mod access_log;
#[cfg(orgd_pg_tests)]
#[path = "../api/audit.rs"]
mod audit;
#[cfg(orgd_pg_tests)]
#[path = "../api/cache.rs"]
mod cache;
#[cfg(orgd_pg_tests)]
#[path = "../api/cli.rs"]
mod cli;
#[cfg(orgd_pg_tests)]
#[path = "../api/configs.rs"]
mod configs;
#[cfg(orgd_pg_tests)]
#[path = "../api/consumption.rs"]
mod consumption;
#[cfg(orgd_pg_tests)]
#[path = "../api/contract.rs"]
mod contract;
#[cfg(orgd_pg_tests)]
#[path = "../api/conventions.rs"]
mod conventions;
#[cfg(orgd_pg_tests)]
#[path = "../api/crash.rs"]
mod crash;
#[cfg(orgd_pg_tests)]
#[path = "../api/customizations.rs"]
mod customizations;
#[cfg(orgd_pg_tests)]
#[path = "../api/disconnects.rs"]
mod disconnects;
#[cfg(orgd_pg_tests)]
#[path = "../api/first_hour.rs"]
mod first_hour;
#[cfg(orgd_pg_tests)]
#[path = "../api/keys.rs"]
mod keys;
#[cfg(orgd_pg_tests)]
#[path = "../api/limits.rs"]
mod limits;
#[cfg(orgd_pg_tests)]
#[path = "../api/matrix.rs"]
mod matrix;
#[cfg(orgd_pg_tests)]
#[path = "../api/operator_cli.rs"]
mod operator_cli;
#[cfg(orgd_pg_tests)]
#[path = "../api/orgs.rs"]
mod orgs;
#[cfg(orgd_pg_tests)]
#[path = "../api/rate_limits.rs"]
mod rate_limits;
#[cfg(orgd_pg_tests)]
#[path = "../api/secrets.rs"]
mod secrets;
#[cfg(orgd_pg_tests)]
#[path = "../api/security.rs"]
mod security;
#[cfg(orgd_pg_tests)]
#[path = "../api/tags.rs"]
mod tags;

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
