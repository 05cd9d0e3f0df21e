use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::store::{IdempotencyRecord, IdempotencyRepo, StoreResult, StoredResponse};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{execute, parse_ts, row, ts};

fn record_from_row(
    r: &Row<'_>,
    key_id: &str,
    idempotency_key: &str,
) -> Result<IdempotencyRecord, Error> {
    let response = match r.get::<_, Option<i64>>("status")? {
        None => None,
        Some(status) => Some(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            content_type: r.get("content_type")?,
            location: r.get("location")?,
            body: r.get::<_, Option<Vec<u8>>>("body")?.unwrap_or_default(),
        }),
    };
    Ok(IdempotencyRecord {
        key_id: key_id.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        fingerprint: r.get("fingerprint")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        response,
    })
}

#[async_trait]
impl IdempotencyRepo for SqliteTx {
    async fn idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        Ok(row(
            self.conn()?,
            "SELECT fingerprint, created_at, status, content_type, location, body \
             FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?",
            params![key_id, idempotency_key],
            |r| record_from_row(r, key_id, idempotency_key),
        )?)
    }

    async fn insert_idempotency(&mut self, rec: &IdempotencyRecord) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, created_at) \
             VALUES (?, ?, ?, ?)",
            params![
                rec.key_id,
                rec.idempotency_key,
                rec.fingerprint,
                ts(rec.created_at),
            ],
        )?;
        Ok(())
    }

    async fn complete_idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
        r: &StoredResponse,
    ) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE idempotency_keys SET status = ?, content_type = ?, location = ?, body = ? \
             WHERE key_id = ? AND idempotency_key = ?",
            params![
                i64::from(r.status),
                r.content_type,
                r.location,
                r.body,
                key_id,
                idempotency_key,
            ],
        )?;
        Ok(())
    }

    async fn delete_idempotency(&mut self, key_id: &str, idempotency_key: &str) -> StoreResult<()> {
        execute(
            self.conn()?,
            "DELETE FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?",
            params![key_id, idempotency_key],
        )?;
        Ok(())
    }

    async fn prune_idempotency(&mut self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(execute(
            self.conn()?,
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            [ts(before)],
        )?)
    }
}
