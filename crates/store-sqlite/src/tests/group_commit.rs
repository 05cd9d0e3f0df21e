//! Group commit: units that queue up share a COMMIT, and each fails,
//! is dropped or is cancelled on its own.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use orgd_core::consumption::{MetricValue, Month};
use orgd_core::store::{CounterDelta, OrgRepo, Store, StoreError};
use orgd_store_tests::fixtures::t0;

use super::*;
use crate::writer::BatchLimits;

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
