//! Limited resources: the registries of `ResourceRepo` (round trips,
//! uniqueness, listing, deleting), `KeyRepo::count_live_keys`, and the
//! lock-count-insert pattern by which the service enforces limits.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use orgd_core::page::PageRequest;
use orgd_core::resources::{Resource, ResourceKind};
use orgd_core::store::{Store, StoreError};
use serde_json::json;

use crate::fixtures::{
    Tree, assert_conflict, at, at_ms, insert_keys, insert_resources, join_all, key, oid, resource,
    resource_ids, t0,
};

fn two_orgs() -> Tree {
    Tree::of("r/a r/b")
}

/// The org's items of `kind`, read in a fresh read transaction.
async fn read_all(store: &dyn Store, org: &str, kind: ResourceKind) -> Vec<Resource> {
    let mut tx = store.read().await.expect("read");
    tx.list_resources(&oid(org), kind, &PageRequest::first(1000))
        .await
        .expect("list_resources")
}

/// How many items of `kind` the org holds, read in a fresh read transaction.
async fn read_count(store: &dyn Store, org: &str, kind: ResourceKind) -> i64 {
    let mut tx = store.read().await.expect("read");
    tx.count_resources(&oid(org), kind)
        .await
        .expect("count_resources")
}

async fn inserted_resources_read_back_with_every_field_per_org_and_kind(store: &dyn Store) {
    two_orgs().insert(store).await;
    let full = Resource {
        created_at: at_ms(86_400_123),
        metadata: json!({
            "team": "core",
            "tier": [1, 2, {"x": null}],
            "owner": {
                "name": "Ünïcode ✓",
                "contacts": {"email": "ada@example.com", "oncall": true, "pager": [false]},
            },
            "weight": 1.5,
            "big": 9_007_199_254_740_993_i64,
            "negative": -42,
            "empty": {},
            "none": [],
        }),
        ..resource("app_full", "Billing portal — é")
    };
    // Ids inserted out of order, each made at its own instant. In byte order
    // digits < upper case < lower case, and '-' < '.' < '_'.
    let apps_a: Vec<Resource> = ["app_b", "app_a_1", "app_B", "app_a.1", "app_9", "app_a-1"]
        .into_iter()
        .zip(1..)
        .map(|(id, ms)| Resource {
            created_at: at_ms(ms * 1_001),
            metadata: json!({ "n": ms }),
            ..resource(id, &format!("App {id}"))
        })
        .chain([full.clone()])
        .collect();
    let data: BTreeMap<(&str, ResourceKind), Vec<Resource>> = BTreeMap::from([
        (("a", ResourceKind::Application), apps_a),
        (
            ("a", ResourceKind::Workspace),
            vec![resource("ws_1", "Workspace one")],
        ),
        (
            ("b", ResourceKind::Application),
            vec![resource("app_other", "App in b")],
        ),
        (
            ("b", ResourceKind::Usergroup),
            vec![resource("ug_2", "Group two"), resource("ug_1", "Group one")],
        ),
    ]);

    let mut tx = store.begin().await.expect("begin");
    for ((org, kind), items) in &data {
        for item in items {
            tx.insert_resource(&oid(org), *kind, item)
                .await
                .unwrap_or_else(|e| panic!("insert_resource {kind:?} {} on {org}: {e}", item.id));
        }
    }
    // Visible inside the writing transaction already.
    assert_eq!(
        tx.resource(&oid("a"), ResourceKind::Application, "app_full")
            .await
            .expect("resource"),
        Some(full.clone()),
        "an item read back in the transaction that wrote it"
    );
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    for ((org, kind), items) in &data {
        for item in items {
            assert_eq!(
                tx.resource(&oid(org), *kind, &item.id)
                    .await
                    .expect("resource")
                    .as_ref(),
                Some(item),
                "{kind:?} {} of {org} read back with every field",
                item.id
            );
        }
    }
    // Items are looked up within their org and kind.
    for (org, kind, id) in [
        ("a", ResourceKind::Workspace, "app_full"),
        ("a", ResourceKind::Usergroup, "app_full"),
        ("b", ResourceKind::Application, "app_full"),
        ("a", ResourceKind::Application, "ws_1"),
        ("a", ResourceKind::Application, "app_other"),
        ("a", ResourceKind::Application, "app_missing"),
    ] {
        assert_eq!(
            tx.resource(&oid(org), kind, id).await.expect("resource"),
            None,
            "{id} looked up as a {kind:?} of {org}"
        );
    }
    for org in ["a", "b", "r"] {
        for kind in ResourceKind::ALL {
            let mut expected = data.get(&(org, kind)).cloned().unwrap_or_default();
            expected.sort_by(|x, y| x.id.as_bytes().cmp(y.id.as_bytes()));
            let listed = tx
                .list_resources(&oid(org), kind, &PageRequest::first(100))
                .await
                .expect("list_resources");
            assert_eq!(listed, expected, "the {kind:?} items of {org}, by id");
            let count = tx
                .count_resources(&oid(org), kind)
                .await
                .expect("count_resources");
            assert_eq!(
                count,
                i64::try_from(expected.len()).expect("a small count"),
                "count of the {kind:?} items of {org}"
            );
        }
    }
    let listed = tx
        .list_resources(
            &oid("a"),
            ResourceKind::Application,
            &PageRequest::first(100),
        )
        .await
        .expect("list_resources");
    assert_eq!(
        resource_ids(&listed),
        [
            "app_9", "app_B", "app_a-1", "app_a.1", "app_a_1", "app_b", "app_full"
        ]
    );
}

