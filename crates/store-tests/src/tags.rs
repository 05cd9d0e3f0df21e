//! Tags: written through `TagRepo`, loaded with every org a read returns.

use std::collections::BTreeMap;

use orgd_core::orgs::OrgRecord;
use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, Store};
use orgd_core::tags::Tag;

use crate::fixtures::{
    Tree, assert_conflict, at_ms, insert_tags, oid, org_ids, read_org, tag, tag_names,
};

/// `org` as stored with these tags, given in name order.
fn with_tags(org: &OrgRecord, tags: &[Tag]) -> OrgRecord {
    let mut org = org.clone();
    org.tags = tags.to_vec();
    org
}

async fn inserted_tags_load_with_the_org_ordered_by_name(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;
    // Inserted out of order, each made at its own instant. In byte order
    // digits < upper case < lower case, and '-' < '.' < ':' < '_'.
    let mut tags: Vec<Tag> = [
        ("tag_1", "env:prod"),
        ("tag_2", "Beta"),
        ("tag_3", "alpha"),
        ("tag_4", "env-dev"),
        ("tag_5", "env.qa"),
        ("tag_6", "9lives"),
        ("tag_7", "env_x"),
    ]
    .into_iter()
    .zip(1..)
    .map(|((id, name), ms)| Tag {
        created_at: at_ms(ms * 1_001),
        ..tag(id, name)
    })
    .collect();

    let mut tx = store.begin().await.expect("begin");
    for t in &tags {
        tx.insert_tag(&oid("a"), t).await.expect("insert_tag");
    }
    // Visible inside the writing transaction already.
    let seen = tx.org(&oid("a")).await.expect("org").expect("a exists");
    assert_eq!(seen.tags.len(), tags.len());
    tx.commit().await.expect("commit");

    tags.sort_by(|x, y| x.name.as_bytes().cmp(y.name.as_bytes()));
    let a = read_org(store, "a").await.expect("a exists");
    assert_eq!(
        tag_names(&a.tags),
        [
            "9lives", "Beta", "alpha", "env-dev", "env.qa", "env:prod", "env_x"
        ]
    );
    assert_eq!(a, with_tags(tree.org("a"), &tags));
    assert_eq!(read_org(store, "b").await.as_ref(), Some(tree.org("b")));
    assert_eq!(read_org(store, "r").await.as_ref(), Some(tree.org("r")));
}

async fn tags_load_with_locked_listed_and_fetched_orgs(store: &dyn Store) {
    // r ─ a ─ a1
    //   └ b          (b has no tags)
    let tree = Tree::of("r/a/a1 r/b");
    tree.insert(store).await;
    let tags: BTreeMap<&str, Vec<Tag>> = BTreeMap::from([
        ("r", vec![tag("tag_r1", "root")]),
        ("a", vec![tag("tag_a2", "gold"), tag("tag_a1", "pci")]),
        ("a1", vec![tag("tag_a11", "env:dev")]),
        ("b", vec![]),
    ]);
    for (org, ts) in &tags {
        insert_tags(store, org, ts).await;
    }
    let expected = |o: &OrgRecord| with_tags(tree.org(o.id.as_str()), &tags[o.id.as_str()]);

    let mut tx = store.begin().await.expect("begin");
    let locked = tx.lock_org(&oid("a")).await.expect("lock_org");
    assert_eq!(locked, Some(with_tags(tree.org("a"), &tags["a"])));
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    let q = OrgQuery {
        subtree_of: tree.path("r"),
        include_root: true,
        ..OrgQuery::default()
    };
    let listed = tx
        .list_orgs(&q, &PageRequest::first(100))
        .await
        .expect("list_orgs");
    assert_eq!(org_ids(&listed), ["a", "a1", "b", "r"]);
    for o in &listed {
        assert_eq!(o, &expected(o), "list_orgs row {}", o.id);
    }

    let subtree = tx
        .live_subtree(&tree.path("r"))
        .await
        .expect("live_subtree");
    assert_eq!(subtree.len(), 4);
    for o in &subtree {
        assert_eq!(o, &expected(o), "live_subtree row {}", o.id);
    }

    let fetched = tx
        .orgs_by_ids(&[oid("a1"), oid("b"), oid("a")])
        .await
        .expect("orgs_by_ids");
    assert_eq!(fetched.len(), 3);
    for o in &fetched {
        assert_eq!(o, &expected(o), "orgs_by_ids row {}", o.id);
    }
}

