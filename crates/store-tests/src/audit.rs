//! The audit trail: appending, heads, per-org and subtree listings, chains.

use orgd_core::audit::{AuditEvent, ChainVerifier};
use orgd_core::page::PageRequest;
use orgd_core::store::{AuditFilter, Store};

use crate::fixtures::{
    Step, Tree, append_event, assert_conflict, at, at_ms, chain, event, insert_events, oid, seqs,
    simple_chain, tombstone,
};

fn no_filter() -> AuditFilter {
    AuditFilter::default()
}

fn page(limit: usize, after: Option<i64>) -> PageRequest<i64> {
    PageRequest { limit, after }
}

async fn org_events(
    store: &dyn Store,
    org: &str,
    filter: &AuditFilter,
    page: &PageRequest<i64>,
) -> Vec<i64> {
    let mut tx = store.read().await.expect("read");
    let rows = tx
        .org_events(&oid(org), filter, page)
        .await
        .expect("org_events");
    seqs(&rows)
}

async fn inserted_events_read_back_and_the_newest_is_the_head(store: &dyn Store) {
    Tree::of("r/a").insert(store).await;
    let events = simple_chain("a", 3);

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.audit_head(&oid("a")).await.expect("audit_head"), None);
    tx.insert_audit_event(&events[0])
        .await
        .expect("insert_event");
    assert_eq!(
        tx.audit_head(&oid("a")).await.expect("audit_head"),
        Some((1, events[0].hash.clone()))
    );
    tx.insert_audit_event(&events[1])
        .await
        .expect("insert_event");
    tx.insert_audit_event(&events[2])
        .await
        .expect("insert_event");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.audit_head(&oid("a")).await.expect("audit_head"),
        Some((3, events[2].hash.clone()))
    );
    assert_eq!(tx.audit_head(&oid("r")).await.expect("audit_head"), None);
    let stored = tx.chain_events(&oid("a"), 0, 10).await.expect("chain");
    assert_eq!(stored, events);

    let mut verifier = ChainVerifier::default();
    stored.iter().for_each(|e| verifier.push(e));
    let verdict = verifier.finish();
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.head, events[2].hash);
}

async fn inserting_a_duplicate_seq_conflicts(store: &dyn Store) {
    Tree::of("r/a r/b").insert(store).await;
    let first = simple_chain("a", 1);
    insert_events(store, &first).await;

    let mut rival = event("a", 1, &first[0].prev_hash, at(9), "org.delete", None);
    rival.id = "evt_rival".to_owned();
    rival.hash = rival.compute_hash();
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(
        tx.insert_audit_event(&rival).await,
        "a duplicate (org_id, seq)",
    );
    drop(tx);

    // The same seq in another org is no conflict.
    insert_events(store, &simple_chain("b", 1)).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.chain_events(&oid("a"), 0, 10).await.expect("chain"),
        first
    );
    assert_eq!(
        tx.audit_head(&oid("b"))
            .await
            .expect("audit_head")
            .map(|h| h.0),
        Some(1)
    );
}

async fn org_events_are_newest_first_and_page_by_seq(store: &dyn Store) {
    Tree::of("r/a r/b").insert(store).await;
    insert_events(store, &simple_chain("a", 5)).await;
    insert_events(store, &simple_chain("b", 2)).await;

    let f = no_filter();
    assert_eq!(org_events(store, "a", &f, &page(2, None)).await, [5, 4, 3]);
    assert_eq!(
        org_events(store, "a", &f, &page(2, Some(4))).await,
        [3, 2, 1]
    );
    assert_eq!(org_events(store, "a", &f, &page(2, Some(2))).await, [1]);
    assert!(
        org_events(store, "a", &f, &page(2, Some(1)))
            .await
            .is_empty()
    );
    assert_eq!(
        org_events(store, "a", &f, &page(5, None)).await,
        [5, 4, 3, 2, 1]
    );
    assert_eq!(org_events(store, "b", &f, &page(10, None)).await, [2, 1]);
    assert!(org_events(store, "r", &f, &page(10, None)).await.is_empty());

    let mut tx = store.read().await.expect("read");
    let rows = tx
        .org_events(&oid("a"), &f, &page(10, None))
        .await
        .expect("org_events");
    let mut expected = simple_chain("a", 5);
    expected.reverse();
    assert_eq!(rows, expected);
}

