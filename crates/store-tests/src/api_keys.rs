//! API keys: round trips, uniqueness, listing, revoking and touching.

use orgd_core::api_keys::{Permission, Permissions, digest};
use orgd_core::page::PageRequest;
use orgd_core::store::Store;

use crate::fixtures::{
    Tree, assert_conflict, at, at_ms, insert_keys, key, key_ids, oid, t0, tombstone,
};

fn two_orgs() -> Tree {
    Tree::of("r/a r/b")
}

async fn inserted_key_reads_back_by_id_and_by_digest(store: &dyn Store) {
    let tree = two_orgs();
    tree.insert(store).await;
    let mut full = key("a", "key_full", "orgd_secret_of_the_full_key_0123456789");
    full.name = "CI deploy — é".to_owned();
    full.user = Some("ada@example.com".to_owned());
    full.permissions = Permissions::from_iter([Permission::Read, Permission::Delete]);
    full.created_at = t0();
    full.expires_at = Some(at_ms(86_400_123));
    full.last_used_at = Some(at_ms(1_001));
    let bare = key("a", "key_bare", "orgd_secret_of_the_bare_key_0123456789");
    let mut admin = key("b", "key_admin", "orgd_secret_of_the_admin_key_012345678");
    admin.permissions = Permissions::all();
    insert_keys(store, &[full.clone(), bare.clone(), admin.clone()]).await;

    let mut tx = store.read().await.expect("read");
    for k in [&full, &bare, &admin] {
        assert_eq!(
            tx.key(&k.org_id, &k.id).await.expect("key").as_ref(),
            Some(k)
        );
        let (found, org) = tx
            .key_by_digest(&k.digest)
            .await
            .expect("key_by_digest")
            .expect("found by digest");
        assert_eq!(&found, k);
        assert_eq!(&org, tree.org(k.org_id.as_str()));
    }
    // Keys are looked up within their org.
    assert_eq!(tx.key(&oid("b"), "key_full").await.expect("key"), None);
    assert_eq!(tx.key(&oid("a"), "key_missing").await.expect("key"), None);
    assert_eq!(
        tx.key_by_digest(&digest("orgd_no_such_secret_0123456789abcdef"))
            .await
            .expect("key_by_digest"),
        None
    );
}

async fn key_by_digest_finds_revoked_keys_of_tombstoned_orgs(store: &dyn Store) {
    let tree = two_orgs();
    tree.insert(store).await;
    let k = key("a", "key_1", "orgd_secret_of_key_one_0123456789abcd");
    insert_keys(store, std::slice::from_ref(&k)).await;
    let mut tx = store.begin().await.expect("begin");
    tx.revoke_key(&oid("a"), "key_1", at(3))
        .await
        .expect("revoke_key");
    tx.commit().await.expect("commit");
    let dead = tombstone(store, "a", at(4)).await;

    let mut tx = store.read().await.expect("read");
    let (found, org) = tx
        .key_by_digest(&k.digest)
        .await
        .expect("key_by_digest")
        .expect("found by digest");
    assert_eq!(found.revoked_at, Some(at(3)));
    assert_eq!(org, dead);
}

async fn inserting_a_duplicate_digest_or_id_conflicts(store: &dyn Store) {
    two_orgs().insert(store).await;
    let first = key("a", "key_1", "orgd_secret_shared_by_two_keys_012345");
    insert_keys(store, std::slice::from_ref(&first)).await;

    let same_digest = key("b", "key_2", "orgd_secret_shared_by_two_keys_012345");
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(tx.insert_key(&same_digest).await, "a duplicate digest");
    drop(tx);

    let same_id = key("b", "key_1", "orgd_a_different_secret_0123456789ab");
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(tx.insert_key(&same_id).await, "a duplicate id");
    drop(tx);

    let mut tx = store.read().await.expect("read");
    assert_eq!(tx.key(&oid("a"), "key_1").await.expect("key"), Some(first));
    assert_eq!(tx.key(&oid("b"), "key_2").await.expect("key"), None);
    assert_eq!(tx.key(&oid("b"), "key_1").await.expect("key"), None);
}