async fn root_org_loads_its_tags(store: &dyn Store) {
    let tree = Tree::of("r/a");
    tree.insert(store).await;
    let tags = [tag("tag_2", "billing"), tag("tag_1", "internal")];
    insert_tags(store, "r", &tags).await;
    insert_tags(store, "a", &[tag("tag_3", "other")]).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.root_org().await.expect("root_org"),
        Some(with_tags(tree.org("r"), &tags))
    );
}

async fn a_duplicate_tag_name_in_one_org_conflicts(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;
    let first = tag("tag_1", "env:prod");
    insert_tags(store, "a", std::slice::from_ref(&first)).await;

    let mut tx = store.begin().await.expect("begin");
    assert_conflict(
        tx.insert_tag(&oid("a"), &tag("tag_2", "env:prod")).await,
        "a second tag of the same name in one org",
    );
    drop(tx);

    // The same name in another org, and a name differing only in case.
    let elsewhere = tag("tag_3", "env:prod");
    let upper = tag("tag_4", "Env:prod");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_tag(&oid("b"), &elsewhere)
        .await
        .expect("the same name in another org");
    tx.insert_tag(&oid("a"), &upper)
        .await
        .expect("a name differing in case");
    tx.commit().await.expect("commit");

    let a = read_org(store, "a").await.expect("a exists");
    assert_eq!(a.tags, [upper, first]);
    let b = read_org(store, "b").await.expect("b exists");
    assert_eq!(b.tags, [elsewhere]);
}

async fn deleting_a_tag_returns_it_once(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;
    let x = Tag {
        created_at: at_ms(1_234),
        ..tag("tag_1", "x")
    };
    let y = tag("tag_2", "y");
    let bx = tag("tag_3", "x");
    insert_tags(store, "a", &[x.clone(), y.clone()]).await;
    insert_tags(store, "b", std::slice::from_ref(&bx)).await;

    let mut tx = store.begin().await.expect("begin");
    // Tags are deleted within their org only.
    assert_eq!(
        tx.delete_tag(&oid("b"), "tag_1").await.expect("delete_tag"),
        None
    );
    assert_eq!(
        tx.delete_tag(&oid("a"), "tag_1").await.expect("delete_tag"),
        Some(x)
    );
    assert_eq!(
        tx.delete_tag(&oid("a"), "tag_1").await.expect("delete_tag"),
        None
    );
    assert_eq!(
        tx.delete_tag(&oid("a"), "tag_missing")
            .await
            .expect("delete_tag"),
        None
    );
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.delete_tag(&oid("a"), "tag_1").await.expect("delete_tag"),
        None
    );
    drop(tx);
    assert_eq!(
        read_org(store, "a").await.expect("a").tags,
        std::slice::from_ref(&y)
    );
    assert_eq!(read_org(store, "b").await.expect("b").tags, [bx]);

    // The name is free again.
    let again = tag("tag_4", "x");
    insert_tags(store, "a", std::slice::from_ref(&again)).await;
    assert_eq!(read_org(store, "a").await.expect("a").tags, [again, y]);
}

async fn insert_org_and_update_org_leave_tags_alone(store: &dyn Store) {
    let tree = Tree::of("r/a");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(tree.org("r")).await.expect("insert_org");
    // Tags on the record given to insert_org are not written.
    let ignored = with_tags(tree.org("a"), &[tag("tag_ignored", "ignored")]);
    tx.insert_org(&ignored).await.expect("insert_org");
    tx.commit().await.expect("commit");
    assert_eq!(read_org(store, "a").await.as_ref(), Some(tree.org("a")));

    let kept = tag("tag_1", "kept");
    insert_tags(store, "a", std::slice::from_ref(&kept)).await;

    // Nor are they by update_org, whether the record has none or others.
    for (version, on_record) in [(2, vec![]), (3, vec![tag("tag_other", "other")])] {
        let mut changed = with_tags(tree.org("a"), &on_record);
        changed.name = format!("Renamed {version}");
        changed.version = version;
        let mut tx = store.begin().await.expect("begin");
        tx.update_org(&changed).await.expect("update_org");
        tx.commit().await.expect("commit");
        let stored = read_org(store, "a").await.expect("a exists");
        assert_eq!(stored.name, changed.name);
        assert_eq!(stored.version, version);
        assert_eq!(stored.tags, std::slice::from_ref(&kept));
    }
}

crate::cases![
    inserted_tags_load_with_the_org_ordered_by_name,
    tags_load_with_locked_listed_and_fetched_orgs,
    root_org_loads_its_tags,
    a_duplicate_tag_name_in_one_org_conflicts,
    deleting_a_tag_returns_it_once,
    insert_org_and_update_org_leave_tags_alone,
];
