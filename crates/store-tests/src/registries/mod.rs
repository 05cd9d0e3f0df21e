//! Limited resources: the registries of `ResourceRepo` (round trips,
//! uniqueness, listing, deleting), `KeyRepo::count_live_keys`, and the
//! lock-count-insert pattern by which the service enforces limits.

pub(crate) mod limits;
pub(crate) mod registry;

use orgd_core::page::PageRequest;
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::store::Store;

use crate::fixtures::{Tree, oid};

fn two_orgs() -> Tree {
    Tree::of("r/a r/b")
}

/// The org's items of `kind`, read in a fresh read transaction.
async fn read_all(store: &dyn Store, org: &str, kind: ResourceKind) -> Vec<Resource> {
    let mut tx = store.read().await.expect("read");
    tx.list_resources(&oid(org), kind, &PageRequest::first(1000))
        .await
        .expect("list_resources")
}

/// How many items of `kind` the org holds, read in a fresh read transaction.
async fn read_count(store: &dyn Store, org: &str, kind: ResourceKind) -> i64 {
    let mut tx = store.read().await.expect("read");
    tx.count_resources(&oid(org), kind)
        .await
        .expect("count_resources")
}
