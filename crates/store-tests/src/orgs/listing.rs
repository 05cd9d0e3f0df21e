//! `list_orgs`: subtree bounds, its filters (parent, name prefix, tags),
//! tombstones, and pages by id.

use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, Store};

use crate::fixtures::{Tree, at, insert_tags, oid, org_ids, tag, tombstone};

use super::{list_all, page_after, prefix_tree, subtree};

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
    listing_a_subtree_excludes_siblings_sharing_an_id_prefix,
    listing_includes_the_subtree_root_only_when_asked,
    listing_filters_by_parent,
    listing_filters_by_name_prefix,
    listing_skips_tombstoned_orgs,
    listing_orders_by_id_bytewise,
    listing_pages_by_id_and_returns_at_most_limit_plus_one,
    listing_filters_by_tags_requiring_all_of_them,
];
