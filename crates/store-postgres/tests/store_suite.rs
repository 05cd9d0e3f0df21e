//! The shared store suite (crates/store-tests), run against PostgreSQL: each
//! test on a database of its own, dropped afterwards. The server is named by
//! `ORGD_TEST_POSTGRES_URL` (any database on it; `.ci/run` sets it). Without
//! it every test here says it was skipped, loudly, and passes.

fn main() -> std::process::ExitCode {
    orgd_store_tests::run(orgd_store_postgres::testing::fresh)
}
