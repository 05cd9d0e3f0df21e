//! Orgs: round trips, uniqueness, listing, moving and subtree queries.

use orgd_core::configs::{Configs, REGISTRY};
use orgd_core::org::OrgRecord;
use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, Store, Tx};
use serde_json::json;

use crate::fixtures::{
    Tree, assert_conflict, at, at_ms, child_org, insert_tags, oid, org_ids, read_org, root_org, t0,
    tag, tombstone,
};

/// A tree whose org `a` has siblings sharing its id as a prefix (`ab`, `a-b`,
/// `a.b`, `a0`), each with a child, so a subtree scan that forgets the
/// trailing `/` would see them.
///
/// ```text
/// r ─ a ─ a1 ─ a2
///   │   └ z
///   ├ ab ─ ab1
///   ├ a-b ─ x
///   ├ a.b ─ y
///   └ a0 ─ w
/// ```
fn prefix_tree() -> Tree {
    Tree::of("r/a/a1/a2 r/a/z r/ab/ab1 r/a-b/x r/a.b/y r/a0/w")
}

/// Lists every matching org in one page.
async fn list_all(store: &dyn Store, q: &OrgQuery) -> Vec<String> {
    let mut tx = store.read().await.expect("read");
    let rows = tx
        .list_orgs(q, &PageRequest::first(1000))
        .await
        .expect("list_orgs");
    org_ids(&rows).into_iter().map(str::to_owned).collect()
}

/// A page of `limit` rows after the position `key`.
fn page_after(limit: usize, key: &str) -> PageRequest<String> {
    PageRequest {
        limit,
        after: Some(key.to_owned()),
    }
}

fn subtree(path: &str, include_root: bool) -> OrgQuery {
    OrgQuery {
        subtree_of: path.to_owned(),
        include_root,
        ..OrgQuery::default()
    }
}

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

async fn listing_a_subtree_excludes_siblings_sharing_an_id_prefix(store: &dyn Store) {
    let tree = prefix_tree();
    tree.insert(store).await;

    assert_eq!(
        list_all(store, &subtree(&tree.path("a"), true)).await,
        ["a", "a1", "a2", "z"]
    );
    assert_eq!(
        list_all(store, &subtree(&tree.path("ab"), true)).await,
        ["ab", "ab1"]
    );
    assert_eq!(
        list_all(store, &subtree(&tree.path("a1"), true)).await,
        ["a1", "a2"]
    );
    assert_eq!(
        list_all(store, &subtree(&tree.path("r"), true)).await.len(),
        tree.orgs().len()
    );
}

