use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::audit::{Actor, AuditEvent, Target};
use orgd_core::checkpoints::PruneAnchor;
use orgd_core::ids::OrgId;
use orgd_core::orgs::subtree_upper_bound;
use orgd_core::page::PageRequest;
use orgd_core::store::{AuditFilter, AuditRepo, StoreResult};
use orgd_core::time::truncate;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, decode_all, fetch_limit, inserted, parse_json, row_limit};

const COLUMNS: &str = "e.gid, e.id, e.org_id, e.seq, e.timestamp, e.actor_key_id, e.actor_user, \
     e.action, e.target_type, e.target_id, e.changes, e.request_id, e.ip, e.prev_hash, e.hash";

fn event_from_row(r: &PgRow) -> Result<AuditEvent, Error> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        seq: r.try_get("seq")?,
        timestamp: r.try_get("timestamp")?,
        org_id: r.try_get("org_id")?,
        actor: Actor {
            key_id: r.try_get("actor_key_id")?,
            user: r.try_get("actor_user")?,
        },
        action: r.try_get("action")?,
        target: Target {
            kind: r.try_get("target_type")?,
            id: r.try_get("target_id")?,
        },
        changes: parse_json(r.try_get("changes")?)?,
        request_id: r.try_get("request_id")?,
        ip: r.try_get("ip")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn anchor_from_row(r: &PgRow) -> Result<PruneAnchor, Error> {
    Ok(PruneAnchor {
        org_id: r.try_get("org_id")?,
        seq: r.try_get("seq")?,
        hash: r.try_get("hash")?,
        pruned_at: r.try_get("pruned_at")?,
        kid: r.try_get("kid")?,
        signature: r.try_get("signature")?,
    })
}

/// Times compare at the millisecond precision they are stored with.
/// Subtrees of at most this many orgs (tombstones included) are read org by org.
const SMALL_SUBTREE: i64 = 256;

fn push_filter(b: &mut QueryBuilder<'_, Postgres>, f: &AuditFilter) {
    if let Some(start) = f.start {
        b.push(" AND e.timestamp >= ").push_bind(truncate(start));
    }
    if let Some(end) = f.end {
        b.push(" AND e.timestamp < ").push_bind(truncate(end));
    }
    if let Some(action) = &f.action {
        b.push(" AND e.action = ").push_bind(action.clone());
    }
    if let Some(key_id) = &f.key_id {
        b.push(" AND e.actor_key_id = ").push_bind(key_id.clone());
    }
    if let Some(org_id) = &f.org_id {
        b.push(" AND e.org_id = ").push_bind(org_id.to_string());
    }
}

#[async_trait]
impl AuditRepo for PgTx {
    async fn audit_head(&mut self, org: &OrgId) -> StoreResult<Option<(i64, String)>> {
        let head = sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(org.as_str())
        .optional(&mut self.tx)
        .await?;
        Ok(head)
    }

