//! The access log: batch inserts, the newest-first listing with its filters
//! and keyset pages, and pruning by age.
//!
//! An entry's position is the store's own tie-breaker among entries sharing a
//! timestamp; the suite only uses it as the page key it was given.

use chrono::{DateTime, Utc};
use orgd_core::access::{AccessEntry, AccessFilter, Outcome, Source};
use orgd_core::page::PageRequest;
use orgd_core::store::Store;
use serde_json::json;

use crate::fixtures::{Tree, access, at, at_ms, insert_access, oid, tombstone};

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

async fn inserting_access_entries_keeps_only_those_of_existing_orgs(store: &dyn Store) {
    two_orgs().insert(store).await;
    tombstone(store, "b", at(1)).await;

    let stored = insert_access(
        store,
        &[
            access("a", "e1", at(1)),
            access("ghost", "e2", at(2)),
            access("b", "e3", at(3)),
            access("a", "e4", at(4)),
            access("nobody-else", "e5", at(5)),
        ],
    )
    .await;
    assert_eq!(stored, 3);
    assert_eq!(
        insert_access(store, &[access("ghost", "e6", at(6))]).await,
        0
    );
    assert_eq!(insert_access(store, &[]).await, 0);

    let none = AccessFilter::default();
    assert_eq!(ids(store, "a", &none).await, ["e4", "e1"]);
    // A tombstoned org keeps its entries.
    assert_eq!(ids(store, "b", &none).await, ["e3"]);
    assert_eq!(ids(store, "ghost", &none).await, Vec::<String>::new());

    // Dropped, not kept aside: an org made later under that id has no entries.
    let tree = two_orgs().add("r", "ghost");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(tree.org("ghost")).await.expect("insert_org");
    tx.commit().await.expect("commit");
    assert_eq!(ids(store, "ghost", &none).await, Vec::<String>::new());
}

async fn access_entries_read_back_with_every_field(store: &dyn Store) {
    two_orgs().insert(store).await;
    let full = AccessEntry {
        id: "acc_full".to_owned(),
        timestamp: at_ms(1_001),
        org_id: "a".to_owned(),
        user: Some("José — ü@example.com".to_owned()),
        key_id: Some("key_1".to_owned()),
        action: "org.update".to_owned(),
        status: Outcome::Failure,
        http_status: Some(503),
        method: Some("PATCH".to_owned()),
        path: Some("/v1/orgs/a?x=1&y=%20".to_owned()),
        ip: Some("2001:db8::1".to_owned()),
        user_agent: Some("curl/8.0 (é; \"quoted\")".to_owned()),
        request_id: Some("req-1".to_owned()),
        latency_ms: Some(1_234),
        source: Source::External,
        details: Some(json!({
            "reason": "bad password — ✓",
            "attempts": [1, 2.5, -3, null, true],
            "nested": {"big": 9_007_199_254_740_993_i64, "empty": {}},
        })),
    };
    let mut bare = access("a", "acc_bare", at(0));
    bare.user = None;
    let text = AccessEntry {
        details: Some(json!("just text")),
        source: Source::External,
        action: "LOGIN".to_owned(),
        ..access("a", "acc_text", at(2))
    };
    assert_eq!(
        insert_access(store, &[full.clone(), bare.clone(), text.clone()]).await,
        3
    );

    let rows: Vec<AccessEntry> = entries(store, "a", &AccessFilter::default(), &everything())
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(rows, [text, full, bare]);
}

async fn access_entries_are_newest_first_by_timestamp_then_position(store: &dyn Store) {
    two_orgs().insert(store).await;
    // Out of order, over two calls, three sharing one instant.
    insert_access(
        store,
        &[
            access("a", "e1", at(5)),
            access("a", "e2", at(1)),
            access("b", "b1", at(4)),
            access("a", "e3", at(5)),
            access("a", "e4", at(3)),
        ],
    )
    .await;
    insert_access(
        store,
        &[
            access("a", "e5", at(5)),
            access("a", "e6", at(0)),
            access("b", "b2", at(9)),
            access("a", "e7", at_ms(5_001)),
        ],
    )
    .await;

    let rows = entries(store, "a", &AccessFilter::default(), &everything()).await;
    assert_newest_first(&rows);
    let times: Vec<_> = rows.iter().map(|(_, e)| e.timestamp).collect();
    assert_eq!(
        times,
        [at_ms(5_001), at(5), at(5), at(5), at(3), at(1), at(0)]
    );
    let mut tied: Vec<&str> = rows[1..4].iter().map(|(_, e)| e.id.as_str()).collect();
    tied.sort_unstable();
    assert_eq!(tied, ["e1", "e3", "e5"]);
    let ids: Vec<&str> = rows.iter().map(|(_, e)| e.id.as_str()).collect();
    assert_eq!((ids[0], &ids[4..]), ("e7", &["e4", "e2", "e6"][..]));
    assert!(rows.iter().all(|(_, e)| e.org_id == "a"));
}

