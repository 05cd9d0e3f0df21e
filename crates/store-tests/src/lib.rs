//! One behavioural suite for every orgd store implementation.
//!
//! Each case takes a fresh, empty, migrated store, builds its data through
//! the store traits only (no SQL) and panics when the store misbehaves. A
//! store crate runs every case as a test of its own from a test target with
//! `harness = false`:
//!
//! ```text
//! async fn fresh() -> Option<(MyStore, Guard)> { /* a new empty database */ }
//!
//! fn main() -> std::process::ExitCode {
//!     orgd_store_tests::run(fresh)
//! }
//! ```
//!
//! A module's cases are private functions listed once, by `cases!` at the
//! end of the module: a case left off its list is dead code, which CI
//! (`clippy -D warnings`) refuses, so every case runs on every store. A
//! module split into files has a list per file, each named in [`all`] (an
//! unnamed one is dead code too).
//!
//! The suite's expectations go slightly beyond the trait docs where stores
//! must agree with each other: ids, paths and tag names compare bytewise
//! (tags come back in byte order of their names), name prefixes match
//! case-sensitively and literally (no `LIKE` wildcards), the access log's
//! `user` and `action` filters and usage keys match exactly, `add_counters`
//! sums deltas repeated within one call, and timestamps keep exactly
//! millisecond precision.

// A test-support crate: panicking on a failed expectation is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use orgd_core::store::Store;

/// A case's test, running on the store it is given.
pub type Run = for<'a> fn(&'a dyn Store) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One behaviour of the suite.
#[derive(Clone, Copy)]
pub struct Case {
    /// `module::function`.
    pub name: &'static str,
    pub run: Run,
}

/// Lists a module's cases, making its `CASES`: `cases![a, b]` at its end.
macro_rules! cases {
    ($($name:ident),+ $(,)?) => {
        pub(crate) const CASES: &[$crate::Case] = &[$(
            $crate::Case {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: {
                    fn run(
                        store: &dyn orgd_core::store::Store,
                    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
                        Box::pin($name(store))
                    }
                    run
                },
            },
        )+];
    };
}
pub(crate) use cases;

mod access_log;
mod api_keys;
mod audit;
mod checkpoints;
mod consumption;
mod events;
pub mod fixtures;
mod idempotency;
mod orgs;
mod registries;
mod sessions;
mod tags;
mod tx;
mod webhooks;

/// Every case of the suite.
pub fn all() -> Vec<Case> {
    [
        orgs::records::CASES,
        orgs::listing::CASES,
        orgs::subtrees::CASES,
        tags::CASES,
        api_keys::CASES,
        registries::registry::CASES,
        registries::limits::CASES,
        audit::CASES,
        checkpoints::CASES,
        idempotency::CASES,
        access_log::inserting::CASES,
        access_log::listing::CASES,
        access_log::pruning::CASES,
        consumption::CASES,
        events::CASES,
        webhooks::CASES,
        sessions::CASES,
        tx::CASES,
    ]
    .concat()
}

/// Runs every case as a test of its own, each on a store `make` opens
/// afresh, and exits as libtest would. `make` resolving to `None` (a store
/// that cannot be reached here, which `make` reports) passes the case at
/// once. The store is closed before its guard (a temporary directory, a
/// throwaway database) goes.
pub fn run<S, G, F, Fut>(make: F) -> ExitCode
where
    S: Store + 'static,
    G: 'static,
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<(S, G)>>,
{
    let args = libtest_mimic::Arguments::from_args();
    let trials = all()
        .into_iter()
        .map(|case| {
            let make = make.clone();
            let name = case.name.trim_start_matches("orgd_store_tests::");
            libtest_mimic::Trial::test(name, move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let Some((store, guard)) = make().await else {
                        return;
                    };
                    (case.run)(&store).await;
                    store.close().await;
                    drop(guard);
                });
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// A file of this crate that no `mod` declares is never compiled, and
    /// its cases never run: the one way a case could be left out unseen
    /// (a declared case missing from `cases!`, or a module's `CASES`
    /// missing from [`super::all`], is dead code `clippy -D warnings` refuses).
    #[test]
    fn every_file_of_the_suite_is_declared() {
        fn walk(dir: &Path, undeclared: &mut Vec<String>) {
            let parent = ["lib.rs", "mod.rs"]
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.exists())
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                let name = entry.file_name().into_string().unwrap();
                let module = name.trim_end_matches(".rs");
                if name == "lib.rs" || name == "mod.rs" {
                    continue;
                }
                if !parent.contains(&format!("mod {module};")) {
                    undeclared.push(path.display().to_string());
                }
                if path.is_dir() {
                    walk(&path, undeclared);
                }
            }
        }
        let mut undeclared = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut undeclared,
        );
        assert!(undeclared.is_empty(), "no `mod` declares {undeclared:?}");
    }
}
