//! The registries of `ResourceRepo`: round trips, uniqueness, listing,
//! deleting, and writes of a dropped transaction.

use std::collections::BTreeMap;

use orgd_core::page::PageRequest;
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::store::Store;
use serde_json::json;

use crate::fixtures::{
    Tree, assert_conflict, at, at_ms, insert_resources, oid, resource, resource_ids,
};

use super::{read_all, read_count, two_orgs};

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
    resource_writes_of_a_dropped_transaction_are_not_visible,
];
