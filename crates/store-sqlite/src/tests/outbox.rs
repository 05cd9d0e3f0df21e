//! The events of a batch's units: written at its COMMIT, in the order the
//! units were released, or not at all.

use std::sync::Arc;

use orgd_core::events::{EventFilter, EventScope, NewEvent, TypeFilter};
use orgd_core::store::Store;
use orgd_store_tests::fixtures::{Tree, t0};

use super::*;

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
        tx.insert_outbox_events(events).await?;
        tx.commit().await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_writes_the_events_of_its_released_units_in_release_order() {
    let (store, tree, _dir) = fresh(patient()).await;
    let before = commits(&store);

    let mut first = first_unit(&store, &tree).await;
    first
        .insert_outbox_events(vec![outbox_event("e1"), outbox_event("e2")])
        .await
        .unwrap();
    let dropped = {
        let store = store.clone();
        let b = tree.org("b").clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_org(&b).await.unwrap();
            tx.insert_outbox_events(vec![outbox_event("gone")])
                .await
                .unwrap();
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
        .insert_outbox_events(vec![outbox_event("same")])
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