async fn resource_names_are_unique_per_org_and_kind(store: &dyn Store) {
    two_orgs().insert(store).await;
    let app = ResourceKind::Application;
    let first = resource("app_1", "Billing");
    insert_resources(store, "a", app, std::slice::from_ref(&first)).await;

    let mut tx = store.begin().await.expect("begin");
    assert_conflict(
        tx.insert_resource(&oid("a"), app, &resource("app_2", "Billing"))
            .await,
        "a second application of the same name in one org",
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(
        tx.insert_resource(&oid("a"), app, &resource("app_1", "Other"))
            .await,
        "a second application of the same id in one org",
    );
    drop(tx);
    assert_eq!(
        read_all(store, "a", app).await,
        std::slice::from_ref(&first)
    );

    // The same name in other kinds, in another org, and differing in case.
    let ws = resource("ws_1", "Billing");
    let ug = resource("ug_1", "Billing");
    let elsewhere = resource("app_3", "Billing");
    let lower = resource("app_4", "billing");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_resource(&oid("a"), ResourceKind::Workspace, &ws)
        .await
        .expect("the same name as a workspace");
    tx.insert_resource(&oid("a"), ResourceKind::Usergroup, &ug)
        .await
        .expect("the same name as a user group");
    tx.insert_resource(&oid("b"), app, &elsewhere)
        .await
        .expect("the same name in another org");
    tx.insert_resource(&oid("a"), app, &lower)
        .await
        .expect("a name differing in case");
    tx.commit().await.expect("commit");

    assert_eq!(read_all(store, "a", app).await, [first, lower]);
    assert_eq!(read_all(store, "a", ResourceKind::Workspace).await, [ws]);
    assert_eq!(read_all(store, "a", ResourceKind::Usergroup).await, [ug]);
    assert_eq!(read_all(store, "b", app).await, [elsewhere]);

    // Deleting an item frees its name.
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.delete_resource(&oid("a"), app, "app_1")
            .await
            .expect("delete_resource")
            .is_some()
    );
    tx.commit().await.expect("commit");
    let again = resource("app_5", "Billing");
    insert_resources(store, "a", app, std::slice::from_ref(&again)).await;
    assert_eq!(
        resource_ids(&read_all(store, "a", app).await),
        ["app_4", "app_5"]
    );
}

async fn listing_resources_pages_by_id_and_returns_at_most_limit_plus_one(store: &dyn Store) {
    two_orgs().insert(store).await;
    let app = ResourceKind::Application;
    let items: Vec<Resource> = ["app_5", "app_2", "app_4", "app_1", "app_3", "app_6"]
        .into_iter()
        .map(|id| resource(id, &format!("name of {id}")))
        .collect();
    insert_resources(store, "a", app, &items).await;
    // Neighbours that must never show up.
    insert_resources(store, "b", app, &[resource("app_0", "in b")]).await;
    insert_resources(
        store,
        "a",
        ResourceKind::Workspace,
        &[resource(
            "app_35",
            "a workspace with an application-like id",
        )],
    )
    .await;

    let page = |limit: usize, after: Option<&str>| PageRequest {
        limit,
        after: after.map(str::to_owned),
    };
    let mut tx = store.read().await.expect("read");
    for (limit, after, expected) in [
        (2, None, &["app_1", "app_2", "app_3"][..]),
        (2, Some("app_2"), &["app_3", "app_4", "app_5"]),
        (2, Some("app_5"), &["app_6"]),
        (2, Some("app_6"), &[]),
        (2, Some("app_7"), &[]),
        // `after` need not be an id of the list.
        (2, Some("app_0"), &["app_1", "app_2", "app_3"]),
        (2, Some("app_25"), &["app_3", "app_4", "app_5"]),
        (2, Some("app_"), &["app_1", "app_2", "app_3"]),
        (0, None, &["app_1"]),
        (0, Some("app_3"), &["app_4"]),
        (
            5,
            None,
            &["app_1", "app_2", "app_3", "app_4", "app_5", "app_6"],
        ),
        (
            6,
            None,
            &["app_1", "app_2", "app_3", "app_4", "app_5", "app_6"],
        ),
        (
            100,
            Some("app_1"),
            &["app_2", "app_3", "app_4", "app_5", "app_6"],
        ),
    ] {
        let rows = tx
            .list_resources(&oid("a"), app, &page(limit, after))
            .await
            .expect("list_resources");
        assert_eq!(
            resource_ids(&rows),
            expected,
            "a page of limit {limit} after {after:?}"
        );
        for row in &rows {
            let inserted = items.iter().find(|i| i.id == row.id).expect("inserted");
            assert_eq!(row, inserted);
        }
    }
}

