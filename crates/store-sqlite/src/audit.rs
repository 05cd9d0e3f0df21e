use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::audit::{Actor, AuditEvent, Target};
use orgd_core::checkpoints::PruneAnchor;
use orgd_core::ids::OrgId;
use orgd_core::orgs::subtree_upper_bound;
use orgd_core::page::PageRequest;
use orgd_core::store::{AuditFilter, AuditRepo, StoreResult};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{Query, execute, fetch_limit, parse_json, parse_ts, row, rows, ts};

macro_rules! columns {
    () => {
        "e.gid, e.id, e.org_id, e.seq, e.timestamp, e.actor_key_id, e.actor_user, e.action, \
         e.target_type, e.target_id, e.changes, e.request_id, e.ip, e.prev_hash, e.hash"
    };
}

/// Subtrees of at most this many orgs (tombstones included) are read org by
/// org: at most this many index lookups of one page each.
const SMALL_SUBTREE: usize = 256;

fn event_from_row(r: &Row<'_>) -> Result<AuditEvent, Error> {
    Ok(AuditEvent {
        id: r.get("id")?,
        seq: r.get("seq")?,
        timestamp: parse_ts(&r.get::<_, String>("timestamp")?)?,
        org_id: r.get("org_id")?,
        actor: Actor {
            key_id: r.get("actor_key_id")?,
            user: r.get("actor_user")?,
        },
        action: r.get("action")?,
        target: Target {
            kind: r.get("target_type")?,
            id: r.get("target_id")?,
        },
        changes: parse_json(&r.get::<_, String>("changes")?)?,
        request_id: r.get("request_id")?,
        ip: r.get("ip")?,
        prev_hash: r.get("prev_hash")?,
        hash: r.get("hash")?,
    })
}

fn push_filter(b: &mut Query, f: &AuditFilter) {
    if let Some(start) = f.start {
        b.push(" AND e.timestamp >= ").bind(ts(start));
    }
    if let Some(end) = f.end {
        b.push(" AND e.timestamp < ").bind(ts(end));
    }
    if let Some(action) = &f.action {
        b.push(" AND e.action = ").bind(action.clone());
    }
    if let Some(key_id) = &f.key_id {
        b.push(" AND e.actor_key_id = ").bind(key_id.clone());
    }
    if let Some(org_id) = &f.org_id {
        b.push(" AND e.org_id = ").bind(org_id.to_string());
    }
}

#[async_trait]
impl AuditRepo for SqliteTx {
    async fn audit_head(&mut self, org: &OrgId) -> StoreResult<Option<(i64, String)>> {
        Ok(row(
            self.conn()?,
            "SELECT seq, hash FROM audit_events WHERE org_id = ? ORDER BY seq DESC LIMIT 1",
            [org.as_str()],
            |r| Ok((r.get("seq")?, r.get("hash")?)),
        )?)
    }

