//! Webhook endpoints and their delivery queue: which deliveries a claim may
//! take (the first pending one of each endpoint and org, not leased, of an
//! enabled endpoint of a live org), which endpoints are behind the outbox,
//! and pruning that keeps what is pending.

use chrono::{DateTime, Utc};
use orgd_core::events::NewEvent;
use orgd_core::page::PageRequest;
use orgd_core::store::Store;
use orgd_core::webhooks::{DeliveryRecord, DeliveryStatus, WebhookRecord, WebhookScope};

use crate::fixtures::{Tree, at, oid, tombstone};

fn webhook(id: &str, org: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        org_id: oid(org),
        url: "https://93.184.216.34/hook".into(),
        types: vec!["org.*".into()],
        scope: WebhookScope::Subtree,
        description: None,
        enabled: true,
        secret: "whsec_c2VjcmV0".into(),
        previous_secret: None,
        created_at: at(0),
        updated_at: at(0),
        cursor: 0,
        failing_since: None,
        disabled_at: None,
    }
}

fn delivery(id: &str, webhook: &str, org: &str, due: DateTime<Utc>) -> DeliveryRecord {
    let (event_id, event_type) = (format!("evt_{id}"), "org.update".to_owned());
    let mut d = DeliveryRecord::pending(webhook, org.into(), event_id, event_type, "{}", at(0));
    d.id = id.into();
    d.next_attempt_at = due;
    d
}

/// Orgs r ⊃ a, b; endpoints w1 on a and w2 on b; deliveries of w1 for
/// orgs a (d1, d2, d3) and a2 (d4), and of w2 (d5), all due at 10 s.
async fn setup(store: &dyn Store) {
    Tree::of("r/a r/b").insert(store).await;
    let mut tx = store.begin().await.expect("begin");
    tx.insert_webhook(&webhook("w1", "a"))
        .await
        .expect("insert");
    tx.insert_webhook(&webhook("w2", "b"))
        .await
        .expect("insert");
    let due = at(10);
    tx.insert_deliveries(&[
        delivery("d1", "w1", "a", due),
        delivery("d2", "w1", "a", due),
        delivery("d4", "w1", "a2", due),
        delivery("d3", "w1", "a", due),
        delivery("d5", "w2", "b", due),
    ])
    .await
    .expect("insert_deliveries");
    tx.commit().await.expect("commit");
}

async fn claim(store: &dyn Store, now: i64, limit: usize) -> Vec<DeliveryRecord> {
    let mut tx = store.begin().await.expect("begin");
    let claimed = tx
        .claim_deliveries(at(now), at(now + 30), limit)
        .await
        .expect("claim");
    tx.commit().await.expect("commit");
    claimed
}

fn ids(ds: &[DeliveryRecord]) -> Vec<&str> {
    let mut ids: Vec<&str> = ds.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

async fn finish(store: &dyn Store, mut d: DeliveryRecord, status: DeliveryStatus) {
    d.status = status;
    d.lease_until = None;
    let mut tx = store.begin().await.expect("begin");
    tx.update_delivery(&d).await.expect("update_delivery");
    tx.commit().await.expect("commit");
}

async fn any_due(store: &dyn Store, now: i64) -> bool {
    let mut tx = store.read().await.expect("read");
    tx.any_due_delivery(at(now))
        .await
        .expect("any_due_delivery")
}

async fn any_behind(store: &dyn Store) -> bool {
    let mut tx = store.read().await.expect("read");
    tx.any_webhook_behind().await.expect("any_webhook_behind")
}

async fn a_claim_takes_the_first_pending_delivery_of_each_endpoint_and_org(store: &dyn Store) {
    setup(store).await;
    assert!(!any_due(store, 5).await);
    assert!(claim(store, 5, 10).await.is_empty(), "nothing is due yet");
    assert!(any_due(store, 10).await);
    let first = claim(store, 10, 10).await;
    assert_eq!(ids(&first), ["d1", "d4", "d5"], "one per endpoint and org");
    assert!(first.iter().all(|d| d.lease_until == Some(at(40))));
    assert!(
        claim(store, 11, 10).await.is_empty(),
        "leased, and d2 waits for d1"
    );
    let d1 = first.into_iter().find(|d| d.id == "d1").expect("d1");
    finish(store, d1, DeliveryStatus::Succeeded).await;
    assert_eq!(ids(&claim(store, 12, 10).await), ["d2"], "d2 follows d1");
    // An expired lease makes a delivery claimable again.
    assert_eq!(ids(&claim(store, 45, 10).await), ["d2", "d4", "d5"]);
    for d in claim(store, 80, 10).await {
        finish(store, d, DeliveryStatus::Succeeded).await;
    }
    let last = claim(store, 81, 10).await;
    assert_eq!(ids(&last), ["d3"]);
    for d in last {
        finish(store, d, DeliveryStatus::Failed).await;
    }
    assert!(!any_due(store, 100).await, "nothing pending");
}

async fn a_claim_skips_disabled_endpoints_and_deleted_orgs(store: &dyn Store) {
    setup(store).await;
    let mut tx = store.begin().await.expect("begin");
    let mut w1 = tx.lock_webhook("w1").await.expect("lock").expect("w1");
    w1.enabled = false;
    tx.update_webhook(&w1).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(ids(&claim(store, 10, 10).await), ["d5"]);
    tombstone(store, "b", at(11)).await;
    assert!(claim(store, 50, 10).await.is_empty());
    let mut tx = store.read().await.expect("read");
    assert_eq!(tx.oldest_pending_delivery().await.expect("oldest"), None);
}

async fn endpoints_behind_the_outbox_are_the_enabled_ones_of_live_orgs(store: &dyn Store) {
    setup(store).await;
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.webhooks_behind(10).await.expect("behind").is_empty(),
        "no events"
    );
    drop(tx);
    assert!(!any_behind(store).await);
    let mut tx = store.begin().await.expect("begin");
    tx.insert_outbox_events(vec![NewEvent {
        id: "evt_1".into(),
        kind: "org.update".into(),
        org_id: "a".into(),
        org_path: "/r/a/".into(),
        occurred_at: at(1),
        body: "{}".into(),
    }])
    .await
    .expect("insert_events");
    // Written as the transaction commits (SQLite), so read in the next.
    tx.commit().await.expect("commit");
    assert!(any_behind(store).await, "looked at in a read transaction");
    let mut tx = store.begin().await.expect("begin");
    let head = tx.last_event_position().await.expect("head");
    let behind = tx.webhooks_behind(10).await.expect("behind");
    assert_eq!(
        behind.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w1", "w2"]
    );
    let mut w1 = behind[0].clone();
    w1.cursor = head;
    tx.update_webhook(&w1).await.expect("update");
    tx.commit().await.expect("commit");
    tombstone(store, "b", at(2)).await;
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.webhooks_behind(10).await.expect("behind").is_empty(),
        "w1 caught up, b deleted"
    );
    drop(tx);
    assert!(!any_behind(store).await);
}