async fn listing_keys_skips_revoked_ones_and_pages_by_id(store: &dyn Store) {
    two_orgs().insert(store).await;
    let keys: Vec<_> = ["key_5", "key_2", "key_4", "key_1", "key_3", "key_6"]
        .into_iter()
        .map(|id| key("a", id, &format!("orgd_secret_of_{id}_0123456789abcdefgh")))
        .chain([key("b", "key_0", "orgd_secret_of_key_0_in_b_0123456789a")])
        .collect();
    insert_keys(store, &keys).await;
    let mut tx = store.begin().await.expect("begin");
    tx.revoke_key(&oid("a"), "key_3", at(1))
        .await
        .expect("revoke_key");
    tx.commit().await.expect("commit");

    let page = |after: Option<&str>| PageRequest {
        limit: 2,
        after: after.map(str::to_owned),
    };
    let mut tx = store.read().await.expect("read");
    let a = oid("a");
    let rows = tx.list_keys(&a, &page(None)).await.expect("list_keys");
    assert_eq!(key_ids(&rows), ["key_1", "key_2", "key_4"]);
    let rows = tx
        .list_keys(&a, &page(Some("key_2")))
        .await
        .expect("list_keys");
    assert_eq!(key_ids(&rows), ["key_4", "key_5", "key_6"]);
    let rows = tx
        .list_keys(&a, &page(Some("key_5")))
        .await
        .expect("list_keys");
    assert_eq!(key_ids(&rows), ["key_6"]);
    let rows = tx
        .list_keys(&a, &page(Some("key_6")))
        .await
        .expect("list_keys");
    assert!(rows.is_empty());

    let all = tx
        .list_keys(&a, &PageRequest::first(100))
        .await
        .expect("list_keys");
    for row in &all {
        let inserted = keys.iter().find(|k| k.id == row.id).expect("inserted");
        assert_eq!(row, inserted);
    }
    let rows = tx
        .list_keys(&oid("b"), &PageRequest::first(100))
        .await
        .expect("list_keys");
    assert_eq!(key_ids(&rows), ["key_0"]);
}

async fn revoke_key_sets_revoked_at(store: &dyn Store) {
    two_orgs().insert(store).await;
    let k = key("a", "key_1", "orgd_secret_of_key_one_0123456789abcd");
    insert_keys(store, std::slice::from_ref(&k)).await;

    // Revoking through another org changes nothing.
    let mut tx = store.begin().await.expect("begin");
    tx.revoke_key(&oid("b"), "key_1", at(1))
        .await
        .expect("revoke_key");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.key(&oid("a"), "key_1").await.expect("key").as_ref(),
        Some(&k)
    );
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    tx.revoke_key(&oid("a"), "key_1", at_ms(2_500))
        .await
        .expect("revoke_key");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let mut expected = k;
    expected.revoked_at = Some(at_ms(2_500));
    assert_eq!(
        tx.key(&oid("a"), "key_1").await.expect("key"),
        Some(expected)
    );
}

async fn touch_key_sets_last_used_at(store: &dyn Store) {
    two_orgs().insert(store).await;
    let k = key("a", "key_1", "orgd_secret_of_key_one_0123456789abcd");
    let other = key("a", "key_2", "orgd_secret_of_key_two_0123456789abcd");
    insert_keys(store, &[k.clone(), other.clone()]).await;

    let mut expected = k;
    for when in [at_ms(1_234), at_ms(9_876)] {
        let mut tx = store.begin().await.expect("begin");
        tx.touch_key(&oid("a"), "key_1", when)
            .await
            .expect("touch_key");
        tx.commit().await.expect("commit");

        expected.last_used_at = Some(when);
        let mut tx = store.read().await.expect("read");
        assert_eq!(
            tx.key(&oid("a"), "key_1").await.expect("key").as_ref(),
            Some(&expected)
        );
        assert_eq!(
            tx.key(&oid("a"), "key_2").await.expect("key").as_ref(),
            Some(&other)
        );
    }
}

crate::cases![
    inserted_key_reads_back_by_id_and_by_digest,
    key_by_digest_finds_revoked_keys_of_tombstoned_orgs,
    inserting_a_duplicate_digest_or_id_conflicts,
    listing_keys_skips_revoked_ones_and_pages_by_id,
    revoke_key_sets_revoked_at,
    touch_key_sets_last_used_at,
];