async fn deleting_a_resource_returns_it_once(store: &dyn Store) {
    two_orgs().insert(store).await;
    let app = ResourceKind::Application;
    let x = Resource {
        created_at: at_ms(1_234),
        metadata: json!({"team": {"name": "core", "size": 3}}),
        ..resource("app_1", "x")
    };
    let y = resource("app_2", "y");
    let ws = resource("ws_1", "x");
    let bz = resource("app_3", "z");
    insert_resources(store, "a", app, &[x.clone(), y.clone()]).await;
    insert_resources(
        store,
        "a",
        ResourceKind::Workspace,
        std::slice::from_ref(&ws),
    )
    .await;
    insert_resources(store, "b", app, std::slice::from_ref(&bz)).await;

    let mut tx = store.begin().await.expect("begin");
    // Items are deleted within their org and kind only.
    for (org, kind, id) in [
        ("b", app, "app_1"),
        ("a", ResourceKind::Workspace, "app_1"),
        ("a", ResourceKind::Usergroup, "app_1"),
        ("a", app, "ws_1"),
        ("a", app, "app_3"),
        ("a", app, "app_missing"),
    ] {
        assert_eq!(
            tx.delete_resource(&oid(org), kind, id)
                .await
                .expect("delete_resource"),
            None,
            "deleting {id} as a {kind:?} of {org}"
        );
    }
    assert_eq!(tx.count_resources(&oid("a"), app).await.expect("count"), 2);
    assert_eq!(
        tx.delete_resource(&oid("a"), app, "app_1")
            .await
            .expect("delete_resource"),
        Some(x),
        "the removed item, with every field"
    );
    assert_eq!(
        tx.delete_resource(&oid("a"), app, "app_1")
            .await
            .expect("delete_resource"),
        None,
        "deleting it a second time"
    );
    assert_eq!(tx.count_resources(&oid("a"), app).await.expect("count"), 1);
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.delete_resource(&oid("a"), app, "app_1")
            .await
            .expect("delete_resource"),
        None,
        "deleting it again after the commit"
    );
    drop(tx);

    assert_eq!(read_all(store, "a", app).await, [y]);
    assert_eq!(read_count(store, "a", app).await, 1);
    assert_eq!(read_all(store, "a", ResourceKind::Workspace).await, [ws]);
    assert_eq!(read_count(store, "a", ResourceKind::Workspace).await, 1);
    assert_eq!(read_all(store, "b", app).await, [bz]);
    assert_eq!(read_count(store, "b", app).await, 1);
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.resource(&oid("a"), app, "app_1")
            .await
            .expect("resource"),
        None
    );
}

