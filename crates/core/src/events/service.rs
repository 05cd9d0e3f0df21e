//! The pull feed: an org's events (and its subtree's), oldest first, from a
//! cursor, held open for a while when nothing is new (long poll).

use std::time::Duration;

use crate::Result;
use crate::authz::Principal;
use crate::service::Orgd;
use crate::service::reach::{path_org_id, reach_org};
use serde_json::value::RawValue;

use crate::api_keys::Permission;
use crate::events::feed::Feed;
use crate::events::{EventFilter, EventScope, TypeFilter};

impl Orgd {
    /// What wakes those who wait for events: the feed's long polls and the
    /// deliverer.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }
}

/// A read of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// The position after which to read; `0`: from the oldest kept.
    pub after: i64,
    pub types: TypeFilter,
    /// The org's subtree (the default), or the org alone.
    pub subtree: bool,
    pub limit: usize,
    /// How long to wait for an event when none is there yet.
    pub wait: Duration,
}

/// A page of the feed, and the position to read on from.
#[derive(Debug)]
pub struct EventPage {
    /// Each event's JSON as stored, to be sent as it is.
    pub events: Vec<Box<RawValue>>,
    /// The last event's position, or the query's when the page is empty.
    pub next: i64,
}

impl Orgd {
    pub async fn events(&self, who: &Principal, org_id: &str, q: EventQuery) -> Result<EventPage> {
        let org_id = path_org_id(org_id)?;
        let deadline = tokio::time::Instant::now() + q.wait;
        loop {
            // Listening starts before the read, so an event that commits
            // between the read and the wait still wakes it (and so does
            // shutdown, `Feed::close`, which is looked at after).
            let arrived = self.feed.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();

            let mut tx = self.store.read().await?;
            let org = reach_org(tx.as_mut(), who, &org_id, Permission::Read).await?;
            let filter = EventFilter {
                scope: if q.subtree {
                    EventScope::Subtree(org.path.clone())
                } else {
                    EventScope::Org(org.id.clone())
                },
                types: q.types.clone(),
            };
            let rows = tx.events_after(&filter, q.after, q.limit).await?;
            drop(tx);
            if !rows.is_empty() || tokio::time::Instant::now() >= deadline || self.feed.is_closed()
            {
                return page(rows, q.after);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() || self.feed.is_closed() {
                // Nothing arrived in time (or the server is stopping): an
                // empty page. (An event committed on a node whose word is
                // late is read by the next request.)
                return page(Vec::new(), q.after);
            }
        }
    }
}

impl Orgd {
    /// Background pruning: events older than `retention`, and the finished
    /// webhook deliveries as old, in small transactions, so the single
    /// writer is never held long. Returns how many of each.
    pub async fn prune_events(&self, retention: chrono::Duration) -> Result<(u64, u64)> {
        let before = self.now() - retention;
        let (mut events, mut deliveries) = (0, 0);
        loop {
            let mut tx = self.store.begin().await?;
            let n = tx.prune_events(before, 5000).await?;
            let m = tx.prune_deliveries(before, 5000).await?;
            tx.commit().await?;
            events += n;
            deliveries += m;
            if n == 0 && m == 0 {
                return Ok((events, deliveries));
            }
        }
    }
}

fn page(rows: Vec<(i64, String)>, after: i64) -> Result<EventPage> {
    let next = rows.last().map_or(after, |(gid, _)| *gid);
    let events = rows
        .into_iter()
        .map(|(_, body)| {
            // Checked, not parsed: the event goes out as it was stored.
            RawValue::from_string(body)
                .map_err(|e| crate::Error::Internal(format!("a stored event is not JSON: {e}")))
        })
        .collect::<Result<_>>()?;
    Ok(EventPage { events, next })
}
