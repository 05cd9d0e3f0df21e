//! The access log: batch inserts, the newest-first listing with its filters
//! and keyset pages, and pruning by age.
//!
//! An entry's position is the store's own tie-breaker among entries sharing a
//! timestamp; the suite only uses it as the page key it was given.

pub(crate) mod inserting;
pub(crate) mod listing;
pub(crate) mod pruning;

use chrono::{DateTime, Utc};
use orgd_core::access_log::{AccessEntry, AccessFilter};
use orgd_core::page::PageRequest;
use orgd_core::store::Store;

use crate::fixtures::{Tree, oid};

type Key = (DateTime<Utc>, i64);

fn page(limit: usize, after: Option<Key>) -> PageRequest<Key> {
    PageRequest { limit, after }
}

fn everything() -> PageRequest<Key> {
    PageRequest::first(10_000)
}

/// The org's entries, with their positions, in a fresh read transaction.
async fn entries(
    store: &dyn Store,
    org: &str,
    filter: &AccessFilter,
    page: &PageRequest<Key>,
) -> Vec<(i64, AccessEntry)> {
    let mut tx = store.read().await.expect("read");
    tx.access_entries(&oid(org), filter, page)
        .await
        .expect("access_entries")
}

/// The ids of the org's entries matching `filter`, in the store's order.
async fn ids(store: &dyn Store, org: &str, filter: &AccessFilter) -> Vec<String> {
    entries(store, org, filter, &everything())
        .await
        .into_iter()
        .map(|(_, e)| e.id)
        .collect()
}

/// Asserts that rows are newest first: `(timestamp, position)` strictly decreasing.
fn assert_newest_first(rows: &[(i64, AccessEntry)]) {
    for w in rows.windows(2) {
        let (k0, k1) = ((w[0].1.timestamp, w[0].0), (w[1].1.timestamp, w[1].0));
        assert!(
            k0 > k1,
            "newest first by (timestamp, position): {k0:?} then {k1:?}"
        );
    }
}

/// Every entry of `org` matching `filter`, read page by page (`limit` a
/// page, each through the key the last gave), and how many pages it took.
/// Each page has at most `limit + 1` rows.
async fn paged(
    store: &dyn Store,
    org: &str,
    filter: &AccessFilter,
    limit: usize,
) -> (Vec<(i64, AccessEntry)>, usize) {
    let mut seen = Vec::new();
    let mut req = page(limit, None);
    let mut pages = 0;
    loop {
        let rows = entries(store, org, filter, &req).await;
        assert!(
            rows.len() <= limit + 1,
            "at most limit + 1 rows, got {} for limit {limit}",
            rows.len()
        );
        pages += 1;
        let more = rows.len() > limit;
        seen.extend(rows.into_iter().take(limit));
        if !more {
            return (seen, pages);
        }
        let (pos, last) = seen.last().expect("a full page");
        req.after = Some((last.timestamp, *pos));
    }
}

fn two_orgs() -> Tree {
    Tree::of("r/a r/b")
}

/// Removes old entries in its own transaction; returns how many.
async fn prune(store: &dyn Store, before: DateTime<Utc>, max_rows: u64) -> u64 {
    let mut tx = store.begin().await.expect("begin");
    let n = tx
        .prune_access_log(before, max_rows)
        .await
        .expect("prune_access_log");
    tx.commit().await.expect("commit");
    n
}
