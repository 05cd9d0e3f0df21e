//! The audit trail's signing keys and signed checkpoints.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::checkpoints::{AuditKeyRecord, Checkpoint, Head, Heads};
use orgd_core::ids::OrgId;
use orgd_core::store::{CheckpointRepo, StoreResult};
use orgd_core::time::truncate;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, decode_all, row_limit};

/// The checkpoints' advisory lock, in the two-`int4` key space of the tree
/// lock (`orgs.rs`): "orgd", 3. Only checkpoints and key changes take it.
const CHECKPOINT_LOCK: (i32, i32) = (0x6f72_6764, 3);
/// Leaves per `INSERT` (four values each; a statement binds at most 65,535).
const INSERT_CHUNK: usize = 10_000;

const CHECKPOINT: &str = "SELECT position, id, created_at, tree_size, root_hash, prev_id, kid, signature \
     FROM audit_checkpoints";

fn checkpoint_from_row(r: &PgRow) -> Result<(i64, Checkpoint), Error> {
    Ok((
        r.try_get("position")?,
        Checkpoint {
            id: r.try_get("id")?,
            created_at: r.try_get("created_at")?,
            tree_size: r.try_get("tree_size")?,
            root_hash: r.try_get("root_hash")?,
            prev_id: r.try_get("prev_id")?,
            kid: r.try_get("kid")?,
            signature: r.try_get("signature")?,
        },
    ))
}

fn heads_from_rows(rows: &[PgRow]) -> Result<Heads, Error> {
    let mut out = Heads::default();
    for r in rows {
        out.push(
            r.try_get::<&str, _>("org_id")?,
            r.try_get("seq")?,
            r.try_get::<&str, _>("hash")?,
        );
    }
    Ok(out)
}

fn head_from_row(r: &PgRow) -> Result<Head, Error> {
    Ok(Head {
        org_id: r.try_get("org_id")?,
        seq: r.try_get("seq")?,
        hash: r.try_get("hash")?,
    })
}

