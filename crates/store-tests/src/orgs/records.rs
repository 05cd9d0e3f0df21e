//! One org at a time: round trips of every field, uniqueness of ids (a
//! tombstone's too), the root, and reads by id.

use orgd_core::configs::{Configs, REGISTRY};
use orgd_core::orgs::OrgRecord;
use orgd_core::store::{Store, Tx};
use serde_json::json;

use crate::fixtures::{
    Tree, assert_conflict, at, at_ms, child_org, oid, org_ids, read_org, root_org, t0, tombstone,
};

use super::prefix_tree;

async fn inserted_org_reads_back_with_every_field(store: &dyn Store) {
    let mut root = root_org("root");
    root.name = "Acme Holding — Ünïcode ✓".to_owned();
    root.created_at = t0();
    root.updated_at = at_ms(1_001);
    root.version = 7;
    root.customizations = json!({
        "theme": {"color": "#ff0000", "dark": true},
        "limits": [1, 2.5, -3, null],
        "label": "é \"quoted\" \\ slash",
        "big": 9_007_199_254_740_993_i64,
    });
    root.configs = [("applications.limit", 5), ("children.limit", 1_000_000_000)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let child = child_org(&root, "org-123");

    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(&root).await.expect("insert root");
    tx.insert_org(&child).await.expect("insert child");
    assert_eq!(tx.org(&root.id).await.expect("org"), Some(root.clone()));
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    assert_eq!(tx.org(&root.id).await.expect("org"), Some(root.clone()));
    assert_eq!(tx.org(&child.id).await.expect("org"), Some(child.clone()));
    assert_eq!(tx.org(&oid("nobody")).await.expect("org"), None);
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.lock_org(&child.id).await.expect("lock_org"), Some(child));
    assert_eq!(tx.lock_org(&oid("nobody")).await.expect("lock_org"), None);
}

async fn root_org_finds_the_parentless_org(store: &dyn Store) {
    let mut tx = store.read().await.expect("read");
    assert_eq!(tx.root_org().await.expect("root_org"), None);
    drop(tx);

    let tree = Tree::of("r/a/b");
    tree.insert(store).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.root_org().await.expect("root_org"),
        Some(tree.org("r").clone())
    );
}

async fn inserting_an_existing_id_conflicts(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;

    // Each failing insert in its own transaction: on some databases an error
    // aborts the rest of the transaction.
    let mut same_id = child_org(tree.org("b"), "a");
    same_id.name = "Impostor".to_owned();
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(tx.insert_org(&same_id).await, "insert an existing id");
    drop(tx);

    assert_eq!(read_org(store, "a").await.as_ref(), Some(tree.org("a")));
}

async fn inserting_the_id_of_a_tombstoned_org_conflicts(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;
    let dead = tombstone(store, "a", at(5)).await;

    let mut tx = store.begin().await.expect("begin");
    assert_conflict(
        tx.insert_org(&child_org(tree.org("b"), "a")).await,
        "insert the id of a tombstone",
    );
    drop(tx);

    assert_eq!(read_org(store, "a").await, Some(dead));
}

async fn update_org_writes_every_field(store: &dyn Store) {
    let tree = Tree::of("r/a r/b r/c");
    tree.insert(store).await;

    // Everything but the id and the creation time changes.
    let mut moved = tree.org("a").clone();
    moved.name = "Renamed — é".to_owned();
    moved.parent_id = Some(oid("b"));
    moved.path = tree.path("b") + "a/";
    moved.depth = 3;
    moved.updated_at = at_ms(2_345);
    moved.version = 2;
    moved.customizations = json!({"plan": "gold", "seats": 12, "tags": ["x", "y"]});
    moved.configs.insert("workspaces.limit".to_owned(), 0);
    moved.deleted_at = Some(at_ms(2_345));

    let mut tx = store.begin().await.expect("begin");
    tx.update_org(&moved).await.expect("update_org");
    tx.commit().await.expect("commit");
    assert_eq!(read_org(store, "a").await, Some(moved.clone()));

    // And back: optional fields can be cleared again.
    let mut restored = moved.clone();
    restored.deleted_at = None;
    restored.customizations = json!({});
    restored.configs.clear();
    restored.version = 3;
    let mut tx = store.begin().await.expect("begin");
    tx.update_org(&restored).await.expect("update_org");
    tx.commit().await.expect("commit");
    assert_eq!(read_org(store, "a").await, Some(restored));

    for other in ["r", "b", "c"] {
        assert_eq!(read_org(store, other).await.as_ref(), Some(tree.org(other)));
    }
}

