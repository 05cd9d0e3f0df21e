//! Pruning by age, at most so many rows a call, in write order.

use orgd_core::access_log::{AccessEntry, AccessFilter};
use orgd_core::store::Store;

use crate::fixtures::{access, at, at_ms, insert_access};

use super::{entries, everything, ids, page, prune, two_orgs};

/// Batches of two, one org each, so that every store looks at the same
/// entries whether it keeps batches together or not.
async fn pruning_the_access_log_removes_older_entries_at_most_max_rows_per_call(store: &dyn Store) {
    two_orgs().insert(store).await;
    let cutoff = at(100);
    for batch in [
        [access("a", "old1", at(0)), access("a", "old3", at(2))],
        [access("b", "old2", at(1)), access("b", "old4", at(3))],
        [access("a", "old5", at(4)), access("a", "at_cutoff", cutoff)],
        [
            access("b", "old6", at_ms(99_999)),
            access("b", "new1", at_ms(100_001)),
        ],
    ] {
        insert_access(store, &batch).await;
    }
    insert_access(store, &[access("b", "new2", at(101))]).await;

    assert_eq!(prune(store, cutoff, 0).await, 0);
    assert_eq!(prune(store, cutoff, 4).await, 4);
    // Half of each of the next two batches is old.
    assert_eq!(prune(store, cutoff, 4).await, 2);
    assert_eq!(prune(store, cutoff, 4).await, 0);

    let none = AccessFilter::default();
    assert_eq!(ids(store, "a", &none).await, ["at_cutoff"]);
    assert_eq!(ids(store, "b", &none).await, ["new2", "new1"]);

    assert_eq!(prune(store, at(1_000), 100).await, 3);
    assert_eq!(ids(store, "a", &none).await, Vec::<String>::new());
    assert_eq!(ids(store, "b", &none).await, Vec::<String>::new());
}

/// A batch of old and new entries loses only the old ones, and what stays
/// keeps its position: a page key taken before the pruning still works.
async fn pruning_part_of_a_batch_keeps_the_rest_in_place(store: &dyn Store) {
    two_orgs().insert(store).await;
    let batch: Vec<AccessEntry> = (0..10)
        .map(|i| {
            access(
                "a",
                &format!("e{i}"),
                at(if i % 2 == 0 { i } else { 200 + i }),
            )
        })
        .collect();
    insert_access(store, &batch).await;
    let all = entries(store, "a", &AccessFilter::default(), &everything()).await;
    let (pos, last) = &all[2];
    let key = Some((last.timestamp, *pos));
    let after_before = entries(store, "a", &AccessFilter::default(), &page(100, key)).await;

    assert_eq!(prune(store, at(100), 1_000).await, 5);
    let kept = entries(store, "a", &AccessFilter::default(), &everything()).await;
    assert_eq!(kept, all[..5]);
    let after_now = entries(store, "a", &AccessFilter::default(), &page(100, key)).await;
    assert_eq!(after_now, after_before[..2]);
    assert_eq!(prune(store, at(100), 1_000).await, 0);
}

/// Pruning follows write order: an entry dated ahead holds its place at the
/// front, and what was written before and after it still goes.
async fn pruning_the_access_log_looks_at_entries_in_write_order(store: &dyn Store) {
    two_orgs().insert(store).await;
    let cutoff = at(100);
    // One entry a batch, so that every store looks at the same entries
    // whether it keeps batches together or not.
    for entry in [
        access("a", "dated_ahead", at(200)),
        access("a", "old1", at(1)),
        access("b", "old2", at(2)),
        access("a", "new", at(150)),
        access("b", "old3", at(3)),
    ] {
        insert_access(store, &[entry]).await;
    }

    // The two written first: one is old.
    assert_eq!(prune(store, cutoff, 2).await, 1);
    // Then `dated_ahead` and `old2`; then `dated_ahead` and `new`: nothing.
    assert_eq!(prune(store, cutoff, 2).await, 1);
    assert_eq!(prune(store, cutoff, 2).await, 0);
    // A wider look reaches `old3`.
    assert_eq!(prune(store, cutoff, 10).await, 1);

    let none = AccessFilter::default();
    assert_eq!(ids(store, "a", &none).await, ["dated_ahead", "new"]);
    assert_eq!(ids(store, "b", &none).await, Vec::<String>::new());
}

crate::cases![
    pruning_the_access_log_removes_older_entries_at_most_max_rows_per_call,
    pruning_the_access_log_looks_at_entries_in_write_order,
    pruning_part_of_a_batch_keeps_the_rest_in_place,
];
