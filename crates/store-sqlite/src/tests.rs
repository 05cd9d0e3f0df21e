//! Group commit: units that queue up share a COMMIT, and each fails,
//! is dropped or is cancelled on its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use orgd_core::consumption::{MetricValue, Month};
use orgd_core::events::{EventFilter, EventScope, NewEvent, TypeFilter};
use orgd_core::store::{CounterDelta, OpenMode, OrgRepo, Store, StoreError};
use orgd_store_tests::fixtures::{Tree, read_org, t0};
use tempfile::TempDir;

use super::*;
use crate::writer::BatchLimits;

/// Batches that commit only when nobody else is queued, so tests decide
/// their size.
fn patient() -> BatchLimits {
    BatchLimits {
        units: 1000,
        age: Duration::from_secs(3600),
    }
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}/t.db", dir.path().display())
}

/// A fresh store holding the orgs `r` (the root) and `a`…`e` not yet
/// inserted: the tree they belong to is returned.
async fn fresh(limits: BatchLimits) -> (Arc<SqliteStore>, Tree, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&SqliteOptions::new(url(&dir)))
        .await
        .unwrap();
    Arc::get_mut(store.writer.as_mut().unwrap()).unwrap().limits = limits;
    let tree = ["a", "b", "c", "d", "e"]
        .iter()
        .fold(Tree::new("r"), |t, id| t.add("r", id));
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(tree.org("r")).await.unwrap();
    tx.commit().await.unwrap();
    (Arc::new(store), tree, dir)
}

fn commits(store: &SqliteStore) -> u64 {
    store.writer.as_ref().unwrap().commits.load(SeqCst)
}

/// Waits until `n` units are queued for the writer.
async fn queued(store: &SqliteStore, n: u64) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while store.pool_stats()[0].waiting != n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the units queue up");
}

/// A task that writes the org `id` in its own unit and commits.
fn spawn_insert(
    store: &Arc<SqliteStore>,
    tree: &Tree,
    id: &str,
) -> tokio::task::JoinHandle<StoreResult<()>> {
    let store = store.clone();
    let org = tree.org(id).clone();
    tokio::spawn(async move {
        let mut tx = store.begin().await?;
        tx.insert_org(&org).await?;
        tx.commit().await
    })
}

/// Tasks that each write one of the orgs `ids` in a unit of their own.
fn spawn_inserts(
    store: &Arc<SqliteStore>,
    tree: &Tree,
    ids: &[&str],
) -> Vec<tokio::task::JoinHandle<StoreResult<()>>> {
    ids.iter().map(|id| spawn_insert(store, tree, id)).collect()
}

/// A unit that has written the org `a` and is not committed yet.
async fn first_unit(store: &SqliteStore, tree: &Tree) -> Box<dyn Tx> {
    let mut first = store.begin().await.unwrap();
    first.insert_org(tree.org("a")).await.unwrap();
    first
}