#[async_trait]
impl CheckpointRepo for PgTx {
    async fn audit_keys(&mut self) -> StoreResult<Vec<AuditKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, public_key, seed, created_at, retired_at FROM audit_keys \
             ORDER BY created_at, kid",
        )
        .all(&mut self.tx)
        .await?;
        let keys = decode_all(&rows, |r| {
            Ok(AuditKeyRecord {
                kid: r.try_get("kid")?,
                public_key: r.try_get("public_key")?,
                seed: r.try_get("seed")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
            })
        })?;
        Ok(keys)
    }

    async fn insert_audit_key(&mut self, k: &AuditKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_keys (kid, public_key, seed, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.kid)
        .bind(&k.public_key)
        .bind(&k.seed)
        .bind(truncate(k.created_at))
        .bind(k.retired_at.map(truncate))
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn set_audit_key_retired(
        &mut self,
        kid: &str,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE audit_keys SET retired_at = $1 WHERE kid = $2")
            .bind(at.map(truncate))
            .bind(kid)
            .run(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn lock_checkpoints(&mut self) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(CHECKPOINT_LOCK.0)
            .bind(CHECKPOINT_LOCK.1)
            .run(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn audit_heads(&mut self) -> StoreResult<Heads> {
        let rows = sqlx::query(
            "SELECT e.org_id, e.seq, e.hash FROM \
             (SELECT org_id, max(seq) AS seq FROM audit_events GROUP BY org_id) h \
             JOIN audit_events e ON e.org_id = h.org_id AND e.seq = h.seq \
             UNION ALL \
             SELECT a.org_id, a.seq, a.hash FROM audit_anchors a \
             WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.org_id = a.org_id) \
             ORDER BY org_id",
        )
        .all(&mut self.tx)
        .await?;
        Ok(heads_from_rows(&rows)?)
    }

    async fn audit_event_hash(&mut self, org: &OrgId, seq: i64) -> StoreResult<Option<String>> {
        let hash =
            sqlx::query_scalar("SELECT hash FROM audit_events WHERE org_id = $1 AND seq = $2")
                .bind(org.as_str())
                .bind(seq)
                .optional(&mut self.tx)
                .await?;
        Ok(hash)
    }

    async fn latest_checkpoint(&mut self) -> StoreResult<Option<(i64, Checkpoint)>> {
        let row = sqlx::query(&format!("{CHECKPOINT} ORDER BY position DESC LIMIT 1"))
            .optional(&mut self.tx)
            .await?;
        Ok(row.as_ref().map(checkpoint_from_row).transpose()?)
    }

    async fn checkpoint(&mut self, id: &str) -> StoreResult<Option<(i64, Checkpoint)>> {
        let row = sqlx::query(&format!("{CHECKPOINT} WHERE id = $1"))
            .bind(id)
            .optional(&mut self.tx)
            .await?;
        Ok(row.as_ref().map(checkpoint_from_row).transpose()?)
    }

    async fn first_checkpoint_since(
        &mut self,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(i64, Checkpoint)>> {
        let row = sqlx::query(&format!(
            "{CHECKPOINT} WHERE created_at >= $1 ORDER BY created_at, position LIMIT 1"
        ))
        .bind(at)
        .optional(&mut self.tx)
        .await?;
        Ok(row.as_ref().map(checkpoint_from_row).transpose()?)
    }

    async fn checkpoints_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Checkpoint)>> {
        let rows = sqlx::query(&format!(
            "{CHECKPOINT} WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .bind(after)
        .bind(row_limit(limit))
        .all(&mut self.tx)
        .await?;
        Ok(decode_all(&rows, checkpoint_from_row)?)
    }

    async fn insert_checkpoint(
        &mut self,
        position: i64,
        c: &Checkpoint,
        changed: &Heads,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints \
             (position, id, created_at, tree_size, root_hash, prev_id, kid, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(position)
        .bind(&c.id)
        .bind(truncate(c.created_at))
        .bind(c.tree_size)
        .bind(&c.root_hash)
        .bind(&c.prev_id)
        .bind(&c.kid)
        .bind(&c.signature)
        .run(&mut self.tx)
        .await?;
        let changed: Vec<_> = changed.iter().collect();
        for chunk in changed.chunks(INSERT_CHUNK) {
            let mut b = QueryBuilder::<Postgres>::new(
                "INSERT INTO checkpoint_leaves (org_id, checkpoint, seq, hash) ",
            );
            b.push_values(chunk, |mut row, h| {
                row.push_bind(h.org_id)
                    .push_bind(position)
                    .push_bind(h.seq)
                    .push_bind(h.hash);
            });
            b.build().run(&mut self.tx).await?;
        }
        Ok(())
    }

    async fn checkpoint_changes(&mut self, position: i64) -> StoreResult<Heads> {
        let rows =
            sqlx::query("SELECT org_id, seq, hash FROM checkpoint_leaves WHERE checkpoint = $1")
                .bind(position)
                .all(&mut self.tx)
                .await?;
        let heads: Result<Heads, Error> = rows.iter().map(head_from_row).collect();
        Ok(heads?)
    }

    async fn checkpoint_leaves(&mut self, position: i64) -> StoreResult<Heads> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (org_id) org_id, seq, hash FROM checkpoint_leaves \
             WHERE checkpoint <= $1 ORDER BY org_id, checkpoint DESC",
        )
        .bind(position)
        .all(&mut self.tx)
        .await?;
        Ok(heads_from_rows(&rows)?)
    }

    async fn checkpoint_leaf(&mut self, org: &OrgId, position: i64) -> StoreResult<Option<Head>> {
        let row = sqlx::query(
            "SELECT org_id, seq, hash FROM checkpoint_leaves \
             WHERE org_id = $1 AND checkpoint <= $2 ORDER BY checkpoint DESC LIMIT 1",
        )
        .bind(org.as_str())
        .bind(position)
        .optional(&mut self.tx)
        .await?;
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }
}