async fn access_entries_filter_by_time_user_action_and_status(store: &dyn Store) {
    two_orgs().insert(store).await;
    let entry =
        |id: &str, secs: i64, user: Option<&str>, action: &str, status: Outcome| AccessEntry {
            user: user.map(str::to_owned),
            action: action.to_owned(),
            status,
            ..access("a", id, at(secs))
        };
    let ada = Some("ada@example.com");
    insert_access(
        store,
        &[
            entry("e0", 0, ada, "org.read", Outcome::Success),
            entry(
                "e1",
                10,
                Some("bob@example.com"),
                "org.read",
                Outcome::Failure,
            ),
            entry("e2", 20, ada, "LOGIN", Outcome::Success),
            entry("e3", 30, None, "LOGIN", Outcome::Failure),
            entry("e4", 40, ada, "org.update", Outcome::Success),
            // Another org's entry, matching every filter below.
            AccessEntry {
                action: "LOGIN".to_owned(),
                ..access("b", "b0", at(20))
            },
        ],
    )
    .await;

    let f = AccessFilter::default;
    let check = async |filter: AccessFilter, expected: &[&str]| {
        assert_eq!(ids(store, "a", &filter).await, expected, "{filter:?}");
    };
    check(f(), &["e4", "e3", "e2", "e1", "e0"]).await;
    // start is inclusive, end exclusive.
    let start = |secs| Some(at(secs));
    check(
        AccessFilter {
            start: start(10),
            ..f()
        },
        &["e4", "e3", "e2", "e1"],
    )
    .await;
    check(
        AccessFilter {
            end: start(30),
            ..f()
        },
        &["e2", "e1", "e0"],
    )
    .await;
    check(
        AccessFilter {
            start: start(10),
            end: start(30),
            ..f()
        },
        &["e2", "e1"],
    )
    .await;
    check(
        AccessFilter {
            start: start(20),
            end: start(20),
            ..f()
        },
        &[],
    )
    .await;
    check(
        AccessFilter {
            start: Some(at_ms(10_001)),
            end: Some(at_ms(39_999)),
            ..f()
        },
        &["e3", "e2"],
    )
    .await;
    // user and action match whole and case-sensitively.
    let user = |u: &str| AccessFilter {
        user: Some(u.to_owned()),
        ..f()
    };
    check(user("ada@example.com"), &["e4", "e2", "e0"]).await;
    check(user("bob@example.com"), &["e1"]).await;
    check(user("ada"), &[]).await;
    check(user("ADA@example.com"), &[]).await;
    let action = |a: &str| AccessFilter {
        action: Some(a.to_owned()),
        ..f()
    };
    check(action("LOGIN"), &["e3", "e2"]).await;
    check(action("login"), &[]).await;
    check(action("org"), &[]).await;
    let status = |s| AccessFilter {
        status: Some(s),
        ..f()
    };
    check(status(Outcome::Failure), &["e3", "e1"]).await;
    check(status(Outcome::Success), &["e4", "e2", "e0"]).await;
    // All at once.
    check(
        AccessFilter {
            start: start(20),
            end: start(21),
            user: Some("ada@example.com".to_owned()),
            action: Some("LOGIN".to_owned()),
            status: Some(Outcome::Success),
        },
        &["e2"],
    )
    .await;
    check(
        AccessFilter {
            user: Some("ada@example.com".to_owned()),
            status: Some(Outcome::Failure),
            ..f()
        },
        &[],
    )
    .await;
}

async fn access_entries_page_by_timestamp_and_position(store: &dyn Store) {
    two_orgs().insert(store).await;
    // 13 entries of `a`, most sharing their instant with others, so page
    // boundaries fall inside ties; `b`'s entries interleave.
    let mut batch = Vec::new();
    let mut n = 0;
    for (secs, count) in [(3, 4), (0, 1), (4, 3), (1, 4), (2, 1)] {
        for _ in 0..count {
            n += 1;
            let mut e = access("a", &format!("e{n:02}"), at(secs));
            if n % 3 == 0 {
                e.status = Outcome::Failure;
            }
            batch.push(e);
            batch.push(access("b", &format!("b{n:02}"), at(secs)));
        }
    }
    insert_access(store, &batch).await;

    for filter in [
        AccessFilter::default(),
        AccessFilter {
            status: Some(Outcome::Failure),
            ..AccessFilter::default()
        },
    ] {
        let all = entries(store, "a", &filter, &everything()).await;
        assert_newest_first(&all);
        let expected = if filter.status.is_some() { 4 } else { 13 };
        assert_eq!(all.len(), expected, "{filter:?}");

        for limit in [1, 3, 4] {
            let (seen, pages) = paged(store, "a", &filter, limit).await;
            assert_eq!(seen, all, "pages of {limit} with {filter:?}");
            assert_eq!(pages, all.len().div_ceil(limit), "pages of {limit}");
        }
    }

    // A full page has limit + 1 rows: the extra one opens the next page.
    let all = entries(store, "a", &AccessFilter::default(), &everything()).await;
    let mut tx = store.read().await.expect("read");
    let first = tx
        .access_entries(&oid("a"), &AccessFilter::default(), &page(4, None))
        .await
        .expect("access_entries");
    assert_eq!(first, all[..5]);
    // Exactly `limit` rows left: no extra row.
    let (pos, last) = &all[8];
    let rest = tx
        .access_entries(
            &oid("a"),
            &AccessFilter::default(),
            &page(4, Some((last.timestamp, *pos))),
        )
        .await
        .expect("access_entries");
    assert_eq!(rest, all[9..]);
    // A key naming no entry still works as a position: what is older than 2.5 s.
    let older = tx
        .access_entries(
            &oid("a"),
            &AccessFilter::default(),
            &page(100, Some((at_ms(2_500), 0))),
        )
        .await
        .expect("access_entries");
    let times: Vec<_> = older.iter().map(|(_, e)| e.timestamp).collect();
    assert_eq!(times, [at(2), at(1), at(1), at(1), at(1), at(0)]);
}

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