async fn present(store: &SqliteStore, ids: &[&str]) -> Vec<bool> {
    let mut out = Vec::new();
    for id in ids {
        out.push(read_org(store, id).await.is_some());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_units_share_one_commit_and_are_visible_when_it_returns() {
    let (store, tree, _dir) = fresh(patient()).await;
    let before = commits(&store);

    let first = first_unit(&store, &tree).await;
    let others = spawn_inserts(&store, &tree, &["b", "c", "d"]);
    queued(&store, 3).await;
    first.commit().await.unwrap();

    // The first unit's commit returned with its batch: the others are in it.
    assert_eq!(
        present(&store, &["a", "b", "c", "d"]).await,
        [true; 4],
        "every unit of the batch is visible"
    );
    for t in others {
        t.await.unwrap().unwrap();
    }
    assert_eq!(commits(&store), before + 1, "four units, one COMMIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_commits_although_units_are_queued() {
    let (store, tree, _dir) = fresh(BatchLimits {
        units: 2,
        ..patient()
    })
    .await;
    let before = commits(&store);

    let first = first_unit(&store, &tree).await;
    let others = spawn_inserts(&store, &tree, &["b", "c", "d"]);
    queued(&store, 3).await;
    first.commit().await.unwrap();
    for t in others {
        t.await.unwrap().unwrap();
    }
    assert_eq!(commits(&store), before + 2, "a and b, then c and d");
    assert_eq!(present(&store, &["a", "b", "c", "d"]).await, [true; 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_failing_with_a_conflict_rolls_back_alone() {
    let (store, tree, _dir) = fresh(patient()).await;
    let before = commits(&store);

    let first = first_unit(&store, &tree).await;
    let failing = {
        let store = store.clone();
        let (b, r) = (tree.org("b").clone(), tree.org("r").clone());
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_org(&b).await.unwrap();
            // The service would give up here, dropping the transaction.
            tx.insert_org(&r).await
        })
    };
    queued(&store, 1).await;
    let last = spawn_insert(&store, &tree, "c");
    queued(&store, 2).await;
    first.commit().await.unwrap();

    assert!(matches!(
        failing.await.unwrap(),
        Err(StoreError::Conflict(_))
    ));
    last.await.unwrap().unwrap();
    assert_eq!(
        present(&store, &["a", "b", "c"]).await,
        [true, false, true],
        "only the failed unit's writes are gone"
    );
    assert_eq!(commits(&store), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_dropped_mid_way_leaves_nothing_and_its_batch_commits() {
    let (store, tree, _dir) = fresh(patient()).await;
    let before = commits(&store);

    let first = first_unit(&store, &tree).await;
    let (wrote_tx, wrote) = tokio::sync::oneshot::channel();
    let abandoned = {
        let store = store.clone();
        let b = tree.org("b").clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_org(&b).await.unwrap();
            wrote_tx.send(()).unwrap();
            // A request whose client hung up: never finishes.
            std::future::pending::<()>().await;
        })
    };
    queued(&store, 1).await;
    let last = spawn_insert(&store, &tree, "c");
    queued(&store, 2).await;
    let first_done = tokio::spawn(first.commit());

    wrote.await.unwrap();
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());
    first_done.await.unwrap().unwrap();
    last.await.unwrap().unwrap();
    assert_eq!(present(&store, &["a", "b", "c"]).await, [true, false, true]);
    assert_eq!(commits(&store), before + 1);

    // The writer carries on.
    spawn_insert(&store, &tree, "d").await.unwrap().unwrap();
    assert_eq!(present(&store, &["d"]).await, [true]);
}

fn outbox_event(id: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        kind: "org.update".into(),
        org_id: "r".into(),
        org_path: "/r/".into(),
        occurred_at: t0(),
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

/// The ids of every event in the outbox, by position.
async fn outbox(store: &SqliteStore) -> Vec<String> {
    let mut tx = store.read().await.unwrap();
    let all = EventFilter {
        scope: EventScope::Subtree("/".into()),
        types: TypeFilter::default(),
    };
    let events = tx.events_after(&all, 0, 100).await.unwrap();
    let mut positions: Vec<i64> = events.iter().map(|(gid, _)| *gid).collect();
    positions.dedup();
    assert!(positions.is_sorted() && positions.len() == events.len());
    events
        .into_iter()
        .map(|(_, body)| body.split('"').nth(3).unwrap().to_owned())
        .collect()
}

/// A unit that has written the org `id` and the events `events`, and commits.
fn spawn_change(
    store: &Arc<SqliteStore>,
    tree: &Tree,
    id: &str,
    events: &[&str],
) -> tokio::task::JoinHandle<StoreResult<()>> {
    let store = store.clone();
    let org = tree.org(id).clone();
    let events: Vec<NewEvent> = events.iter().map(|e| outbox_event(e)).collect();
    tokio::spawn(async move {
        let mut tx = store.begin().await?;
        tx.insert_org(&org).await?;
        tx.insert_events(events).await?;
        tx.commit().await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_writes_the_events_of_its_released_units_in_release_order() {
    let (store, tree, _dir) = fresh(patient()).await;
    let before = commits(&store);

    let mut first = first_unit(&store, &tree).await;
    first
        .insert_events(vec![outbox_event("e1"), outbox_event("e2")])
        .await
        .unwrap();
    let dropped = {
        let store = store.clone();
        let b = tree.org("b").clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_org(&b).await.unwrap();
            tx.insert_events(vec![outbox_event("gone")]).await.unwrap();
            // The service gives up here, dropping the transaction.
        })
    };
    queued(&store, 1).await;
    let last = spawn_change(&store, &tree, "c", &["e3"]);
    queued(&store, 2).await;
    first.commit().await.unwrap();
    dropped.await.unwrap();
    last.await.unwrap().unwrap();

    assert_eq!(outbox(&store).await, ["e1", "e2", "e3"]);
    assert_eq!(present(&store, &["a", "b", "c"]).await, [true, false, true]);
    assert_eq!(
        commits(&store),
        before + 1,
        "the events are in the batch's COMMIT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_events_cannot_be_written_commits_nothing() {
    let (store, tree, _dir) = fresh(patient()).await;

    let mut first = first_unit(&store, &tree).await;
    first
        .insert_events(vec![outbox_event("same")])
        .await
        .unwrap();
    // Event ids are unique; a second "same" fails the batch's writing.
    let second = spawn_change(&store, &tree, "b", &["same"]);
    queued(&store, 1).await;
    let first_done = first.commit().await;

    assert!(first_done.is_err());
    assert!(second.await.unwrap().is_err(), "every unit is told");
    assert!(outbox(&store).await.is_empty());
    assert_eq!(present(&store, &["a", "b"]).await, [false, false]);

    spawn_change(&store, &tree, "c", &["after"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outbox(&store).await, ["after"]);
}

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

/// The unit that was handed the writer gives up before it runs: nobody is
/// queued any more, so something else must commit the batch it was to join.
#[tokio::test(flavor = "current_thread")]
async fn a_queued_unit_that_gives_up_does_not_strand_the_batch() {
    let (store, tree, _dir) = fresh(patient()).await;
    let before = commits(&store);

    let first = first_unit(&store, &tree).await;
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let _tx = store.begin().await;
        })
    };
    queued(&store, 1).await;
    let mut commit = std::pin::pin!(first.commit());
    // One poll: the unit joins the batch and hands the writer to the waiter,
    // which has not run yet (one thread, and it is this one).
    tokio::select! {
        biased;
        r = &mut commit => panic!("the batch committed with a unit queued: {r:?}"),
        () = std::future::ready(()) => {}
    }
    waiter.abort();
    commit.await.unwrap();
    assert_eq!(present(&store, &["a"]).await, [true]);
    assert_eq!(commits(&store), before + 1);
}

/// What SQLite does on a full disk or an I/O error: it rolls the whole
/// transaction back. Every unit of the batch fails; none is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_rolled_back_by_sqlite_fails_every_unit() {
    let (store, tree, _dir) = fresh(patient()).await;

    let first = first_unit(&store, &tree).await;
    let broken = {
        let store = store.clone();
        let b = tree.org("b").clone();
        tokio::spawn(async move {
            let writer = store.writer.as_ref().unwrap();
            let mut tx = SqliteTx {
                unit: Unit::Write(writer.begin().await.unwrap()),
            };
            sql::exec(tx.conn().unwrap(), "ROLLBACK").unwrap();
            let write = tx.insert_org(&b).await;
            (write, Box::new(tx).commit().await)
        })
    };
    queued(&store, 1).await;
    let first_done = first.commit().await;

    let (write, commit) = broken.await.unwrap();
    assert!(write.is_err(), "no statement runs outside the batch");
    assert!(commit.is_err());
    assert!(first_done.is_err(), "the earlier unit is told too");
    assert_eq!(present(&store, &["a", "b"]).await, [false, false]);

    spawn_insert(&store, &tree, "c").await.unwrap().unwrap();
    assert_eq!(present(&store, &["c"]).await, [true]);
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

/// Many units at once, some dropped and some cancelled at whatever point
/// they reached: every acknowledged one is kept, and the writer ends idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_cancelled_anywhere_never_strand_the_writer() {
    let (store, tree, _dir) = fresh(BatchLimits::default()).await;
    let acked = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let tasks: Vec<_> = (0..16u64)
        .map(|t| {
            let (store, acked) = (store.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0..50u64 {
                    let n = t * 100 + i;
                    let unit = async {
                        let mut tx = store.begin().await.unwrap();
                        let one = CounterDelta {
                            org_id: "r".into(),
                            month: Month::of(t0()),
                            metric: "m".into(),
                            amount: 1,
                        };
                        tx.add_counters(&[one]).await.unwrap();
                        if n % 7 == 0 {
                            tokio::task::yield_now().await;
                        }
                        if n % 11 == 0 {
                            return; // dropped
                        }
                        tx.commit().await.unwrap();
                        acked.fetch_add(1, SeqCst);
                    };
                    let limit = if n % 5 == 0 {
                        Duration::from_micros(n % 300)
                    } else {
                        Duration::from_secs(30)
                    };
                    let _ = tokio::time::timeout(limit, unit).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }

    let mut tx = store.read().await.unwrap();
    let rows = tx
        .month_metrics(&tree.path("r"), false, Month::of(t0()))
        .await
        .unwrap();
    drop(tx);
    let stored: i64 = rows
        .iter()
        .map(|r| match r.value {
            MetricValue::Counter(v) => v,
            MetricValue::Gauge { .. } => 0,
        })
        .sum();
    // Units cancelled while they waited for their batch are stored too.
    assert!(
        stored >= acked.load(SeqCst),
        "{stored} < {}",
        acked.load(SeqCst)
    );
    // The last COMMIT may still be under way for units that stopped waiting.
    tokio::time::timeout(Duration::from_secs(10), async {
        while store.pool_stats()[0].in_use != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the writer ends idle");
    spawn_insert(&store, &tree, "a").await.unwrap().unwrap();
}

/// A database whose access log was a table of rows gets it back as blocks
/// from migration 0009: every field, newest first, in blocks of at most
/// 4096 per org, and the old table gone.
#[tokio::test]
async fn the_migration_moves_access_log_rows_into_blocks() {
    use orgd_core::access::{AccessFilter, Outcome, Source};
    use orgd_core::page::PageRequest;
    use orgd_store_tests::fixtures::oid;

    let (store, tree, dir) = fresh(patient()).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(tree.org("a")).await.unwrap();
    tx.insert_org(tree.org("b")).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    drop(store);

    // As the database was before: rows in `access_log`, no blocks.
    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE access_blocks;
         DELETE FROM _sqlx_migrations WHERE description = 'access log in blocks';
         CREATE TABLE access_log (
             gid INTEGER PRIMARY KEY, id TEXT NOT NULL, org_id TEXT NOT NULL,
             timestamp TEXT NOT NULL, user_name TEXT, key_id TEXT, action TEXT NOT NULL,
             status TEXT NOT NULL, http_status INTEGER, method TEXT, path TEXT, ip TEXT,
             user_agent TEXT, request_id TEXT, latency_ms INTEGER, source TEXT NOT NULL,
             details TEXT
         ) STRICT;
         INSERT INTO access_log VALUES
             (1, 'full', 'a', '2024-01-01T00:00:02.500Z', 'José \"q\"', 'key_1', 'LOGIN',
              'FAILURE', 401, 'POST', '/x?y=1', '::1', 'curl/8', 'req-1', 12, 'external',
              '{\"reason\":\"bad — ✓\",\"n\":[1,2.5,null]}'),
             (2, 'bare', 'a', '2024-01-01T00:00:01.000Z', NULL, NULL, 'org.read',
              'SUCCESS', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'api', NULL);
         INSERT INTO access_log (id, org_id, timestamp, action, status, source)
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
             SELECT printf('b%04d', i), 'b', '2024-01-01T00:00:00.000Z', 'org.read',
                    'SUCCESS', 'api' FROM n;",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&SqliteOptions::new(url(&dir)))
        .await
        .unwrap();
    let mut tx = store.read().await.unwrap();
    let all = PageRequest::first(10_000);
    let a = tx
        .access_entries(&oid("a"), &AccessFilter::default(), &all)
        .await
        .unwrap();
    let full = &a[0].1;
    assert_eq!(
        (a.len(), full.id.as_str(), a[1].1.id.as_str()),
        (2, "full", "bare")
    );
    assert_eq!(full.user.as_deref(), Some("José \"q\""));
    assert_eq!(
        (full.status, full.source, full.http_status, full.latency_ms),
        (Outcome::Failure, Source::External, Some(401), Some(12))
    );
    assert_eq!(
        full.details,
        Some(serde_json::json!({"reason": "bad — ✓", "n": [1, 2.5, null]}))
    );
    assert_eq!(a[1].1.user, None);

    let b = tx
        .access_entries(&oid("b"), &AccessFilter::default(), &all)
        .await
        .unwrap();
    assert_eq!(b.len(), 5_000);
    let mut ids: Vec<&str> = b.iter().map(|(_, e)| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5_000);
    drop(tx);

    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    let blocks: Vec<(String, i64)> = conn
        .prepare("SELECT org_id, entries FROM access_blocks ORDER BY block")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        blocks,
        [
            ("a".to_owned(), 2),
            ("b".to_owned(), 4096),
            ("b".to_owned(), 904)
        ]
    );
    let old: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'access_log'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0);
    store.close().await;
}
