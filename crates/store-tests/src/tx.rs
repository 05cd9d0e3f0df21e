//! Transactions: atomicity, visibility, snapshots and the org lock.

use std::time::Duration;

use orgd_core::api_keys::digest;
use orgd_core::store::{Store, Tx};

use crate::fixtures::{Tree, at, child_org, claim, key, oid, read_org, simple_chain};

/// Writes one record of every kind (the org `a`, a key of it, an event of it
/// and an idempotency claim) without committing.
async fn write_everything(tx: &mut dyn Tx, tree: &Tree) {
    tx.insert_org(tree.org("a")).await.expect("insert_org");
    tx.insert_key(&key("a", "key_1", "orgd_secret_of_key_one_0123456789abcd"))
        .await
        .expect("insert_key");
    tx.insert_audit_event(&simple_chain("a", 1)[0])
        .await
        .expect("insert_event");
    tx.insert_idempotency(&claim("key_1", "k", at(0)))
        .await
        .expect("insert_idempotency");
}

/// Whether each kind of record written by [`write_everything`] is visible
/// to a fresh read transaction.
async fn visible(store: &dyn Store) -> [bool; 4] {
    let mut tx = store.read().await.expect("read");
    [
        tx.org(&oid("a")).await.expect("org").is_some(),
        tx.key_by_digest(&digest("orgd_secret_of_key_one_0123456789abcd"))
            .await
            .expect("key_by_digest")
            .is_some(),
        tx.audit_head(&oid("a"))
            .await
            .expect("audit_head")
            .is_some(),
        tx.idempotency("key_1", "k")
            .await
            .expect("idempotency")
            .is_some(),
    ]
}

async fn ping_answers_on_an_open_store(store: &dyn Store) {
    store.ping().await.expect("ping");
}

async fn writes_of_a_dropped_transaction_are_not_visible(store: &dyn Store) {
    let tree = Tree::of("r/a");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(tree.org("r")).await.expect("insert_org");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    write_everything(tx.as_mut(), &tree).await;
    // Visible inside the transaction itself.
    assert!(tx.org(&oid("a")).await.expect("org").is_some());
    drop(tx);

    assert_eq!(visible(store).await, [false; 4]);

    // The store is usable afterwards, and the same writes can now commit.
    let mut tx = store
        .begin()
        .await
        .expect("begin after a dropped transaction");
    write_everything(tx.as_mut(), &tree).await;
    tx.commit().await.expect("commit");
    assert_eq!(visible(store).await, [true; 4]);
}

async fn committed_writes_are_visible_to_readers(store: &dyn Store) {
    let tree = Tree::of("r/a");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(tree.org("r")).await.expect("insert_org");
    write_everything(tx.as_mut(), &tree).await;
    tx.commit().await.expect("commit");

    assert_eq!(visible(store).await, [true; 4]);
    assert_eq!(read_org(store, "a").await.as_ref(), Some(tree.org("a")));
}

async fn a_read_transaction_keeps_its_snapshot(store: &dyn Store) {
    let tree = Tree::of("r/a");
    tree.insert(store).await;

    let mut reader = store.read().await.expect("read");
    let before = reader.org(&oid("a")).await.expect("org").expect("a");

    let mut writer = store.begin().await.expect("begin");
    let mut changed = before.clone();
    changed.name = "Changed".to_owned();
    changed.version += 1;
    writer.update_org(&changed).await.expect("update_org");
    writer
        .insert_org(&child_org(tree.org("r"), "b"))
        .await
        .expect("insert_org");
    writer.commit().await.expect("commit");

    assert_eq!(
        reader.org(&oid("a")).await.expect("org").as_ref(),
        Some(&before)
    );
    assert_eq!(reader.org(&oid("b")).await.expect("org"), None);
    drop(reader);

    assert_eq!(read_org(store, "a").await, Some(changed));
    assert!(read_org(store, "b").await.is_some());
}

async fn lock_org_serialises_read_modify_write(store: &dyn Store) {
    Tree::of("r/a").insert(store).await;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();

    // Both writers read the version under the lock and write it back plus
    // one; the second starts while the first holds the lock, so without
    // serialisation one increment would be lost.
    let first = async {
        let mut tx = store.begin().await.expect("begin");
        let mut org = tx.lock_org(&oid("a")).await.expect("lock").expect("a");
        locked_tx.send(()).expect("signal");
        tokio::time::sleep(Duration::from_millis(200)).await;
        org.version += 1;
        org.name = "first".to_owned();
        tx.update_org(&org).await.expect("update_org");
        tx.commit().await.expect("commit");
    };
    let second = async {
        locked_rx.await.expect("first holds the lock");
        let mut tx = store.begin().await.expect("begin");
        let mut org = tx.lock_org(&oid("a")).await.expect("lock").expect("a");
        assert_eq!(
            org.name, "first",
            "the lock is taken after the first commits"
        );
        org.version += 1;
        org.name = "second".to_owned();
        tx.update_org(&org).await.expect("update_org");
        tx.commit().await.expect("commit");
    };
    tokio::join!(first, second);

    let a = read_org(store, "a").await.expect("a");
    assert_eq!((a.version, a.name.as_str()), (3, "second"));
}

crate::cases![
    ping_answers_on_an_open_store,
    writes_of_a_dropped_transaction_are_not_visible,
    committed_writes_are_visible_to_readers,
    a_read_transaction_keeps_its_snapshot,
    lock_org_serialises_read_modify_write,
];
