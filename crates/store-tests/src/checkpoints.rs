//! Signing keys and signed checkpoints: keys, heads, leaves shared between
//! checkpoints.

use orgd_core::checkpoints::{AuditKeyRecord, Checkpoint, Head, Heads, SigningKey};
use orgd_core::store::Store;

use crate::fixtures::{Tree, assert_conflict, at, insert_events, oid, simple_chain};

fn head(org: &str, seq: i64, hash: &str) -> Head {
    Head {
        org_id: org.into(),
        seq,
        hash: hash.into(),
    }
}

fn heads(list: &[Head]) -> Heads {
    list.iter().cloned().collect()
}

fn checkpoint(id: &str, prev: Option<&str>, size: i64) -> Checkpoint {
    Checkpoint {
        id: id.into(),
        created_at: at(60),
        tree_size: size,
        root_hash: "ab".repeat(32),
        prev_id: prev.map(Into::into),
        kid: SigningKey::from_seed(&[1; 32]).public.kid,
        signature: "sig".into(),
    }
}

async fn keys_read_back_and_only_one_is_active(store: &dyn Store) {
    let first = AuditKeyRecord::of(&SigningKey::from_seed(&[1; 32]), true, at(1));
    let second = AuditKeyRecord::of(&SigningKey::from_seed(&[2; 32]), false, at(2));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_audit_key(&first).await.expect("insert_audit_key");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(tx.insert_audit_key(&second).await, "a second active key");
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    tx.set_audit_key_retired(&first.kid, Some(at(2)))
        .await
        .expect("retire");
    tx.insert_audit_key(&second)
        .await
        .expect("insert_audit_key");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let keys = tx.audit_keys().await.expect("audit_keys");
    let mut retired = first.clone();
    retired.retired_at = Some(at(2));
    assert_eq!(keys, vec![retired, second.clone()]);
    assert!(keys[0].signing_key().is_some(), "its seed is kept");
    assert!(keys[1].signing_key().is_none(), "no seed was given");
}

async fn heads_are_each_orgs_newest_event_in_org_order(store: &dyn Store) {
    Tree::of("r/b r/a r/c").insert(store).await;
    let a = simple_chain("a", 3);
    let b = simple_chain("b", 1);
    insert_events(store, &b).await;
    insert_events(store, &a).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.audit_heads().await.expect("audit_heads"),
        heads(&[head("a", 3, &a[2].hash), head("b", 1, &b[0].hash)])
    );
    assert_eq!(
        tx.audit_event_hash(&oid("a"), 2).await.expect("hash"),
        Some(a[1].hash.clone())
    );
    assert_eq!(tx.audit_event_hash(&oid("a"), 4).await.expect("hash"), None);
}

async fn a_checkpoint_shares_the_leaves_that_did_not_move(store: &dyn Store) {
    let key = AuditKeyRecord::of(&SigningKey::from_seed(&[1; 32]), true, at(1));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_audit_key(&key).await.expect("insert_audit_key");
    tx.lock_checkpoints().await.expect("lock_checkpoints");
    let first = checkpoint("ckpt_1", None, 2);
    tx.insert_checkpoint(1, &first, &heads(&[head("b", 1, "b1"), head("a", 1, "a1")]))
        .await
        .expect("insert_checkpoint");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    let second = checkpoint("ckpt_2", Some("ckpt_1"), 3);
    tx.insert_checkpoint(
        2,
        &second,
        &heads(&[head("a", 2, "a2"), head("c", 1, "c1")]),
    )
    .await
    .expect("insert_checkpoint");
    assert_conflict(
        tx.insert_checkpoint(2, &checkpoint("ckpt_x", None, 1), &Heads::default())
            .await,
        "a taken position",
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    tx.insert_checkpoint(
        2,
        &second,
        &heads(&[head("a", 2, "a2"), head("c", 1, "c1")]),
    )
    .await
    .expect("insert_checkpoint");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.checkpoint_leaves(1).await.expect("leaves"),
        heads(&[head("a", 1, "a1"), head("b", 1, "b1")])
    );
    assert_eq!(
        tx.checkpoint_leaves(2).await.expect("leaves"),
        heads(&[head("a", 2, "a2"), head("b", 1, "b1"), head("c", 1, "c1")])
    );
    let changes = tx.checkpoint_changes(2).await.expect("changes");
    assert_eq!(
        changes.into_sorted(),
        heads(&[head("a", 2, "a2"), head("c", 1, "c1")])
    );
    assert_eq!(
        tx.checkpoint_leaf(&oid("a"), 1).await.expect("leaf"),
        Some(head("a", 1, "a1"))
    );
    assert_eq!(
        tx.checkpoint_leaf(&oid("b"), 2).await.expect("leaf"),
        Some(head("b", 1, "b1"))
    );
    assert_eq!(tx.checkpoint_leaf(&oid("c"), 1).await.expect("leaf"), None);
    assert_eq!(
        tx.latest_checkpoint().await.expect("latest"),
        Some((2, second.clone()))
    );
    assert_eq!(
        tx.checkpoint("ckpt_1").await.expect("checkpoint"),
        Some((1, first.clone()))
    );
    assert_eq!(tx.checkpoint("ckpt_9").await.expect("checkpoint"), None);
    assert_eq!(
        tx.checkpoints_after(0, 10).await.expect("after"),
        vec![(1, first), (2, second.clone())]
    );
    assert_eq!(
        tx.checkpoints_after(1, 10).await.expect("after"),
        vec![(2, second)]
    );
    assert_eq!(tx.checkpoints_after(0, 0).await.expect("after"), vec![]);
}

async fn the_first_checkpoint_since_a_time_is_found(store: &dyn Store) {
    let key = AuditKeyRecord::of(&SigningKey::from_seed(&[1; 32]), true, at(1));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_audit_key(&key).await.expect("insert_audit_key");
    let mut made = Vec::new();
    for (position, secs) in [(1, 60), (2, 120), (3, 180)] {
        let mut c = checkpoint(&format!("ckpt_{position}"), None, 1);
        c.created_at = at(secs);
        tx.insert_checkpoint(position, &c, &Heads::default())
            .await
            .expect("insert_checkpoint");
        made.push((position, c));
    }
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    for (secs, want) in [
        (0, Some(0)),
        (60, Some(0)),
        (61, Some(1)),
        (120, Some(1)),
        (179, Some(2)),
        (181, None),
    ] {
        assert_eq!(
            tx.first_checkpoint_since(at(secs)).await.expect("since"),
            want.map(|i: usize| made[i].clone()),
            "since {secs} s"
        );
    }
}

cases![
    keys_read_back_and_only_one_is_active,
    heads_are_each_orgs_newest_event_in_org_order,
    a_checkpoint_shares_the_leaves_that_did_not_move,
    the_first_checkpoint_since_a_time_is_found,
];
