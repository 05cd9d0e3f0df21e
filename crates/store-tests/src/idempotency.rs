//! Idempotency records: claiming, completing, deleting and pruning.

use orgd_core::store::{IdempotencyRecord, Store, StoredResponse};

use crate::fixtures::{assert_conflict, at, at_ms, claim};

async fn insert_claims(store: &dyn Store, claims: &[IdempotencyRecord]) {
    let mut tx = store.begin().await.expect("begin");
    for c in claims {
        tx.insert_idempotency(c).await.expect("insert_idempotency");
    }
    tx.commit().await.expect("commit");
}

async fn exists(store: &dyn Store, key_id: &str, idempotency_key: &str) -> bool {
    let mut tx = store.read().await.expect("read");
    tx.idempotency(key_id, idempotency_key)
        .await
        .expect("idempotency")
        .is_some()
}

async fn claimed_idempotency_key_reads_back_without_a_response(store: &dyn Store) {
    let c = claim("key_1", "3f2a-Ünïcode-✓", at_ms(1_234));
    insert_claims(store, std::slice::from_ref(&c)).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.idempotency("key_1", "3f2a-Ünïcode-✓")
            .await
            .expect("idempotency"),
        Some(c)
    );
    assert_eq!(
        tx.idempotency("key_2", "3f2a-Ünïcode-✓")
            .await
            .expect("idempotency"),
        None
    );
    assert_eq!(
        tx.idempotency("key_1", "other").await.expect("idempotency"),
        None
    );
}

async fn claiming_a_claimed_idempotency_key_conflicts(store: &dyn Store) {
    let first = claim("key_1", "k", at(0));
    insert_claims(store, std::slice::from_ref(&first)).await;

    let mut again = claim("key_1", "k", at(1));
    again.fingerprint = "a different request".to_owned();
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(tx.insert_idempotency(&again).await, "a second claim");
    drop(tx);

    // The same idempotency key under another API key is a separate claim.
    insert_claims(store, &[claim("key_2", "k", at(2))]).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.idempotency("key_1", "k").await.expect("idempotency"),
        Some(first)
    );
}

async fn completing_an_idempotency_key_stores_the_response(store: &dyn Store) {
    let full = claim("key_1", "full", at(0));
    let bare = claim("key_1", "bare", at(0));
    let untouched = claim("key_2", "full", at(0));
    insert_claims(store, &[full.clone(), bare.clone(), untouched.clone()]).await;

    let full_response = StoredResponse {
        status: 201,
        content_type: Some("application/json".to_owned()),
        location: Some("/v1/orgs/org-123".to_owned()),
        body: b"{\"id\":\"org-123\",\"name\":\"\xc3\xa9\"}\x00\xff".to_vec(),
    };
    let bare_response = StoredResponse {
        status: 204,
        content_type: None,
        location: None,
        body: Vec::new(),
    };
    let mut tx = store.begin().await.expect("begin");
    tx.complete_idempotency("key_1", "full", &full_response)
        .await
        .expect("complete");
    tx.complete_idempotency("key_1", "bare", &bare_response)
        .await
        .expect("complete");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let mut expected = full;
    expected.response = Some(full_response);
    assert_eq!(
        tx.idempotency("key_1", "full").await.expect("idempotency"),
        Some(expected)
    );
    let mut expected = bare;
    expected.response = Some(bare_response);
    assert_eq!(
        tx.idempotency("key_1", "bare").await.expect("idempotency"),
        Some(expected)
    );
    assert_eq!(
        tx.idempotency("key_2", "full").await.expect("idempotency"),
        Some(untouched)
    );
}

async fn deleting_an_idempotency_key_frees_it(store: &dyn Store) {
    insert_claims(
        store,
        &[claim("key_1", "k", at(0)), claim("key_2", "k", at(0))],
    )
    .await;

    let mut tx = store.begin().await.expect("begin");
    tx.delete_idempotency("key_1", "k").await.expect("delete");
    tx.commit().await.expect("commit");
    assert!(!exists(store, "key_1", "k").await);
    assert!(exists(store, "key_2", "k").await);

    // Freed: it can be claimed again.
    let again = claim("key_1", "k", at(5));
    insert_claims(store, std::slice::from_ref(&again)).await;
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.idempotency("key_1", "k").await.expect("idempotency"),
        Some(again)
    );
}

async fn pruning_removes_only_older_idempotency_records(store: &dyn Store) {
    insert_claims(
        store,
        &[
            claim("key_1", "old", at(0)),
            claim("key_2", "old", at_ms(999)),
            claim("key_1", "edge", at(1)),
            claim("key_1", "new", at(2)),
        ],
    )
    .await;

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.prune_idempotency(at(1)).await.expect("prune"), 2);
    tx.commit().await.expect("commit");
    assert!(!exists(store, "key_1", "old").await);
    assert!(!exists(store, "key_2", "old").await);
    assert!(exists(store, "key_1", "edge").await);
    assert!(exists(store, "key_1", "new").await);

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.prune_idempotency(at(1)).await.expect("prune"), 0);
    assert_eq!(tx.prune_idempotency(at_ms(1_001)).await.expect("prune"), 1);
    tx.commit().await.expect("commit");
    assert!(!exists(store, "key_1", "edge").await);
    assert!(exists(store, "key_1", "new").await);
}

crate::cases![
    claimed_idempotency_key_reads_back_without_a_response,
    claiming_a_claimed_idempotency_key_conflicts,
    completing_an_idempotency_key_stores_the_response,
    deleting_an_idempotency_key_frees_it,
    pruning_removes_only_older_idempotency_records,
];