async fn delete_org_resources_removes_every_kind_of_that_org_only(store: &dyn Store) {
    Tree::of("r/a r/b r/c").insert(store).await;
    let app = ResourceKind::Application;
    let ws = ResourceKind::Workspace;
    let ug = ResourceKind::Usergroup;
    insert_resources(
        store,
        "a",
        app,
        &[resource("app_1", "x"), resource("app_2", "y")],
    )
    .await;
    insert_resources(store, "a", ws, &[resource("ws_1", "x")]).await;
    insert_resources(
        store,
        "a",
        ug,
        &[
            resource("ug_1", "x"),
            resource("ug_2", "y"),
            resource("ug_3", "z"),
        ],
    )
    .await;
    let b_app = resource("app_3", "x");
    let b_ws = resource("ws_2", "x");
    insert_resources(store, "b", app, std::slice::from_ref(&b_app)).await;
    insert_resources(store, "b", ws, std::slice::from_ref(&b_ws)).await;

    // As the service does it: the org is tombstoned and released in one
    // transaction.
    let mut tx = store.begin().await.expect("begin");
    let mut org = tx
        .lock_org(&oid("a"))
        .await
        .expect("lock_org")
        .expect("a exists");
    org.deleted_at = Some(at(5));
    org.updated_at = at(5);
    org.version += 1;
    tx.update_org(&org).await.expect("update_org");
    assert_eq!(
        tx.delete_org_resources(&oid("a"))
            .await
            .expect("delete_org_resources"),
        6,
        "every item of every kind of a"
    );
    for kind in ResourceKind::ALL {
        assert_eq!(tx.count_resources(&oid("a"), kind).await.expect("count"), 0);
    }
    tx.commit().await.expect("commit");

    for kind in ResourceKind::ALL {
        assert!(read_all(store, "a", kind).await.is_empty(), "{kind:?} of a");
        assert_eq!(read_count(store, "a", kind).await, 0, "{kind:?} of a");
    }
    assert_eq!(read_all(store, "b", app).await, [b_app]);
    assert_eq!(read_all(store, "b", ws).await, [b_ws]);
    assert_eq!(read_count(store, "b", ug).await, 0);

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.delete_org_resources(&oid("a"))
            .await
            .expect("delete_org_resources"),
        0,
        "a second time"
    );
    assert_eq!(
        tx.delete_org_resources(&oid("c"))
            .await
            .expect("delete_org_resources"),
        0,
        "an org without items"
    );
    tx.commit().await.expect("commit");
    assert_eq!(read_count(store, "b", app).await, 1);
    assert_eq!(read_count(store, "b", ws).await, 1);
}

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

async fn resource_writes_of_a_dropped_transaction_are_not_visible(store: &dyn Store) {
    two_orgs().insert(store).await;
    let app = ResourceKind::Application;
    let kept = resource("app_1", "kept");
    insert_resources(store, "a", app, std::slice::from_ref(&kept)).await;

    let dropped = resource("app_2", "dropped");
    let mut tx = store.begin().await.expect("begin");
    tx.lock_org(&oid("a")).await.expect("lock_org");
    tx.insert_resource(&oid("a"), app, &dropped)
        .await
        .expect("insert_resource");
    tx.insert_resource(
        &oid("b"),
        ResourceKind::Workspace,
        &resource("ws_1", "dropped"),
    )
    .await
    .expect("insert_resource");
    assert_eq!(
        tx.resource(&oid("a"), app, "app_2")
            .await
            .expect("resource"),
        Some(dropped.clone()),
        "visible to the transaction that wrote it"
    );
    assert_eq!(
        tx.delete_resource(&oid("a"), app, "app_1")
            .await
            .expect("delete_resource"),
        Some(kept.clone())
    );
    assert_eq!(tx.count_resources(&oid("a"), app).await.expect("count"), 1);
    drop(tx);

    assert_eq!(read_all(store, "a", app).await, std::slice::from_ref(&kept));
    assert_eq!(read_count(store, "a", app).await, 1);
    assert_eq!(read_count(store, "b", ResourceKind::Workspace).await, 0);
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.resource(&oid("a"), app, "app_2")
            .await
            .expect("resource"),
        None
    );
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    tx.insert_resource(&oid("a"), app, &dropped)
        .await
        .expect("the id and name of a rolled-back item are free");
    tx.delete_org_resources(&oid("a"))
        .await
        .expect("delete_org_resources");
    drop(tx);
    assert_eq!(read_all(store, "a", app).await, [kept]);

    // And the same item committed this time.
    insert_resources(store, "a", app, std::slice::from_ref(&dropped)).await;
    assert_eq!(
        resource_ids(&read_all(store, "a", app).await),
        ["app_1", "app_2"]
    );
}

crate::cases![
    inserted_resources_read_back_with_every_field_per_org_and_kind,
    resource_names_are_unique_per_org_and_kind,
    listing_resources_pages_by_id_and_returns_at_most_limit_plus_one,
    deleting_a_resource_returns_it_once,
    delete_org_resources_removes_every_kind_of_that_org_only,
    count_live_keys_counts_keys_neither_revoked_nor_expired,
    limit_checks_under_lock_org_admit_exactly_the_limit,
    resource_writes_of_a_dropped_transaction_are_not_visible,
];
