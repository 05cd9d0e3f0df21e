//! The outbox of events. SQLite has one writer at a time, so positions
//! (`gid`) commit in the order they are given.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::events::{EventFilter, EventScope, NewEvent};
use orgd_core::orgs::subtree_upper_bound;
use orgd_core::store::{EventRepo, StoreResult};
use rusqlite::{Connection, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{Query, count, execute, row, ts};

/// Writes `events` in order, each given the next position. Called by the
/// writer as a batch commits, outside any unit's savepoint (`writer.rs`).
pub(crate) fn insert(conn: &Connection, events: &[NewEvent]) -> Result<(), Error> {
    for e in events {
        execute(
            conn,
            "INSERT INTO events (id, type, org_id, org_path, occurred_at, body) \
             VALUES (?, ?, ?, ?, ?, ?)",
            params![
                e.id,
                e.kind,
                e.org_id,
                e.org_path,
                ts(e.occurred_at),
                e.body
            ],
        )?;
    }
    Ok(())
}

#[async_trait]
impl EventRepo for SqliteTx {
    async fn insert_outbox_events(&mut self, events: Vec<NewEvent>) -> StoreResult<()> {
        // Written as the unit's batch commits, in the same transaction.
        self.write_unit()?.add_events(events);
        Ok(())
    }

    async fn events_after(
        &mut self,
        filter: &EventFilter,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>> {
        let mut q = Query::new("SELECT gid, body FROM events WHERE gid > ");
        q.bind(after);
        match &filter.scope {
            EventScope::Org(id) => {
                q.push(" AND org_id = ").bind(id.to_string());
            }
            EventScope::Subtree(path) => {
                q.push(" AND org_path >= ")
                    .bind(path.clone())
                    .push(" AND org_path < ")
                    .bind(subtree_upper_bound(path));
            }
        }
        if !filter.types.is_all() {
            q.push(" AND (0");
            for kind in &filter.types.exact {
                q.push(" OR type = ").bind(kind.clone());
            }
            for (low, high) in filter.types.prefix_ranges() {
                q.push(" OR (type >= ")
                    .bind(low.to_owned())
                    .push(" AND type < ")
                    .bind(high)
                    .push(")");
            }
            q.push(")");
        }
        q.push(" ORDER BY gid LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        Ok(q.rows(self.conn()?, |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    async fn prune_events(&mut self, before: DateTime<Utc>, limit: usize) -> StoreResult<u64> {
        // Among the oldest `limit` events, those old enough: no index on time
        // is needed, and a young oldest event ends the pruning at once.
        Ok(execute(
            self.conn()?,
            "DELETE FROM events WHERE gid IN \
             (SELECT gid FROM events ORDER BY gid LIMIT ?) AND occurred_at < ?",
            params![i64::try_from(limit).unwrap_or(i64::MAX), ts(before)],
        )?)
    }

    async fn last_event_position(&mut self) -> StoreResult<i64> {
        Ok(count(
            self.conn()?,
            "SELECT coalesce(max(gid), 0) FROM events",
            [],
        )?)
    }

    async fn first_event_since(&mut self, t: DateTime<Utc>) -> StoreResult<Option<i64>> {
        // Events are stored in the order they happen, give or take the
        // clock: the first from the oldest that is recent enough.
        Ok(row(
            self.conn()?,
            "SELECT gid FROM events WHERE occurred_at >= ? ORDER BY gid LIMIT 1",
            params![ts(t)],
            |r| Ok(r.get(0)?),
        )?)
    }
}