async fn deleting_an_endpoint_takes_its_deliveries_and_lists_page_newest_first(store: &dyn Store) {
    setup(store).await;
    let mut tx = store.begin().await.expect("begin");
    let page = tx
        .list_deliveries("w1", None, &PageRequest::first(2))
        .await
        .expect("list");
    let listed: Vec<&str> = page.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        listed,
        ["d3", "d4", "d2"],
        "newest first, one more than asked"
    );
    let next = PageRequest {
        limit: 10,
        after: Some(page[1].seq),
    };
    let rest = tx.list_deliveries("w1", None, &next).await.expect("list");
    assert_eq!(
        rest.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d2", "d1"]
    );
    let succeeded = tx
        .list_deliveries(
            "w1",
            Some(DeliveryStatus::Succeeded),
            &PageRequest::first(10),
        )
        .await
        .expect("list");
    assert!(succeeded.is_empty(), "none succeeded yet");
    let pending = tx
        .list_deliveries("w1", Some(DeliveryStatus::Pending), &PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(
        pending.len(),
        4,
        "the status filter keeps every pending one"
    );
    assert!(
        !tx.delete_webhook(&oid("b"), "w1").await.expect("delete"),
        "w1 is a's"
    );
    assert!(tx.delete_webhook(&oid("a"), "w1").await.expect("delete"));
    assert!(tx.delivery("w1", "d1").await.expect("delivery").is_none());
    assert!(tx.delivery("w2", "d5").await.expect("delivery").is_some());
    tx.commit().await.expect("commit");
}

async fn pruning_deliveries_keeps_the_pending_ones(store: &dyn Store) {
    setup(store).await;
    let claimed = claim(store, 10, 10).await;
    for d in claimed.into_iter().filter(|d| d.id != "d5") {
        finish(store, d, DeliveryStatus::Failed).await;
    }
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.prune_deliveries(at(0), 100).await.expect("prune"),
        0,
        "none old enough"
    );
    assert_eq!(
        tx.prune_deliveries(at(1), 100).await.expect("prune"),
        2,
        "d1 and d4"
    );
    assert!(
        tx.delivery("w1", "d2").await.expect("delivery").is_some(),
        "pending"
    );
    assert!(
        tx.delivery("w2", "d5").await.expect("delivery").is_some(),
        "leased"
    );
    tx.commit().await.expect("commit");
}

crate::cases![
    a_claim_takes_the_first_pending_delivery_of_each_endpoint_and_org,
    a_claim_skips_disabled_endpoints_and_deleted_orgs,
    endpoints_behind_the_outbox_are_the_enabled_ones_of_live_orgs,
    deleting_an_endpoint_takes_its_deliveries_and_lists_page_newest_first,
    pruning_deliveries_keeps_the_pending_ones,
];