async fn org_events_filter_by_action_and_key(store: &dyn Store) {
    Tree::of("r/a").insert(store).await;
    let step = |secs, action, key_id| Step {
        when: at(secs),
        action,
        key_id,
    };
    insert_events(
        store,
        &chain(
            "a",
            &[
                step(0, "org.create", Some("key_1")),
                step(1, "org.update", Some("key_2")),
                step(2, "key.create", Some("key_1")),
                step(3, "org.update", Some("key_1")),
                step(4, "org.update", None),
                step(5, "key.revoke", Some("key_2")),
            ],
        ),
    )
    .await;

    let action = |a: &str| AuditFilter {
        action: Some(a.to_owned()),
        ..AuditFilter::default()
    };
    let key = |k: &str| AuditFilter {
        key_id: Some(k.to_owned()),
        ..AuditFilter::default()
    };
    let all = page(100, None);
    assert_eq!(
        org_events(store, "a", &action("org.update"), &all).await,
        [5, 4, 2]
    );
    assert_eq!(
        org_events(store, "a", &action("key.create"), &all).await,
        [3]
    );
    assert!(
        org_events(store, "a", &action("org.up"), &all)
            .await
            .is_empty()
    );
    assert_eq!(org_events(store, "a", &key("key_1"), &all).await, [4, 3, 1]);
    assert_eq!(org_events(store, "a", &key("key_2"), &all).await, [6, 2]);
    let both = AuditFilter {
        action: Some("org.update".to_owned()),
        key_id: Some("key_1".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(org_events(store, "a", &both, &all).await, [4]);
    // Filters and paging combine.
    assert_eq!(
        org_events(store, "a", &action("org.update"), &page(1, Some(5))).await,
        [4, 2]
    );
}

async fn org_events_filter_by_time_start_inclusive_end_exclusive(store: &dyn Store) {
    Tree::of("r/a").insert(store).await;
    // seq n happens at t0 + (n - 1) s.
    insert_events(store, &simple_chain("a", 5)).await;

    let between = |start, end| AuditFilter {
        start,
        end,
        ..AuditFilter::default()
    };
    let all = page(100, None);
    assert_eq!(
        org_events(store, "a", &between(Some(at(1)), Some(at(3))), &all).await,
        [3, 2]
    );
    assert_eq!(
        org_events(store, "a", &between(Some(at(3)), None), &all).await,
        [5, 4]
    );
    assert_eq!(
        org_events(store, "a", &between(None, Some(at(1))), &all).await,
        [1]
    );
    // Millisecond precision at both ends.
    assert_eq!(
        org_events(
            store,
            "a",
            &between(Some(at_ms(999)), Some(at_ms(1_001))),
            &all
        )
        .await,
        [2]
    );
    assert_eq!(
        org_events(
            store,
            "a",
            &between(Some(at_ms(1_001)), Some(at_ms(2_000))),
            &all
        )
        .await,
        Vec::<i64>::new()
    );
    assert!(
        org_events(store, "a", &between(Some(at(2)), Some(at(2))), &all)
            .await
            .is_empty()
    );
}

/// ```text
/// r ─ a ─ a1 ─ a2
///   │   └ dead (†)
///   ├ ab
///   ├ a-b
///   └ a.b
/// ```
/// with events interleaved across orgs, each appended in its own
/// transaction. Returns the events of `a`'s strict descendants, newest first.
async fn subtree_with_events(store: &dyn Store) -> (Tree, Vec<AuditEvent>) {
    let tree = Tree::of("r/a/a1/a2 r/a/dead r/ab r/a-b r/a.b");
    tree.insert(store).await;
    let mut inside = Vec::new();
    let plan = [
        ("a", "org.update"),
        ("a1", "org.create"),
        ("ab", "org.update"),
        ("a2", "org.create"),
        ("dead", "org.create"),
        ("a1", "key.create"),
        ("a-b", "org.update"),
        ("a.b", "org.update"),
        ("r", "org.update"),
        ("dead", "org.delete"),
        ("a", "org.update"),
        ("a2", "org.update"),
    ];
    for (i, (org, action)) in plan.into_iter().enumerate() {
        let e = append_event(store, org, at(i as i64), action).await;
        if ["a1", "a2", "dead"].contains(&org) {
            inside.push(e);
        }
    }
    tombstone(store, "dead", at(100)).await;
    inside.reverse();
    (tree, inside)
}

async fn subtree_events_cover_strict_descendants_only_newest_first(store: &dyn Store) {
    let (tree, expected) = subtree_with_events(store).await;

    let mut tx = store.read().await.expect("read");
    let rows = tx
        .subtree_events(&tree.path("a"), &no_filter(), &page(100, None))
        .await
        .expect("subtree_events");
    let events: Vec<AuditEvent> = rows.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(events, expected);
    let keys: Vec<i64> = rows.iter().map(|(k, _)| *k).collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "global order keys strictly decrease: {keys:?}"
    );

    // A leaf has no strict descendants; the root sees every other org's events.
    let leaf = tx
        .subtree_events(&tree.path("a2"), &no_filter(), &page(100, None))
        .await
        .expect("subtree_events");
    assert!(leaf.is_empty());
    let everything = tx
        .subtree_events(&tree.path("r"), &no_filter(), &page(100, None))
        .await
        .expect("subtree_events");
    assert_eq!(everything.len(), 11);
    assert!(everything.iter().all(|(_, e)| e.org_id != "r"));
}

async fn subtree_events_page_by_their_global_order(store: &dyn Store) {
    let (tree, expected) = subtree_with_events(store).await;
    let path = tree.path("a");

    let mut tx = store.read().await.expect("read");
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let rows = tx
            .subtree_events(&path, &no_filter(), &page(2, after))
            .await
            .expect("subtree_events");
        assert!(
            rows.len() <= 3,
            "at most limit + 1 rows, got {}",
            rows.len()
        );
        pages += 1;
        let more = rows.len() > 2;
        let kept: Vec<_> = rows.into_iter().take(2).collect();
        after = kept.last().map(|(k, _)| *k);
        seen.extend(kept.into_iter().map(|(_, e)| e));
        if !more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
}

/// Stores may read a large subtree differently from a small one (orgd's
/// read it org by org below a few hundred orgs); the answer is the same.
async fn subtree_events_of_a_large_subtree_page_and_filter_alike(store: &dyn Store) {
    let mut tree = Tree::of("r/big r/out");
    for i in 0..300 {
        tree = tree.add("big", &format!("b{i}"));
    }
    tree.insert(store).await;
    let mut inside = Vec::new();
    for i in 0..300i64 {
        let action = if i % 3 == 0 {
            "org.update"
        } else {
            "org.create"
        };
        inside.push(append_event(store, &format!("b{i}"), at(i), action).await);
        if i % 10 == 0 {
            append_event(store, "out", at(i), "org.update").await;
        }
    }
    inside.reverse();

    let mut tx = store.read().await.expect("read");
    let path = tree.path("big");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let rows = tx
            .subtree_events(&path, &no_filter(), &page(7, after))
            .await
            .expect("subtree_events");
        assert!(rows.len() <= 8);
        let more = rows.len() > 7;
        let kept: Vec<_> = rows.into_iter().take(7).collect();
        after = kept.last().map(|(k, _)| *k);
        seen.extend(kept.into_iter().map(|(_, e)| e));
        if !more {
            break;
        }
    }
    assert_eq!(seen, inside);

    let updates = AuditFilter {
        action: Some("org.update".into()),
        ..no_filter()
    };
    let rows = tx
        .subtree_events(&path, &updates, &page(500, None))
        .await
        .expect("subtree_events");
    let got: Vec<AuditEvent> = rows.into_iter().map(|(_, e)| e).collect();
    let want: Vec<AuditEvent> = inside
        .iter()
        .filter(|e| e.action == "org.update")
        .cloned()
        .collect();
    assert_eq!(got, want);

    let one = AuditFilter {
        org_id: Some(oid("b42")),
        ..no_filter()
    };
    let rows = tx
        .subtree_events(&path, &one, &page(10, None))
        .await
        .expect("subtree_events");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.org_id, "b42");
}