    async fn insert_audit_event(&mut self, e: &AuditEvent) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO audit_events (id, org_id, seq, timestamp, actor_key_id, actor_user, \
             action, target_type, target_id, changes, request_id, ip, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                e.id,
                e.org_id,
                e.seq,
                ts(e.timestamp),
                e.actor.key_id,
                e.actor.user,
                e.action,
                e.target.kind,
                e.target.id,
                e.changes.to_string(),
                e.request_id,
                e.ip,
                e.prev_hash,
                e.hash,
            ],
        )?;
        Ok(())
    }

    async fn org_events(
        &mut self,
        org: &OrgId,
        filter: &AuditFilter,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut b = Query::new(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events e WHERE e.org_id = "
        ));
        b.bind(org.to_string());
        push_filter(&mut b, filter);
        if let Some(after) = page.after {
            b.push(" AND e.seq < ").bind(after);
        }
        b.push(" ORDER BY e.seq DESC LIMIT ")
            .bind(fetch_limit(page.limit));
        Ok(b.rows(self.conn()?, event_from_row)?)
    }

    /// Two plans, so that the first page costs about the same in a subtree
    /// of 50 orgs and of 100,000, and never sorts a whole subtree's events:
    /// a small subtree is read org by org, each org's newest events straight
    /// from its `(org_id, gid)` index, and merged; a large one by walking the
    /// global order newest first and keeping its orgs' events, which finds a
    /// page after about `page × (all events / the subtree's)` rows.
    async fn subtree_events(
        &mut self,
        path: &str,
        filter: &AuditFilter,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<(i64, AuditEvent)>> {
        let conn = self.conn()?;
        let upper = subtree_upper_bound(path);
        let limit = fetch_limit(page.limit);
        let mut orgs: Vec<String> = rows(
            conn,
            "SELECT id FROM orgs WHERE path > ? AND path < ? LIMIT ?",
            params![
                path,
                upper,
                i64::try_from(SMALL_SUBTREE + 1).unwrap_or(i64::MAX)
            ],
            |r| Ok(r.get(0)?),
        )?;
        if orgs.len() <= SMALL_SUBTREE {
            if let Some(only) = &filter.org_id {
                orgs.retain(|id| id == only.as_str());
            }
            let mut out = Vec::new();
            for org in orgs {
                let mut b = Query::new(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM audit_events e WHERE e.org_id = "
                ));
                b.bind(org);
                push_filter(&mut b, filter);
                if let Some(after) = page.after {
                    b.push(" AND e.gid < ").bind(after);
                }
                b.push(" ORDER BY e.gid DESC LIMIT ").bind(limit);
                out.extend(b.rows(conn, |r| Ok((r.get::<_, i64>("gid")?, event_from_row(r)?)))?);
            }
            out.sort_unstable_by_key(|(gid, _)| std::cmp::Reverse(*gid));
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(out);
        }
        // CROSS JOIN keeps audit_events the outer loop (SQLite does not
        // reorder it), walked backwards along its primary key, `gid`.
        let mut b = Query::new(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events e CROSS JOIN orgs o ON o.id = e.org_id WHERE o.path > "
        ));
        b.bind(path.to_owned()).push(" AND o.path < ").bind(upper);
        push_filter(&mut b, filter);
        if let Some(after) = page.after {
            b.push(" AND e.gid < ").bind(after);
        }
        b.push(" ORDER BY e.gid DESC LIMIT ").bind(limit);
        Ok(b.rows(conn, |r| Ok((r.get("gid")?, event_from_row(r)?)))?)
    }

    async fn audit_anchor(&mut self, org: &OrgId) -> StoreResult<Option<PruneAnchor>> {
        Ok(row(
            self.conn()?,
            "SELECT org_id, seq, hash, pruned_at, kid, signature FROM audit_anchors \
             WHERE org_id = ?",
            [org.as_str()],
            |r| {
                Ok(PruneAnchor {
                    org_id: r.get("org_id")?,
                    seq: r.get("seq")?,
                    hash: r.get("hash")?,
                    pruned_at: parse_ts(&r.get::<_, String>("pruned_at")?)?,
                    kid: r.get("kid")?,
                    signature: r.get("signature")?,
                })
            },
        )?)
    }

    async fn oldest_audit_events(
        &mut self,
        org: &OrgId,
        limit: usize,
    ) -> StoreResult<Vec<(i64, String, DateTime<Utc>)>> {
        Ok(rows(
            self.conn()?,
            "SELECT seq, hash, timestamp FROM audit_events WHERE org_id = ? ORDER BY seq LIMIT ?",
            params![org.as_str(), i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?, parse_ts(&r.get::<_, String>(2)?)?)),
        )?)
    }

    async fn prune_audit_events(&mut self, a: &PruneAnchor) -> StoreResult<u64> {
        let conn = self.conn()?;
        let removed = execute(
            conn,
            "DELETE FROM audit_events WHERE org_id = ? AND seq <= ?",
            params![a.org_id, a.seq],
        )?;
        execute(
            conn,
            "INSERT INTO audit_anchors (org_id, seq, hash, pruned_at, kid, signature) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             pruned_at = excluded.pruned_at, kid = excluded.kid, signature = excluded.signature",
            params![a.org_id, a.seq, a.hash, ts(a.pruned_at), a.kid, a.signature],
        )?;
        Ok(removed)
    }

    async fn chain_events(
        &mut self,
        org: &OrgId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        Ok(rows(
            self.conn()?,
            concat!(
                "SELECT ",
                columns!(),
                " FROM audit_events e WHERE e.org_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?"
            ),
            params![
                org.as_str(),
                after_seq,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            event_from_row,
        )?)
    }
}
