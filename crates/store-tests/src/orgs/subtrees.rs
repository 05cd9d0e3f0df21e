//! Subtrees: moving one, and the counts and scans the service makes over
//! one (live children, depth, live orgs deepest first).

use orgd_core::orgs::OrgRecord;
use orgd_core::store::Store;

use crate::fixtures::{Tree, at, oid, org_ids, read_org, tombstone};

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

crate::cases![
    moving_a_subtree_rewrites_paths_and_depths_inside_it_only,
    moving_a_subtree_up_reduces_depths,
    count_live_children_counts_direct_live_children_only,
    max_depth_in_subtree_ignores_tombstones_and_siblings,
    live_subtree_lists_live_orgs_deepest_first,
];
