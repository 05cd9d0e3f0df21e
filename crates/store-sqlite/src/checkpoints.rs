//! The audit trail's signing keys and signed checkpoints.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::checkpoints::{AuditKeyRecord, Checkpoint, Head, Heads};
use orgd_core::ids::OrgId;
use orgd_core::store::{CheckpointRepo, StoreResult};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{execute, parse_opt_ts, parse_ts, row, rows, ts};

const CHECKPOINT: &str = "SELECT position, id, created_at, tree_size, root_hash, prev_id, kid, signature \
     FROM audit_checkpoints";

fn checkpoint_from_row(r: &Row<'_>) -> Result<(i64, Checkpoint), Error> {
    Ok((
        r.get("position")?,
        Checkpoint {
            id: r.get("id")?,
            created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
            tree_size: r.get("tree_size")?,
            root_hash: r.get("root_hash")?,
            prev_id: r.get("prev_id")?,
            kid: r.get("kid")?,
            signature: r.get("signature")?,
        },
    ))
}

/// Every row of `sql`: `(org_id, seq, hash)`, read without a string apiece.
fn heads<P: rusqlite::Params>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: P,
) -> Result<Heads, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Heads::default();
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<&str, Error> {
            Ok(r.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?)
        };
        out.push(text(0)?, r.get(1)?, text(2)?);
    }
    Ok(out)
}

fn head_from_row(r: &Row<'_>) -> Result<Head, Error> {
    Ok(Head {
        org_id: r.get("org_id")?,
        seq: r.get("seq")?,
        hash: r.get("hash")?,
    })
}

#[async_trait]
impl CheckpointRepo for SqliteTx {
    async fn audit_keys(&mut self) -> StoreResult<Vec<AuditKeyRecord>> {
        Ok(rows(
            self.conn()?,
            "SELECT kid, public_key, seed, created_at, retired_at FROM audit_keys \
             ORDER BY created_at, kid",
            [],
            |r| {
                Ok(AuditKeyRecord {
                    kid: r.get("kid")?,
                    public_key: r.get("public_key")?,
                    seed: r.get("seed")?,
                    created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
                    retired_at: parse_opt_ts(r.get("retired_at")?)?,
                })
            },
        )?)
    }

    async fn insert_audit_key(&mut self, k: &AuditKeyRecord) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO audit_keys (kid, public_key, seed, created_at, retired_at) \
             VALUES (?, ?, ?, ?, ?)",
            params![
                k.kid,
                k.public_key,
                k.seed,
                ts(k.created_at),
                k.retired_at.map(ts)
            ],
        )?;
        Ok(())
    }

    async fn set_audit_key_retired(
        &mut self,
        kid: &str,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE audit_keys SET retired_at = ? WHERE kid = ?",
            params![at.map(ts), kid],
        )?;
        Ok(())
    }

    async fn audit_heads(&mut self) -> StoreResult<Heads> {
        // Org by org in id order, along the orgs' primary key: each head is
        // two index lookups, and nothing is materialised or sorted (a
        // grouped subquery and an ORDER BY made two temporary B-trees of
        // every head, whose memory SQLite's allocator kept afterwards).
        Ok(heads(
            self.conn()?,
            "SELECT o.id, coalesce(e.seq, a.seq), coalesce(e.hash, a.hash) FROM orgs o \
             LEFT JOIN audit_events e ON e.org_id = o.id \
             AND e.seq = (SELECT max(m.seq) FROM audit_events m WHERE m.org_id = o.id) \
             LEFT JOIN audit_anchors a ON a.org_id = o.id AND e.org_id IS NULL \
             WHERE e.org_id IS NOT NULL OR a.org_id IS NOT NULL \
             ORDER BY o.id",
            [],
        )?)
    }

    async fn audit_event_hash(&mut self, org: &OrgId, seq: i64) -> StoreResult<Option<String>> {
        Ok(row(
            self.conn()?,
            "SELECT hash FROM audit_events WHERE org_id = ? AND seq = ?",
            params![org.as_str(), seq],
            |r| Ok(r.get(0)?),
        )?)
    }

    async fn latest_checkpoint(&mut self) -> StoreResult<Option<(i64, Checkpoint)>> {
        let sql = format!("{CHECKPOINT} ORDER BY position DESC LIMIT 1");
        Ok(row(self.conn()?, &sql, [], checkpoint_from_row)?)
    }

    async fn checkpoint(&mut self, id: &str) -> StoreResult<Option<(i64, Checkpoint)>> {
        let sql = format!("{CHECKPOINT} WHERE id = ?");
        Ok(row(self.conn()?, &sql, [id], checkpoint_from_row)?)
    }

    async fn first_checkpoint_since(
        &mut self,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(i64, Checkpoint)>> {
        // Timestamps are stored in one fixed-width form, so text order is
        // time order.
        let sql =
            format!("{CHECKPOINT} WHERE created_at >= ? ORDER BY created_at, position LIMIT 1");
        Ok(row(self.conn()?, &sql, [ts(at)], checkpoint_from_row)?)
    }

    async fn checkpoints_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Checkpoint)>> {
        let sql = format!("{CHECKPOINT} WHERE position > ? ORDER BY position LIMIT ?");
        Ok(rows(
            self.conn()?,
            &sql,
            params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
            checkpoint_from_row,
        )?)
    }

    async fn insert_checkpoint(
        &mut self,
        position: i64,
        c: &Checkpoint,
        changed: &Heads,
    ) -> StoreResult<()> {
        let conn = self.conn()?;
        execute(
            conn,
            "INSERT INTO audit_checkpoints \
             (position, id, created_at, tree_size, root_hash, prev_id, kid, signature) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                position,
                c.id,
                ts(c.created_at),
                c.tree_size,
                c.root_hash,
                c.prev_id,
                c.kid,
                c.signature
            ],
        )?;
        for h in changed.iter() {
            execute(
                conn,
                "INSERT INTO checkpoint_leaves (org_id, checkpoint, seq, hash) VALUES (?, ?, ?, ?)",
                params![h.org_id, position, h.seq, h.hash],
            )?;
        }
        Ok(())
    }

    async fn checkpoint_changes(&mut self, position: i64) -> StoreResult<Heads> {
        Ok(heads(
            self.conn()?,
            "SELECT org_id, seq, hash FROM checkpoint_leaves WHERE checkpoint = ?",
            [position],
        )?)
    }

    async fn checkpoint_leaves(&mut self, position: i64) -> StoreResult<Heads> {
        // SQLite takes a group's bare columns from the row that gave max().
        Ok(heads(
            self.conn()?,
            "SELECT org_id, seq, hash, max(checkpoint) FROM checkpoint_leaves \
             WHERE checkpoint <= ? GROUP BY org_id ORDER BY org_id",
            [position],
        )?)
    }

    async fn checkpoint_leaf(&mut self, org: &OrgId, position: i64) -> StoreResult<Option<Head>> {
        Ok(row(
            self.conn()?,
            "SELECT org_id, seq, hash FROM checkpoint_leaves \
             WHERE org_id = ? AND checkpoint <= ? ORDER BY checkpoint DESC LIMIT 1",
            params![org.as_str(), position],
            head_from_row,
        )?)
    }
}