async fn a_large_batch_of_access_entries_is_stored_in_one_call(store: &dyn Store) {
    two_orgs().insert(store).await;
    // 1,200 entries in one call: 700 of a, 450 of b and 50 of no org.
    let batch: Vec<AccessEntry> = (0..1_200_i64)
        .map(|i| {
            let org = match i % 24 {
                0 => "ghost",
                n if n % 2 == 1 || n == 2 || n == 4 => "a",
                _ => "b",
            };
            let mut e = access(org, &format!("e{i:04}"), at_ms(i * 7));
            e.request_id = Some(format!("req-{i}"));
            e.latency_ms = Some(i);
            e
        })
        .collect();
    let of = |org: &str| batch.iter().filter(|e| e.org_id == org).count();
    assert_eq!((of("a"), of("b"), of("ghost")), (700, 450, 50));
    assert_eq!(insert_access(store, &batch).await, 1_150);

    for org in ["a", "b"] {
        let rows = entries(store, org, &AccessFilter::default(), &everything()).await;
        let mut expected: Vec<AccessEntry> =
            batch.iter().filter(|e| e.org_id == org).cloned().collect();
        expected.reverse();
        let stored: Vec<AccessEntry> = rows.into_iter().map(|(_, e)| e).collect();
        assert_eq!(stored, expected, "entries of {org}");
    }

    // At most 1,000 a call (or a store's whole batch of one org, 700 or 450).
    let first = prune(store, at(3_600), 1_000).await;
    assert!([700, 1_000].contains(&first), "{first} pruned");
    assert_eq!(prune(store, at(3_600), 1_000).await, 1_150 - first);
    assert_eq!(prune(store, at(3_600), 1_000).await, 0);
}

/// Many batches whose times overlap, read in pages, filtered or not: every
/// entry once, newest first, whatever the page size.
async fn access_entries_from_many_batches_page_in_one_order(store: &dyn Store) {
    two_orgs().insert(store).await;
    // 12 batches of 7: times jump about (0..60 s, many shared), b interleaved.
    let mut n = 0;
    for batch in 0..12_i64 {
        let entries: Vec<AccessEntry> = (0..7_i64)
            .map(|i| {
                n += 1;
                let secs = (batch * 17 + i * 23) % 60;
                let org = if i == 3 { "b" } else { "a" };
                let mut e = access(org, &format!("e{n:03}"), at(secs));
                if n % 4 == 0 {
                    e.status = Outcome::Failure;
                }
                e
            })
            .collect();
        insert_access(store, &entries).await;
    }
    for filter in [
        AccessFilter::default(),
        AccessFilter {
            status: Some(Outcome::Failure),
            start: Some(at(10)),
            end: Some(at(50)),
            ..AccessFilter::default()
        },
    ] {
        let all = entries(store, "a", &filter, &everything()).await;
        assert_newest_first(&all);
        let expected = if filter.status.is_some() { 12 } else { 72 };
        assert_eq!(all.len(), expected, "{filter:?}");
        let mut ids: Vec<&str> = all.iter().map(|(_, e)| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "each entry once");
        for limit in [1, 2, 5, 13] {
            let (seen, _) = paged(store, "a", &filter, limit).await;
            assert_eq!(seen, all, "pages of {limit} with {filter:?}");
        }
    }
}

crate::cases![
    inserting_access_entries_keeps_only_those_of_existing_orgs,
    access_entries_read_back_with_every_field,
    access_entries_are_newest_first_by_timestamp_then_position,
    access_entries_filter_by_time_user_action_and_status,
    access_entries_page_by_timestamp_and_position,
    pruning_the_access_log_removes_older_entries_at_most_max_rows_per_call,
    pruning_the_access_log_looks_at_entries_in_write_order,
    a_large_batch_of_access_entries_is_stored_in_one_call,
    access_entries_from_many_batches_page_in_one_order,
    pruning_part_of_a_batch_keeps_the_rest_in_place,
];