async fn subtree_events_apply_the_filters(store: &dyn Store) {
    let (tree, expected) = subtree_with_events(store).await;
    let path = tree.path("a");
    let ids = |rows: Vec<(i64, AuditEvent)>| -> Vec<String> {
        rows.into_iter().map(|(_, e)| e.id).collect()
    };
    let expect = |pred: &dyn Fn(&AuditEvent) -> bool| -> Vec<String> {
        expected
            .iter()
            .filter(|e| pred(e))
            .map(|e| e.id.clone())
            .collect()
    };

    let mut tx = store.read().await.expect("read");
    let all = page(100, None);
    let by_org = AuditFilter {
        org_id: Some(oid("a1")),
        ..AuditFilter::default()
    };
    let rows = tx
        .subtree_events(&path, &by_org, &all)
        .await
        .expect("subtree");
    assert_eq!(ids(rows), expect(&|e| e.org_id == "a1"));
    assert_eq!(expect(&|e| e.org_id == "a1").len(), 2);

    let by_action = AuditFilter {
        action: Some("org.create".to_owned()),
        ..AuditFilter::default()
    };
    let rows = tx
        .subtree_events(&path, &by_action, &all)
        .await
        .expect("subtree");
    assert_eq!(ids(rows), expect(&|e| e.action == "org.create"));

    let by_key = AuditFilter {
        key_id: Some("key_1".to_owned()),
        ..AuditFilter::default()
    };
    let rows = tx
        .subtree_events(&path, &by_key, &all)
        .await
        .expect("subtree");
    assert_eq!(ids(rows), expect(&|_| true));
    let by_other_key = AuditFilter {
        key_id: Some("key_2".to_owned()),
        ..AuditFilter::default()
    };
    let rows = tx
        .subtree_events(&path, &by_other_key, &all)
        .await
        .expect("subtree");
    assert!(rows.is_empty());

    // Plan step i happens at t0 + i s; steps 3..=5 are a2, dead and a1 events.
    let by_time = AuditFilter {
        start: Some(at(3)),
        end: Some(at(6)),
        ..AuditFilter::default()
    };
    let rows = tx
        .subtree_events(&path, &by_time, &all)
        .await
        .expect("subtree");
    assert_eq!(
        ids(rows),
        expect(&|e| e.timestamp >= at(3) && e.timestamp < at(6))
    );
    assert_eq!(
        expect(&|e| e.timestamp >= at(3) && e.timestamp < at(6)).len(),
        3
    );

    // An org outside the subtree yields nothing even when named.
    let outside = AuditFilter {
        org_id: Some(oid("ab")),
        ..AuditFilter::default()
    };
    let rows = tx
        .subtree_events(&path, &outside, &all)
        .await
        .expect("subtree");
    assert!(rows.is_empty());
}

