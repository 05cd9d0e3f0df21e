//! What limits count (`KeyRepo::count_live_keys`, `count_resources`) and the
//! lock-count-insert pattern by which the service enforces them, raced.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use orgd_core::page::PageRequest;
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::store::{Store, StoreError};

use crate::fixtures::{
    Tree, at, at_ms, insert_keys, insert_resources, join_all, key, oid, resource, resource_ids, t0,
};

use super::{read_all, read_count, two_orgs};

async fn count_live_keys_counts_keys_neither_revoked_nor_expired(store: &dyn Store) {
    Tree::of("r/a r/b r/c").insert(store).await;
    let now = at(100);
    let secret = |id: &str| format!("orgd_secret_of_{id}_0123456789abcdefgh");
    let with_expiry = |org: &str, id: &str, expires_at: Option<DateTime<Utc>>| {
        let mut k = key(org, id, &secret(id));
        k.expires_at = expires_at;
        k
    };
    insert_keys(
        store,
        &[
            with_expiry("a", "key_live", None),
            with_expiry("a", "key_future", Some(at_ms(100_001))),
            with_expiry("a", "key_now", Some(now)),
            with_expiry("a", "key_past", Some(at(50))),
            with_expiry("a", "key_revoked", None),
            with_expiry("a", "key_revoked_future", Some(at(200))),
            with_expiry("b", "key_b1", None),
            with_expiry("b", "key_b2", Some(at(300))),
            with_expiry("b", "key_b3", Some(at(10))),
        ],
    )
    .await;
    let mut tx = store.begin().await.expect("begin");
    tx.revoke_key(&oid("a"), "key_revoked", at(10))
        .await
        .expect("revoke_key");
    tx.revoke_key(&oid("a"), "key_revoked_future", at(20))
        .await
        .expect("revoke_key");
    tx.commit().await.expect("commit");

    let half_ms = TimeDelta::microseconds(500);
    let one_ms = TimeDelta::milliseconds(1);
    let mut tx = store.read().await.expect("read");
    for (org, when, expected, why) in [
        (
            "a",
            now,
            2,
            "live and key_future; key_now expires exactly now",
        ),
        ("a", now - one_ms, 3, "key_now is live until its instant"),
        ("a", now - half_ms, 3, "key_now is live until its instant"),
        (
            "a",
            now + half_ms,
            2,
            "key_future is live until its instant",
        ),
        ("a", now + one_ms, 1, "key_future expired"),
        ("a", t0(), 4, "before any expiry, only the revoked are out"),
        ("a", at(1_000), 1, "only the key without an expiry"),
        ("b", now, 2, "key_b3 expired"),
        ("b", t0(), 3, "nothing expired yet"),
        ("b", at(300), 1, "key_b2 expires exactly now"),
        ("c", now, 0, "an org without keys"),
        ("r", now, 0, "the parent does not count its children's keys"),
    ] {
        assert_eq!(
            tx.count_live_keys(&oid(org), when)
                .await
                .expect("count_live_keys"),
            expected,
            "live keys of {org} at {when}: {why}"
        );
    }
}

/// The limit checks of the concurrency test: how many items of each kind,
/// and how many live keys, an org may hold.
const ITEM_LIMIT: i64 = 5;
const KEY_LIMIT: i64 = 3;
const ATTEMPTS: usize = 32;

/// Holds the transaction open between the check and the write, so a lock
/// that does not serialise lets more than the limit in.
async fn widen_the_race() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

/// What a create under a limit makes in org `a`: an item of a kind, or a
/// key (live keys counted at the instant given).
#[derive(Debug, Clone, Copy)]
enum Limited {
    Item(ResourceKind),
    Key(DateTime<Utc>),
}

