//! This crate's own tests, beyond the shared suite (crates/store-tests):
//! what only SQLite has, the writer's group commit above all. Helpers here,
//! cases in the files named after what they test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod database_file;
mod group_commit;
mod migrations;
mod outbox;

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use orgd_core::store::Store;
use orgd_store_tests::fixtures::{Tree, read_org};
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
