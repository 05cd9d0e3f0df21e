//! The outbox of events: positions in one order, the feed's filters, and
//! pruning by age.

use chrono::{DateTime, Utc};
use orgd_core::events::{EventFilter, EventScope, NewEvent, TypeFilter};
use orgd_core::store::Store;

use crate::fixtures::{at, oid};

fn event(id: &str, kind: &str, org: &str, path: &str, when: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: id.into(),
        kind: kind.into(),
        org_id: org.into(),
        org_path: path.into(),
        occurred_at: when,
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

async fn insert(store: &dyn Store, events: &[NewEvent]) {
    let mut tx = store.begin().await.expect("begin");
    tx.insert_outbox_events(events.to_vec())
        .await
        .expect("insert_events");
    tx.commit().await.expect("commit");
}

/// `(position, body's id)` of the events of `filter` after `after`.
async fn after(
    store: &dyn Store,
    filter: &EventFilter,
    after: i64,
    limit: usize,
) -> Vec<(i64, String)> {
    let mut tx = store.read().await.expect("read");
    tx.events_after(filter, after, limit)
        .await
        .expect("events_after")
        .into_iter()
        .map(|(gid, body)| {
            let v: serde_json::Value = serde_json::from_str(&body).expect("stored JSON");
            (gid, v["id"].as_str().expect("id").to_owned())
        })
        .collect()
}

fn ids(rows: &[(i64, String)]) -> Vec<&str> {
    rows.iter().map(|(_, id)| id.as_str()).collect()
}

fn subtree(path: &str, types: Option<&str>) -> EventFilter {
    EventFilter {
        scope: EventScope::Subtree(path.into()),
        types: TypeFilter::parse(types).expect("types"),
    }
}

/// Some orgs' events: r at the root, a under it, a1 under a, ab beside a.
fn sample() -> Vec<NewEvent> {
    vec![
        event("e1", "org.create", "a", "/r/a/", at(1)),
        event("e2", "configs.update", "a1", "/r/a/a1/", at(2)),
        event("e3", "tag.create", "r", "/r/", at(3)),
        event("e4", "org.update", "ab", "/r/ab/", at(4)),
        event("e5", "organization_x.y", "a", "/r/a/", at(5)),
        event("e6", "api_key.create", "a1", "/r/a/a1/", at(6)),
    ]
}

async fn events_read_back_in_insert_order_from_any_position(store: &dyn Store) {
    insert(store, &sample()[..2]).await;
    insert(store, &sample()[2..]).await;
    let all = after(store, &subtree("/r/", None), 0, 100).await;
    assert_eq!(ids(&all), ["e1", "e2", "e3", "e4", "e5", "e6"]);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "positions ascend");
    // Paging: from each position, exactly what follows it.
    for (i, (gid, _)) in all.iter().enumerate() {
        let rest = after(store, &subtree("/r/", None), *gid, 2).await;
        let expected: Vec<&str> = ids(&all)[i + 1..].iter().take(2).copied().collect();
        assert_eq!(ids(&rest), expected, "after {gid}");
    }
    let last = all.last().expect("six").0;
    assert!(
        after(store, &subtree("/r/", None), last, 10)
            .await
            .is_empty()
    );
    // Nothing written by a transaction that rolled back.
    let mut tx = store.begin().await.expect("begin");
    tx.insert_outbox_events(vec![event("gone", "org.create", "a", "/r/a/", at(9))])
        .await
        .expect("insert");
    drop(tx);
    assert!(
        after(store, &subtree("/r/", None), last, 10)
            .await
            .is_empty()
    );
}

async fn events_filter_by_scope_and_type(store: &dyn Store) {
    insert(store, &sample()).await;
    let a = after(store, &subtree("/r/a/", None), 0, 100).await;
    assert_eq!(ids(&a), ["e1", "e2", "e5", "e6"], "a's subtree, not ab's");
    let own = EventFilter {
        scope: EventScope::Org(oid("a")),
        types: TypeFilter::default(),
    };
    assert_eq!(ids(&after(store, &own, 0, 100).await), ["e1", "e5"]);
    let typed = subtree("/r/", Some("org.*,api_key.create"));
    assert_eq!(
        ids(&after(store, &typed, 0, 100).await),
        ["e1", "e4", "e6"],
        "a prefix stops at its dot, and _ is no wildcard"
    );
    let none = subtree("/r/", Some("webhook.disabled"));
    assert!(after(store, &none, 0, 100).await.is_empty());
}

async fn pruning_events_removes_old_ones_in_bounded_steps(store: &dyn Store) {
    insert(store, &sample()).await;
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.prune_events(at(4), 2).await.expect("prune"), 2);
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.prune_events(at(4), 100).await.expect("prune"), 1);
    tx.commit().await.expect("commit");
    let left = after(store, &subtree("/r/", None), 0, 100).await;
    assert_eq!(ids(&left), ["e4", "e5", "e6"]);
    // New events never reuse a position, even once everything was pruned.
    let last = left.last().expect("three").0;
    let mut tx = store.begin().await.expect("begin");
    tx.prune_events(at(100), 100).await.expect("prune");
    tx.commit().await.expect("commit");
    insert(store, &[event("e7", "org.create", "a", "/r/a/", at(7))]).await;
    let fresh = after(store, &subtree("/r/", None), 0, 100).await;
    assert_eq!(ids(&fresh), ["e7"]);
    assert!(fresh[0].0 > last);
}

/// As many events as a cascading delete of a large subtree writes at once:
/// more than one statement could bind.
async fn a_large_batch_of_events_is_stored_in_one_call(store: &dyn Store) {
    let many: Vec<NewEvent> = (0..12_000)
        .map(|n| event(&format!("e{n}"), "org.delete", "a", "/r/a/", at(1)))
        .collect();
    insert(store, &many).await;
    let all = after(store, &subtree("/r/", None), 0, 20_000).await;
    assert_eq!(all.len(), many.len());
    assert_eq!(all[0].1, "e0");
    assert_eq!(all[11_999].1, "e11999", "in the order given");
}

crate::cases![
    a_large_batch_of_events_is_stored_in_one_call,
    events_read_back_in_insert_order_from_any_position,
    events_filter_by_scope_and_type,
    pruning_events_removes_old_ones_in_bounded_steps,
];
