//! The outbox of events.
//!
//! A position (`gid`) is given at insert, but transactions commit in their
//! own order: were two writers free to interleave, a reader could see
//! position 11 committed, move its cursor past it, and never see position 10
//! that committed a moment later. So a writer takes [`OUTBOX_LOCK`] just
//! before it inserts its events, at the end of its transaction, and holds it
//! until it commits: positions commit in the order they are given. Only the
//! last step of writes that carry events is serialised; every row lock is
//! taken before, so the lock cannot take part in a deadlock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::events::{EventFilter, EventScope, NewEvent};
use orgd_core::orgs::subtree_upper_bound;
use orgd_core::store::{EventRepo, StoreResult};
use orgd_core::time::truncate;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PgTx;
use crate::sql::{Fetch, Run, decode_all, prune_front, row_limit};

/// The outbox's advisory lock, in the two-`int4` key space of the tree lock
/// (`orgs.rs`): "orgd", 2.
const OUTBOX_LOCK: (i32, i32) = (0x6f72_6764, 2);
/// Events per `INSERT`.
const INSERT_CHUNK: usize = 1000;

#[async_trait]
impl EventRepo for PgTx {
    async fn insert_outbox_events(&mut self, events: Vec<NewEvent>) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(OUTBOX_LOCK.0)
            .bind(OUTBOX_LOCK.1)
            .run(&mut self.tx)
            .await?;
        // A cascading delete writes an event per org it ends, and one
        // statement may bind at most 65,535 values (six an event).
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut b = QueryBuilder::<Postgres>::new(
                "INSERT INTO events (id, type, org_id, org_path, occurred_at, body) ",
            );
            b.push_values(chunk, |mut row, e| {
                row.push_bind(&e.id)
                    .push_bind(&e.kind)
                    .push_bind(&e.org_id)
                    .push_bind(&e.org_path)
                    .push_bind(truncate(e.occurred_at))
                    .push_bind(&e.body);
            });
            b.build().run(&mut self.tx).await?;
        }
        Ok(())
    }

    async fn events_after(
        &mut self,
        filter: &EventFilter,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String)>> {
        let mut b = QueryBuilder::<Postgres>::new("SELECT gid, body FROM events WHERE gid > ");
        b.push_bind(after);
        match &filter.scope {
            EventScope::Org(id) => {
                b.push(" AND org_id = ").push_bind(id.to_string());
            }
            EventScope::Subtree(path) => {
                b.push(" AND org_path >= ")
                    .push_bind(path.clone())
                    .push(" AND org_path < ")
                    .push_bind(subtree_upper_bound(path));
            }
        }
        if !filter.types.is_all() {
            b.push(" AND (false");
            for kind in &filter.types.exact {
                b.push(" OR type = ").push_bind(kind.clone());
            }
            for (low, high) in filter.types.prefix_ranges() {
                b.push(" OR (type >= ")
                    .push_bind(low.to_owned())
                    .push(" AND type < ")
                    .push_bind(high)
                    .push(")");
            }
            b.push(")");
        }
        b.push(" ORDER BY gid LIMIT ").push_bind(row_limit(limit));
        let rows = b.build().all(&mut self.tx).await?;
        Ok(decode_all(&rows, |r| Ok((r.try_get(0)?, r.try_get(1)?)))?)
    }

    async fn prune_events(&mut self, before: DateTime<Utc>, limit: usize) -> StoreResult<u64> {
        // Among the oldest `limit` events, those old enough (as the access
        // log is pruned): no index on time is needed.
        let removed = prune_front(
            &mut self.tx,
            "events",
            "occurred_at",
            before,
            row_limit(limit),
        )
        .await?;
        Ok(removed)
    }

    async fn last_event_position(&mut self) -> StoreResult<i64> {
        let last = sqlx::query_scalar("SELECT coalesce(max(gid), 0) FROM events")
            .one(&mut self.tx)
            .await?;
        Ok(last)
    }

    async fn first_event_since(&mut self, t: DateTime<Utc>) -> StoreResult<Option<i64>> {
        // Events are stored in the order they happen, give or take the
        // clock: the first from the oldest that is recent enough.
        let first = sqlx::query_scalar(
            "SELECT gid FROM events WHERE occurred_at >= $1 ORDER BY gid LIMIT 1",
        )
        .bind(truncate(t))
        .optional(&mut self.tx)
        .await?;
        Ok(first)
    }
}