    async fn insert_audit_event(&mut self, e: &AuditEvent) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO audit_events (id, org_id, seq, timestamp, actor_key_id, actor_user, action, \
             target_type, target_id, changes, request_id, ip, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&e.id)
        .bind(&e.org_id)
        .bind(e.seq)
        .bind(truncate(e.timestamp))
        .bind(&e.actor.key_id)
        .bind(&e.actor.user)
        .bind(&e.action)
        .bind(&e.target.kind)
        .bind(&e.target.id)
        .bind(e.changes.to_string())
        .bind(&e.request_id)
        .bind(&e.ip)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .run(&mut self.tx)
        .await?;
        inserted(&done, || {
            format!(
                "audit event {} or seq {} of org {} exists",
                e.id, e.seq, e.org_id
            )
        })
    }

    async fn org_events(
        &mut self,
        org: &OrgId,
        filter: &AuditFilter,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT {COLUMNS} FROM audit_events e WHERE e.org_id = "
        ));
        b.push_bind(org.to_string());
        push_filter(&mut b, filter);
        if let Some(after) = page.after {
            b.push(" AND e.seq < ").push_bind(after);
        }
        b.push(" ORDER BY e.seq DESC LIMIT ")
            .push_bind(fetch_limit(page.limit));
        let rows = b.build().all(&mut self.tx).await?;
        Ok(decode_all(&rows, event_from_row)?)
    }

    /// Two plans, as on SQLite: a small subtree is read org by org (a
    /// LATERAL join taking each org's newest events from its `(org_id, gid)`
    /// index), a large one by walking the global order newest first. Neither
    /// sorts a whole subtree's events.
    async fn subtree_events(
        &mut self,
        path: &str,
        filter: &AuditFilter,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<(i64, AuditEvent)>> {
        let upper = subtree_upper_bound(path);
        let limit = fetch_limit(page.limit);
        let small: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM orgs WHERE path > $1 AND path < $2 LIMIT $3) s",
        )
        .bind(path)
        .bind(&upper)
        .bind(SMALL_SUBTREE + 1)
        .one(&mut self.tx)
        .await?;
        let mut b = if small <= SMALL_SUBTREE {
            let mut b = QueryBuilder::<Postgres>::new(format!(
                "SELECT {COLUMNS} FROM orgs o CROSS JOIN LATERAL (SELECT * FROM audit_events e \
                 WHERE e.org_id = o.id"
            ));
            push_filter(&mut b, filter);
            if let Some(after) = page.after {
                b.push(" AND e.gid < ").push_bind(after);
            }
            b.push(" ORDER BY e.gid DESC LIMIT ")
                .push_bind(limit)
                .push(") e WHERE o.path > ");
            b
        } else {
            QueryBuilder::<Postgres>::new(format!(
                "SELECT {COLUMNS} FROM audit_events e JOIN orgs o ON o.id = e.org_id WHERE o.path > "
            ))
        };
        b.push_bind(path.to_owned())
            .push(" AND o.path < ")
            .push_bind(upper);
        if small > SMALL_SUBTREE {
            push_filter(&mut b, filter);
            if let Some(after) = page.after {
                b.push(" AND e.gid < ").push_bind(after);
            }
        }
        b.push(" ORDER BY e.gid DESC LIMIT ").push_bind(limit);
        let rows = b.build().all(&mut self.tx).await?;
        Ok(decode_all(&rows, |r| {
            Ok((r.try_get("gid")?, event_from_row(r)?))
        })?)
    }

    async fn audit_anchor(&mut self, org: &OrgId) -> StoreResult<Option<PruneAnchor>> {
        let row = sqlx::query(
            "SELECT org_id, seq, hash, pruned_at, kid, signature FROM audit_anchors \
             WHERE org_id = $1",
        )
        .bind(org.as_str())
        .optional(&mut self.tx)
        .await?;
        Ok(row.as_ref().map(anchor_from_row).transpose()?)
    }

    async fn oldest_audit_events(
        &mut self,
        org: &OrgId,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String, DateTime<Utc>)>> {
        let oldest = sqlx::query_as(
            "SELECT seq, hash, timestamp FROM audit_events WHERE org_id = $1 ORDER BY seq LIMIT $2",
        )
        .bind(org.as_str())
        .bind(row_limit(limit))
        .all(&mut self.tx)
        .await?;
        Ok(oldest)
    }

    async fn prune_audit_events(&mut self, a: &PruneAnchor) -> StoreResult<u64> {
        let removed = sqlx::query("DELETE FROM audit_events WHERE org_id = $1 AND seq <= $2")
            .bind(&a.org_id)
            .bind(a.seq)
            .run(&mut self.tx)
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO audit_anchors (org_id, seq, hash, pruned_at, kid, signature) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             pruned_at = excluded.pruned_at, kid = excluded.kid, signature = excluded.signature",
        )
        .bind(&a.org_id)
        .bind(a.seq)
        .bind(&a.hash)
        .bind(truncate(a.pruned_at))
        .bind(&a.kid)
        .bind(&a.signature)
        .run(&mut self.tx)
        .await?;
        Ok(removed)
    }

    async fn chain_events(
        &mut self,
        org: &OrgId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_events e WHERE e.org_id = $1 AND e.seq > $2 \
             ORDER BY e.seq LIMIT $3"
        ))
        .bind(org.as_str())
        .bind(after_seq)
        .bind(row_limit(limit))
        .all(&mut self.tx)
        .await?;
        Ok(decode_all(&rows, event_from_row)?)
    }
}
