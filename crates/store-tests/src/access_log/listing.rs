//! The newest-first listing: its order, its filters and its keyset pages.

use orgd_core::access_log::{AccessEntry, AccessFilter, Outcome};
use orgd_core::store::Store;

use crate::fixtures::{access, at, at_ms, insert_access, oid};

use super::{assert_newest_first, entries, everything, ids, page, paged, two_orgs};

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
    access_entries_are_newest_first_by_timestamp_then_position,
    access_entries_filter_by_time_user_action_and_status,
    access_entries_page_by_timestamp_and_position,
    access_entries_from_many_batches_page_in_one_order,
];