async fn listing_includes_the_subtree_root_only_when_asked(store: &dyn Store) {
    let tree = prefix_tree();
    tree.insert(store).await;

    assert_eq!(
        list_all(store, &subtree(&tree.path("a"), false)).await,
        ["a1", "a2", "z"]
    );
    assert_eq!(
        list_all(store, &subtree(&tree.path("a2"), false)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list_all(store, &subtree(&tree.path("a2"), true)).await,
        ["a2"]
    );
}

async fn listing_filters_by_parent(store: &dyn Store) {
    let tree = prefix_tree();
    tree.insert(store).await;

    let children_of = |subtree_of: &str, parent: &str| OrgQuery {
        subtree_of: subtree_of.to_owned(),
        include_root: true,
        parent_id: Some(oid(parent)),
        ..OrgQuery::default()
    };
    assert_eq!(
        list_all(store, &children_of(&tree.path("r"), "a")).await,
        ["a1", "z"]
    );
    assert_eq!(
        list_all(store, &children_of(&tree.path("a"), "a")).await,
        ["a1", "z"]
    );
    assert_eq!(
        list_all(store, &children_of(&tree.path("r"), "r")).await,
        ["a", "a-b", "a.b", "a0", "ab"]
    );
    // A parent outside the subtree has no children inside it.
    assert_eq!(
        list_all(store, &children_of(&tree.path("a"), "ab")).await,
        Vec::<String>::new()
    );
}

async fn listing_filters_by_name_prefix(store: &dyn Store) {
    let tree = Tree::new("r")
        .add_named("r", "o1", "Acme")
        .add_named("r", "o2", "Acorn")
        .add_named("r", "o3", "acme lower")
        .add_named("r", "o4", "été")
        .add_named("r", "o5", "étoile")
        .add_named("r", "o6", "Éclair")
        .add_named("r", "o7", "e-mail")
        .add_named("r", "o8", "50% off")
        .add_named("r", "o9", "500 club")
        .add_named("r", "o10", "a_b")
        .add_named("r", "o11", "axb");
    tree.insert(store).await;

    let named = |prefix: &str| OrgQuery {
        subtree_of: tree.path("r"),
        include_root: true,
        name_prefix: Some(prefix.to_owned()),
        ..OrgQuery::default()
    };
    assert_eq!(list_all(store, &named("Ac")).await, ["o1", "o2"]);
    assert_eq!(list_all(store, &named("Acme")).await, ["o1"]);
    assert_eq!(list_all(store, &named("é")).await, ["o4", "o5"]);
    assert_eq!(list_all(store, &named("ét")).await, ["o4", "o5"]);
    assert_eq!(list_all(store, &named("éto")).await, ["o5"]);
    assert_eq!(list_all(store, &named("É")).await, ["o6"]);
    // Wildcard characters of LIKE patterns match only themselves.
    assert_eq!(list_all(store, &named("50%")).await, ["o8"]);
    assert_eq!(list_all(store, &named("a_")).await, ["o10"]);
    assert_eq!(
        list_all(store, &named("Acme Holding")).await,
        Vec::<String>::new()
    );
}

async fn listing_skips_tombstoned_orgs(store: &dyn Store) {
    let tree = Tree::of("r/a r/b r/a/a1");
    tree.insert(store).await;
    tombstone(store, "a1", at(1)).await;
    tombstone(store, "b", at(2)).await;

    assert_eq!(
        list_all(store, &subtree(&tree.path("r"), true)).await,
        ["a", "r"]
    );
    assert_eq!(
        list_all(store, &subtree(&tree.path("a"), false)).await,
        Vec::<String>::new()
    );
    // A tombstoned subtree root lists nothing of itself.
    assert_eq!(
        list_all(store, &subtree(&tree.path("b"), true)).await,
        Vec::<String>::new()
    );
}

async fn listing_orders_by_id_bytewise(store: &dyn Store) {
    // Inserted out of order; digits < upper case < lower case in byte order.
    let tree = Tree::of("r/m r/B r/a r/0z r/Z9 r/a-1 r/a.1 r/a_1 r/b");
    tree.insert(store).await;

    assert_eq!(
        list_all(store, &subtree(&tree.path("r"), false)).await,
        ["0z", "B", "Z9", "a", "a-1", "a.1", "a_1", "b", "m"]
    );
}

async fn listing_pages_by_id_and_returns_at_most_limit_plus_one(store: &dyn Store) {
    let mut tree = Tree::new("r");
    for id in ["k", "c", "h", "a", "f", "d", "j", "b", "i", "e", "g"] {
        tree = tree.add("r", id);
    }
    tree.insert(store).await;
    let q = subtree(&tree.path("r"), false);

    let mut tx = store.read().await.expect("read");
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    let mut pages = 0;
    loop {
        let rows = tx.list_orgs(&q, &page).await.expect("list_orgs");
        assert!(
            rows.len() <= 4,
            "at most limit + 1 rows, got {}",
            rows.len()
        );
        pages += 1;
        let more = rows.len() > 3;
        seen.extend(rows.into_iter().take(3).map(|o| o.id.to_string()));
        if !more {
            break;
        }
        page.after = seen.last().cloned();
    }
    assert_eq!(pages, 4);
    assert_eq!(
        seen,
        ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    );

    // A full first page: limit + 1 rows, the extra one being the next page's first.
    let rows = tx
        .list_orgs(&q, &PageRequest::first(3))
        .await
        .expect("list_orgs");
    assert_eq!(org_ids(&rows), ["a", "b", "c", "d"]);
    // Exactly `limit` rows left: no extra row.
    let rows = tx
        .list_orgs(&q, &page_after(3, "h"))
        .await
        .expect("list_orgs");
    assert_eq!(org_ids(&rows), ["i", "j", "k"]);
    // A key that is not an id still works as a position.
    let rows = tx
        .list_orgs(&q, &page_after(2, "cz"))
        .await
        .expect("list_orgs");
    assert_eq!(org_ids(&rows), ["d", "e", "f"]);
}

async fn moving_a_subtree_rewrites_paths_and_depths_inside_it_only(store: &dyn Store) {
    // r ─ a ─ a1 ─ a2          move a under b1:  r ─ b ─ b1 ─ a ─ a1 ─ a2
    //   │      └ dead (†)                                        └ dead (†)
    //   ├ ab ─ ab1
    //   └ b ─ b1
    let tree = Tree::of("r/a/a1/a2 r/a/a1/dead r/ab/ab1 r/b/b1");
    tree.insert(store).await;
    let dead = tombstone(store, "dead", at(1)).await;

    let old_path = tree.path("a");
    let new_path = tree.path("b1") + "a/";
    let mut tx = store.begin().await.expect("begin");
    tx.move_subtree(&old_path, &new_path)
        .await
        .expect("move_subtree");
    tx.commit().await.expect("commit");

    let moved = |mut org: OrgRecord, depth: i64| {
        org.path = org.path.replacen(&old_path, &new_path, 1);
        org.depth = depth;
        org
    };
    assert_eq!(
        read_org(store, "a").await,
        Some(moved(tree.org("a").clone(), 4))
    );
    assert_eq!(
        read_org(store, "a1").await,
        Some(moved(tree.org("a1").clone(), 5))
    );
    assert_eq!(
        read_org(store, "a2").await,
        Some(moved(tree.org("a2").clone(), 6))
    );
    assert_eq!(read_org(store, "dead").await, Some(moved(dead, 6)));
    assert_eq!(
        read_org(store, "a2").await.map(|o| o.path),
        Some("/r/b/b1/a/a1/a2/".to_owned())
    );
    for untouched in ["r", "ab", "ab1", "b", "b1"] {
        assert_eq!(
            read_org(store, untouched).await.as_ref(),
            Some(tree.org(untouched)),
            "{untouched}"
        );
    }
}

async fn moving_a_subtree_up_reduces_depths(store: &dyn Store) {
    let tree = Tree::of("r/a/a1/a2/a3 r/a2x");
    tree.insert(store).await;

    let mut tx = store.begin().await.expect("begin");
    tx.move_subtree(&tree.path("a2"), "/r/a2/")
        .await
        .expect("move_subtree");
    tx.commit().await.expect("commit");

    let a2 = read_org(store, "a2").await.expect("a2");
    let a3 = read_org(store, "a3").await.expect("a3");
    assert_eq!((a2.path.as_str(), a2.depth), ("/r/a2/", 2));
    assert_eq!((a3.path.as_str(), a3.depth), ("/r/a2/a3/", 3));
    for untouched in ["r", "a", "a1", "a2x"] {
        assert_eq!(
            read_org(store, untouched).await.as_ref(),
            Some(tree.org(untouched)),
            "{untouched}"
        );
    }
}

async fn count_live_children_counts_direct_live_children_only(store: &dyn Store) {
    let tree = Tree::of("r/a/a1 r/a/a2 r/a/a3 r/a/a1/a11 r/ab/ab1");
    tree.insert(store).await;
    tombstone(store, "a3", at(1)).await;

    let ids = ["r", "a", "a1", "a11", "ab", "a3"];
    assert_eq!(live_children(store, &ids).await, [2, 2, 1, 0, 1, 0]);

    // A move takes a live child from one parent to the other; a rename
    // changes no count; a deletion takes one away.
    let mut tx = store.begin().await.expect("begin");
    let mut moved = tx.lock_org(&oid("a2")).await.expect("lock").expect("a2");
    moved.parent_id = Some(oid("ab"));
    tx.update_org(&moved).await.expect("move");
    let mut renamed = tx.lock_org(&oid("a1")).await.expect("lock").expect("a1");
    renamed.name = "renamed".into();
    tx.update_org(&renamed).await.expect("rename");
    tx.commit().await.expect("commit");
    tombstone(store, "ab1", at(2)).await;
    assert_eq!(
        live_children(store, &["a", "ab", "a1", "r"]).await,
        [1, 1, 1, 2],
        "after the move"
    );
}

/// `count_live_children` of each of `ids`, in a fresh read transaction.
async fn live_children(store: &dyn Store, ids: &[&str]) -> Vec<i64> {
    let mut tx = store.read().await.expect("read");
    let mut counts = Vec::new();
    for id in ids {
        counts.push(tx.count_live_children(&oid(id)).await.expect("count"));
    }
    counts
}

async fn max_depth_in_subtree_ignores_tombstones_and_siblings(store: &dyn Store) {
    // depths:  r 1 ─ a 2 ─ a1 3 ─ a2 4 (†)
    //              └ ab 2 ─ ab1 3 ─ ab2 4 ─ ab3 5
    let tree = Tree::of("r/a/a1/a2 r/ab/ab1/ab2/ab3");
    tree.insert(store).await;
    tombstone(store, "a2", at(1)).await;

    let mut tx = store.read().await.expect("read");
    let mut depths = Vec::new();
    for id in ["r", "a", "a1", "ab", "ab2", "ab3"] {
        let depth = tx.max_depth_in_subtree(&tree.path(id)).await;
        depths.push(depth.expect("max_depth"));
    }
    assert_eq!(depths, [5, 3, 3, 5, 5, 5]);
}

async fn live_subtree_lists_live_orgs_deepest_first(store: &dyn Store) {
    let tree = Tree::of("r/a/a1/a2 r/a/b1/b2 r/a/a1/dead r/ab/ab1");
    tree.insert(store).await;
    tombstone(store, "dead", at(1)).await;

    let mut tx = store.begin().await.expect("begin");
    let rows = tx
        .live_subtree(&tree.path("a"))
        .await
        .expect("live_subtree");
    let depths: Vec<i64> = rows.iter().map(|o| o.depth).collect();
    assert!(
        depths.windows(2).all(|w| w[0] >= w[1]),
        "deepest first: {depths:?}"
    );
    let mut ids = org_ids(&rows);
    assert_eq!(ids.last(), Some(&"a"));
    ids.sort_unstable();
    assert_eq!(ids, ["a", "a1", "a2", "b1", "b2"]);
    for row in &rows {
        assert_eq!(row, tree.org(row.id.as_str()));
    }

    let leaf = tx
        .live_subtree(&tree.path("a2"))
        .await
        .expect("live_subtree");
    assert_eq!(org_ids(&leaf), ["a2"]);
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

async fn listing_filters_by_tags_requiring_all_of_them(store: &dyn Store) {
    // r ─ a ─ a1
    //   ├ b
    //   ├ c
    //   └ d (†)
    let tree = Tree::of("r/a/a1 r/b r/c r/d");
    tree.insert(store).await;
    for (org, names) in [
        ("r", &["env:prod", "pci"][..]),
        ("a", &["env:prod", "pci"]),
        ("a1", &["env:prod"]),
        ("b", &["env:prod", "gold", "pci"]),
        ("c", &["Env:prod", "pci"]),
        ("d", &["env:prod", "pci"]),
    ] {
        let tags: Vec<_> = names
            .iter()
            .map(|n| tag(&format!("tag_{org}_{n}"), n))
            .collect();
        insert_tags(store, org, &tags).await;
    }
    tombstone(store, "d", at(1)).await;

    let tagged = |subtree_of: &str, include_root: bool, tags: &[&str]| OrgQuery {
        subtree_of: tree.path(subtree_of),
        include_root,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..OrgQuery::default()
    };
    assert_eq!(
        list_all(store, &tagged("r", true, &["env:prod"])).await,
        ["a", "a1", "b", "r"]
    );
    assert_eq!(
        list_all(store, &tagged("r", true, &["env:prod", "pci"])).await,
        ["a", "b", "r"]
    );
    assert_eq!(
        list_all(store, &tagged("r", true, &["pci", "env:prod"])).await,
        ["a", "b", "r"]
    );
    assert_eq!(
        list_all(store, &tagged("r", false, &["pci", "gold", "env:prod"])).await,
        ["b"]
    );
    // Within a subtree, and its root only when asked.
    assert_eq!(
        list_all(store, &tagged("a", false, &["env:prod", "pci"])).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list_all(store, &tagged("a", true, &["env:prod", "pci"])).await,
        ["a"]
    );
    // Names match whole and case-sensitively.
    assert_eq!(
        list_all(store, &tagged("r", true, &["env"])).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list_all(store, &tagged("r", true, &["Env:prod"])).await,
        ["c"]
    );
    assert_eq!(
        list_all(store, &tagged("r", true, &["pci", "nothing"])).await,
        Vec::<String>::new()
    );
    // With the other filters.
    let q = OrgQuery {
        parent_id: Some(oid("r")),
        ..tagged("r", true, &["pci"])
    };
    assert_eq!(list_all(store, &q).await, ["a", "b", "c"]);

    // Rows carry all their tags, not only the ones asked for, and page as usual.
    let q = tagged("r", true, &["pci", "env:prod"]);
    let mut tx = store.read().await.expect("read");
    let rows = tx
        .list_orgs(&q, &PageRequest::first(1))
        .await
        .expect("list_orgs");
    assert_eq!(org_ids(&rows), ["a", "b"]);
    let names: Vec<&str> = rows[1].tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["env:prod", "gold", "pci"]);
    let rows = tx
        .list_orgs(&q, &page_after(1, "a"))
        .await
        .expect("list_orgs");
    assert_eq!(org_ids(&rows), ["b", "r"]);
}

crate::cases![
    inserted_org_reads_back_with_every_field,
    root_org_finds_the_parentless_org,
    inserting_an_existing_id_conflicts,
    inserting_the_id_of_a_tombstoned_org_conflicts,
    update_org_writes_every_field,
    listing_a_subtree_excludes_siblings_sharing_an_id_prefix,
    listing_includes_the_subtree_root_only_when_asked,
    listing_filters_by_parent,
    listing_filters_by_name_prefix,
    listing_skips_tombstoned_orgs,
    listing_orders_by_id_bytewise,
    listing_pages_by_id_and_returns_at_most_limit_plus_one,
    moving_a_subtree_rewrites_paths_and_depths_inside_it_only,
    moving_a_subtree_up_reduces_depths,
    count_live_children_counts_direct_live_children_only,
    max_depth_in_subtree_ignores_tombstones_and_siblings,
    live_subtree_lists_live_orgs_deepest_first,
    configs_round_trip_through_insert_and_update,
    orgs_by_ids_returns_exactly_the_asked_orgs,
    all_org_ids_lists_every_org_tombstones_included_bytewise,
    listing_filters_by_tags_requiring_all_of_them,
];
