use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::store::{IdempotencyRecord, IdempotencyRepo, StoreResult, StoredResponse};
use orgd_core::time::truncate;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, inserted};

fn record_from_row(
    r: &PgRow,
    key_id: &str,
    idempotency_key: &str,
) -> Result<IdempotencyRecord, Error> {
    Ok(IdempotencyRecord {
        key_id: key_id.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        fingerprint: r.try_get("fingerprint")?,
        created_at: r.try_get("created_at")?,
        response: response_from_row(r)?,
    })
}

/// The stored response, if the request finished.
fn response_from_row(r: &PgRow) -> Result<Option<StoredResponse>, Error> {
    let status: Option<i32> = r.try_get("status")?;
    let Some(status) = status else {
        return Ok(None);
    };
    Ok(Some(StoredResponse {
        status: u16::try_from(status).unwrap_or(500),
        content_type: r.try_get("content_type")?,
        location: r.try_get("location")?,
        body: r.try_get::<Option<Vec<u8>>, _>("body")?.unwrap_or_default(),
    }))
}

#[async_trait]
impl IdempotencyRepo for PgTx {
    async fn idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT fingerprint, created_at, status, content_type, location, body FROM idempotency_keys \
             WHERE key_id = $1 AND idempotency_key = $2",
        )
        .bind(key_id)
        .bind(idempotency_key)
        .optional(&mut self.tx)
        .await?;
        let record = row.map(|r| record_from_row(&r, key_id, idempotency_key));
        Ok(record.transpose()?)
    }

    /// A claim already there is reported, not raised: the caller goes on in
    /// this transaction to read it.
    async fn insert_idempotency(&mut self, rec: &IdempotencyRecord) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&rec.key_id)
        .bind(&rec.idempotency_key)
        .bind(&rec.fingerprint)
        .bind(truncate(rec.created_at))
        .run(&mut self.tx)
        .await?;
        inserted(&done, || "idempotency key already claimed".to_owned())
    }

    async fn complete_idempotency(
        &mut self,
        key_id: &str,
        idempotency_key: &str,
        r: &StoredResponse,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, location = $3, body = $4 \
             WHERE key_id = $5 AND idempotency_key = $6",
        )
        .bind(i32::from(r.status))
        .bind(&r.content_type)
        .bind(&r.location)
        .bind(&r.body)
        .bind(key_id)
        .bind(idempotency_key)
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn delete_idempotency(&mut self, key_id: &str, idempotency_key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key_id = $1 AND idempotency_key = $2")
            .bind(key_id)
            .bind(idempotency_key)
            .run(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn prune_idempotency(&mut self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(truncate(before))
            .run(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}
