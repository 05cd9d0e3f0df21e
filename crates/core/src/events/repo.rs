//! What a store keeps of events, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{EventFilter, NewEvent};
use crate::error::StoreResult;

/// The outbox of events (see [`crate::events`]).
#[async_trait]
pub trait EventRepo {
    /// Stores events, each given the next position of the one global order.
    /// Positions become visible in the order they are given: a reader that
    /// has seen position N never later sees a new event below N. A store may
    /// write them as the transaction commits (SQLite does, see its
    /// `writer.rs`), so reads in the same transaction need not see them.
    async fn insert_outbox_events(&mut self, events: Vec<NewEvent>) -> StoreResult<()>;
    /// Up to `limit` events of `filter` after position `after`, oldest
    /// first, each with its position and its JSON as stored.
    async fn events_after(
        &mut self,
        filter: &EventFilter,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>>;
    /// Deletes up to `limit` of the oldest events that happened before
    /// `before`; returns how many went.
    async fn prune_events(&mut self, before: DateTime<Utc>, limit: usize) -> StoreResult<u64>;
    /// The newest event's position; 0 when there is none.
    async fn last_event_position(&mut self) -> StoreResult<i64>;
    /// The position of the first event that happened at or after `t`.
    async fn first_event_since(&mut self, t: DateTime<Utc>) -> StoreResult<Option<i64>>;
}
