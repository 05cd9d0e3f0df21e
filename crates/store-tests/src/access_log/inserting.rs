//! Batch inserts: what is kept, every field read back, and a batch too large
//! for one statement's parameters.

use orgd_core::access_log::{AccessEntry, AccessFilter, Outcome, Source};
use orgd_core::store::Store;
use serde_json::json;

use crate::fixtures::{access, at, at_ms, insert_access, tombstone};

use super::{entries, everything, ids, prune, two_orgs};

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

crate::cases![
    inserting_access_entries_keeps_only_those_of_existing_orgs,
    access_entries_read_back_with_every_field,
    a_large_batch_of_access_entries_is_stored_in_one_call,
];