/// What the service does to create something under a limit: lock the org,
/// count, insert when below the limit and commit, or give up (drop).
/// Returns whether it inserted.
async fn create_under_limit(store: &dyn Store, what: Limited, attempt: usize) -> bool {
    let fail =
        |step: &str, e: StoreError| -> ! { panic!("{what:?} attempt {attempt}: {step}: {e}") };
    let org = oid("a");
    let mut tx = store.begin().await.unwrap_or_else(|e| fail("begin", e));
    tx.lock_org(&org)
        .await
        .unwrap_or_else(|e| fail("lock_org", e))
        .expect("a exists");
    let (used, limit) = match what {
        Limited::Item(kind) => (tx.count_resources(&org, kind).await, ITEM_LIMIT),
        Limited::Key(now) => (tx.count_live_keys(&org, now).await, KEY_LIMIT),
    };
    if used.unwrap_or_else(|e| fail("count", e)) >= limit {
        return false;
    }
    widen_the_race().await;
    let inserted = match what {
        Limited::Item(kind) => {
            let item = Resource {
                created_at: at_ms(i64::try_from(attempt).expect("a small number")),
                ..resource(
                    &format!("{}_{attempt:02}", kind.id_prefix()),
                    &format!("{} {attempt}", kind.singular()),
                )
            };
            tx.insert_resource(&org, kind, &item).await
        }
        Limited::Key(_) => {
            let id = format!("key_new_{attempt:02}");
            let secret = format!("orgd_secret_of_{id}_0123456789abcdefgh");
            tx.insert_key(&key("a", &id, &secret)).await
        }
    };
    inserted.unwrap_or_else(|e| fail("insert", e));
    tx.commit().await.unwrap_or_else(|e| fail("commit", e));
    true
}

/// How many of `ATTEMPTS` concurrent creates of `what` got in.
async fn admitted(store: &dyn Store, what: Limited) -> i64 {
    let attempts = (0..ATTEMPTS)
        .map(|i| create_under_limit(store, what, i))
        .collect();
    let admitted = join_all(attempts)
        .await
        .into_iter()
        .filter(|&ok| ok)
        .count();
    i64::try_from(admitted).expect("a small count")
}

async fn limit_checks_under_lock_org_admit_exactly_the_limit(store: &dyn Store) {
    two_orgs().insert(store).await;
    // Neighbours the checks must not count.
    insert_resources(
        store,
        "b",
        ResourceKind::Application,
        &[resource("app_b", "in b")],
    )
    .await;

    for kind in ResourceKind::ALL {
        assert_eq!(
            admitted(store, Limited::Item(kind)).await,
            ITEM_LIMIT,
            "{ATTEMPTS} concurrent creates of a {kind:?} under a limit of {ITEM_LIMIT}"
        );
        let items = read_all(store, "a", kind).await;
        assert_eq!(
            i64::try_from(items.len()).expect("a small count"),
            ITEM_LIMIT,
            "{kind:?} items of a: {:?}",
            resource_ids(&items)
        );
        assert_eq!(read_count(store, "a", kind).await, ITEM_LIMIT);
    }
    for kind in ResourceKind::ALL {
        assert_eq!(
            read_count(store, "a", kind).await,
            ITEM_LIMIT,
            "{kind:?} items of a after every kind ran"
        );
    }
    assert_eq!(
        read_count(store, "b", ResourceKind::Application).await,
        1,
        "b's items are untouched"
    );

    // Keys: a revoked and an expired key of a, and a live key of b, do not
    // count.
    let now = at(100);
    let mut expired = key(
        "a",
        "key_expired",
        "orgd_secret_of_key_expired_0123456789ab",
    );
    expired.expires_at = Some(at(50));
    let revoked = key(
        "a",
        "key_revoked",
        "orgd_secret_of_key_revoked_0123456789ab",
    );
    let other = key("b", "key_other", "orgd_secret_of_key_other_0123456789abcd");
    insert_keys(store, &[expired, revoked, other]).await;
    let mut tx = store.begin().await.expect("begin");
    tx.revoke_key(&oid("a"), "key_revoked", at(10))
        .await
        .expect("revoke_key");
    tx.commit().await.expect("commit");

    assert_eq!(
        admitted(store, Limited::Key(now)).await,
        KEY_LIMIT,
        "{ATTEMPTS} concurrent key creates under a limit of {KEY_LIMIT}"
    );
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.count_live_keys(&oid("a"), now)
            .await
            .expect("count_live_keys"),
        KEY_LIMIT
    );
    let listed = tx
        .list_keys(&oid("a"), &PageRequest::first(100))
        .await
        .expect("list_keys");
    let new = listed
        .iter()
        .filter(|k| k.id.starts_with("key_new_"))
        .count();
    assert_eq!(
        i64::try_from(new).expect("a small count"),
        KEY_LIMIT,
        "keys of a: {:?}",
        listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(
        tx.count_live_keys(&oid("b"), now)
            .await
            .expect("count_live_keys"),
        1
    );
}

crate::cases![
    count_live_keys_counts_keys_neither_revoked_nor_expired,
    limit_checks_under_lock_org_admit_exactly_the_limit,
];
