//! Orgs: round trips, uniqueness, listing, moving and subtree queries.

pub(crate) mod listing;
pub(crate) mod records;
pub(crate) mod subtrees;

use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, Store};

use crate::fixtures::{Tree, org_ids};

/// A tree whose org `a` has siblings sharing its id as a prefix (`ab`, `a-b`,
/// `a.b`, `a0`), each with a child, so a subtree scan that forgets the
/// trailing `/` would see them.
///
/// ```text
/// r ─ a ─ a1 ─ a2
///   │   └ z
///   ├ ab ─ ab1
///   ├ a-b ─ x
///   ├ a.b ─ y
///   └ a0 ─ w
/// ```
fn prefix_tree() -> Tree {
    Tree::of("r/a/a1/a2 r/a/z r/ab/ab1 r/a-b/x r/a.b/y r/a0/w")
}

/// Lists every matching org in one page.
async fn list_all(store: &dyn Store, q: &OrgQuery) -> Vec<String> {
    let mut tx = store.read().await.expect("read");
    let rows = tx
        .list_orgs(q, &PageRequest::first(1000))
        .await
        .expect("list_orgs");
    org_ids(&rows).into_iter().map(str::to_owned).collect()
}

/// A page of `limit` rows after the position `key`.
fn page_after(limit: usize, key: &str) -> PageRequest<String> {
    PageRequest {
        limit,
        after: Some(key.to_owned()),
    }
}

fn subtree(path: &str, include_root: bool) -> OrgQuery {
    OrgQuery {
        subtree_of: path.to_owned(),
        include_root,
        ..OrgQuery::default()
    }
}