async fn chain_events_are_oldest_first_after_a_seq(store: &dyn Store) {
    Tree::of("r/a r/b").insert(store).await;
    let events = simple_chain("a", 5);
    insert_events(store, &events).await;
    insert_events(store, &simple_chain("b", 3)).await;

    let mut tx = store.read().await.expect("read");
    let a = oid("a");
    assert_eq!(tx.chain_events(&a, 0, 100).await.expect("chain"), events);
    assert_eq!(
        seqs(&tx.chain_events(&a, 2, 100).await.expect("chain")),
        [3, 4, 5]
    );
    assert_eq!(
        seqs(&tx.chain_events(&a, 0, 2).await.expect("chain")),
        [1, 2]
    );
    assert_eq!(
        seqs(&tx.chain_events(&a, 2, 2).await.expect("chain")),
        [3, 4]
    );
    assert!(tx.chain_events(&a, 5, 100).await.expect("chain").is_empty());
    assert_eq!(
        seqs(&tx.chain_events(&oid("b"), 1, 100).await.expect("chain")),
        [2, 3]
    );
}

crate::cases![
    inserted_events_read_back_and_the_newest_is_the_head,
    inserting_a_duplicate_seq_conflicts,
    org_events_are_newest_first_and_page_by_seq,
    org_events_filter_by_action_and_key,
    org_events_filter_by_time_start_inclusive_end_exclusive,
    subtree_events_cover_strict_descendants_only_newest_first,
    subtree_events_page_by_their_global_order,
    subtree_events_apply_the_filters,
    subtree_events_of_a_large_subtree_page_and_filter_alike,
    chain_events_are_oldest_first_after_a_seq,
];
