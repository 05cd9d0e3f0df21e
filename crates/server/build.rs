//! Turns `ORGD_TEST_POSTGRES_URL` into the `orgd_pg_tests` cfg, which decides
//! whether the `api_postgres` test binary holds the HTTP suite or one test
//! saying it was skipped. Nothing else depends on it.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(orgd_pg_tests)");
    println!("cargo::rerun-if-env-changed=ORGD_TEST_POSTGRES_URL");
    if std::env::var_os("ORGD_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=orgd_pg_tests");
    }
}