async fn configs_round_trip_through_insert_and_update(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    // Every known key, with the bounds of their range among the values.
    let full: Configs = REGISTRY
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let v = match i % 3 {
                0 => spec.minimum,
                1 => spec.maximum,
                _ => (spec.minimum + spec.maximum) / 2,
            };
            (spec.key.to_owned(), v)
        })
        .collect();
    assert_eq!(full.len(), REGISTRY.len());
    let mut a = tree.org("a").clone();
    a.configs = full.clone();
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(tree.org("r")).await.expect("insert_org");
    tx.insert_org(&a).await.expect("insert_org");
    tx.insert_org(tree.org("b")).await.expect("insert_org");
    tx.commit().await.expect("commit");
    assert_eq!(read_org(store, "a").await.map(|o| o.configs), Some(full));
    assert_eq!(
        read_org(store, "b").await.map(|o| o.configs),
        Some(Configs::new())
    );

    // Change one value, remove one key, then clear them all; b gains one.
    let mut steps: Vec<Configs> = Vec::new();
    let mut changed = a.configs.clone();
    changed.insert("applications.limit".to_owned(), 3);
    changed.remove("workspaces.limit");
    steps.push(changed);
    steps.push(Configs::new());
    for (version, configs) in (2..).zip(steps) {
        a.configs = configs.clone();
        a.version = version;
        let mut tx = store.begin().await.expect("begin");
        tx.update_org(&a).await.expect("update_org");
        tx.commit().await.expect("commit");
        assert_eq!(read_org(store, "a").await.as_ref(), Some(&a));
    }
    let mut b = tree.org("b").clone();
    b.configs.insert("children.limit".to_owned(), 2);
    b.version = 2;
    let mut tx = store.begin().await.expect("begin");
    tx.update_org(&b).await.expect("update_org");
    tx.commit().await.expect("commit");
    assert_eq!(read_org(store, "b").await, Some(b));
    assert_eq!(read_org(store, "a").await, Some(a));
}

/// `orgs_by_ids`, sorted by id.
async fn by_ids(tx: &mut dyn Tx, ids: &[&str]) -> Vec<OrgRecord> {
    let ids: Vec<_> = ids.iter().map(|id| oid(id)).collect();
    let mut rows = tx.orgs_by_ids(&ids).await.expect("orgs_by_ids");
    rows.sort_by(|x, y| x.id.as_str().as_bytes().cmp(y.id.as_str().as_bytes()));
    rows
}

async fn orgs_by_ids_returns_exactly_the_asked_orgs(store: &dyn Store) {
    let tree = prefix_tree();
    tree.insert(store).await;
    let dead = tombstone(store, "a2", at(1)).await;

    let mut tx = store.read().await.expect("read");
    let tx = tx.as_mut();

    assert_eq!(by_ids(tx, &[]).await, Vec::<OrgRecord>::new());
    // Unknown ids are skipped; tombstones are included.
    let rows = by_ids(tx, &["ab", "nobody", "a2", "a"]).await;
    assert_eq!(org_ids(&rows), ["a", "a2", "ab"]);
    assert_eq!(rows[0], *tree.org("a"));
    assert_eq!(rows[1], dead);
    assert_eq!(rows[2], *tree.org("ab"));
    // No other org sharing an id prefix comes along.
    assert_eq!(org_ids(&by_ids(tx, &["a"]).await), ["a"]);
    assert_eq!(org_ids(&by_ids(tx, &["r"]).await), ["r"]);
    assert_eq!(by_ids(tx, &["nobody", "A"]).await, Vec::<OrgRecord>::new());
    // The lineage of a2, root first, as the service asks for it.
    let lineage: Vec<OrgRecord> = by_ids(tx, &["r", "a", "a1", "a2"]).await;
    assert_eq!(org_ids(&lineage), ["a", "a1", "a2", "r"]);
}

async fn all_org_ids_lists_every_org_tombstones_included_bytewise(store: &dyn Store) {
    let tree = prefix_tree();
    tree.insert(store).await;
    tombstone(store, "a2", at(1)).await;
    let mut tx = store.read().await.expect("read");
    let ids = tx.all_org_ids().await.expect("all_org_ids");
    let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
    assert_eq!(
        ids,
        [
            "a", "a-b", "a.b", "a0", "a1", "a2", "ab", "ab1", "r", "w", "x", "y", "z"
        ]
    );
}

crate::cases![
    inserted_org_reads_back_with_every_field,
    root_org_finds_the_parentless_org,
    inserting_an_existing_id_conflicts,
    inserting_the_id_of_a_tombstoned_org_conflicts,
    update_org_writes_every_field,
    configs_round_trip_through_insert_and_update,
    orgs_by_ids_returns_exactly_the_asked_orgs,
    all_org_ids_lists_every_org_tombstones_included_bytewise,
];
