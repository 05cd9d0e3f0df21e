//! The database file and other processes: journals, read-only opening,
//! backups, and a write lock held elsewhere.

use orgd_core::store::{OpenMode, Store};
use orgd_store_tests::fixtures::read_org;

use super::*;

#[tokio::test]
async fn the_writer_keeps_savepoint_journals_in_memory() {
    let (store, _tree, _dir) = fresh(patient()).await;
    let writer = store.writer.as_ref().unwrap();
    let tx = SqliteTx {
        unit: Unit::Write(writer.begin().await.unwrap()),
    };
    let temp_store: i64 = sql::count(tx.conn().unwrap(), "PRAGMA temp_store", []).unwrap();
    assert_eq!(temp_store, 2, "MEMORY: no temporary file per batch");
}

#[tokio::test]
async fn a_read_only_store_refuses_writes_and_changes_nothing() {
    let (store, tree, dir) = fresh(patient()).await;
    store.close().await;
    drop(store);
    let file = dir.path().join("t.db");
    let bytes = std::fs::read(&file).unwrap();

    let mut opts = SqliteOptions::new(url(&dir));
    opts.mode = OpenMode::ReadOnly;
    let ro = SqliteStore::open(&opts).await.unwrap();
    assert!(read_org(&ro, "r").await.is_some());
    let mut tx = ro.begin().await.unwrap();
    assert!(tx.insert_org(tree.org("a")).await.is_err());
    assert!(tx.commit().await.is_ok());
    assert!(read_org(&ro, "a").await.is_none());
    ro.close().await;

    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert!(
        !open::wal_path(&file).exists(),
        "no write-ahead log was made"
    );
}

#[tokio::test]
async fn a_backup_is_a_store_of_its_own() {
    let (store, _tree, dir) = fresh(patient()).await;
    let dest = dir.path().join("copy.db");
    store.backup_to(&dest).await.unwrap();
    assert!(store.backup_to(&dest).await.is_err(), "never overwrites");
    store.close().await;

    let mut opts = SqliteOptions::new(format!("sqlite://{}", dest.display()));
    opts.mode = OpenMode::ReadOnly;
    let copy = SqliteStore::open(&opts).await.unwrap();
    assert!(read_org(&copy, "r").await.is_some());
    copy.close().await;
}

/// Another process holding the write lock (`orgd keys create`): a unit
/// waits for it without stopping the runtime, here a single thread.
#[tokio::test(flavor = "current_thread")]
async fn waiting_for_another_process_does_not_stall_the_runtime() {
    let (store, tree, dir) = fresh(patient()).await;
    let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    // Given up while it waits: its unit still ends, and frees the writer.
    // (Yielding lets the runtime's one thread run the spawned unit up to
    // where it waits.)
    let gave_up = spawn_insert(&store, &tree, "a");
    tokio::task::yield_now().await;
    gave_up.abort();

    // Had the unit waited on the runtime's thread, this task could only
    // resume once the unit had given up (busy timeout) and finished with an
    // error; waiting off the runtime, it is still waiting.
    let waiting = spawn_insert(&store, &tree, "b");
    tokio::task::yield_now().await;
    assert!(
        !waiting.is_finished(),
        "the unit gave up: it waited on the runtime's thread"
    );
    other.execute_batch("ROLLBACK").unwrap();
    waiting.await.unwrap().unwrap();
    assert_eq!(present(&store, &["a", "b"]).await, [false, true]);
}
