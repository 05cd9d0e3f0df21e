use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::sessions::ConsoleSession;
use orgd_core::store::{SessionRepo, StoreResult};
use orgd_core::time::truncate;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, inserted, row_limit};

fn session_from_row(r: &PgRow) -> Result<ConsoleSession, Error> {
    Ok(ConsoleSession {
        id_hash: r.try_get("id_hash")?,
        key_digest: r.try_get("key_digest")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
    })
}

/// A count of rows as the trait wants it.
fn changed(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[async_trait]
impl SessionRepo for PgTx {
    async fn insert_session(&mut self, s: &ConsoleSession) -> StoreResult<()> {
        // DO NOTHING rather than a unique violation, which would abort the
        // caller's whole transaction (see the crate's documentation).
        let done = sqlx::query(
            "INSERT INTO console_sessions (id_hash, key_digest, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&s.id_hash)
        .bind(&s.key_digest)
        .bind(truncate(s.created_at))
        .bind(truncate(s.last_seen_at))
        .run(&mut self.tx)
        .await?;
        inserted(&done, || "the session id is taken".into())
    }

    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<ConsoleSession>> {
        let row = sqlx::query(
            "SELECT id_hash, key_digest, created_at, last_seen_at FROM console_sessions \
             WHERE id_hash = $1",
        )
        .bind(id_hash)
        .optional(&mut self.tx)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    async fn touch_session(&mut self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE console_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(truncate(at))
            .bind(id_hash)
            .run(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn delete_session(&mut self, id_hash: &str) -> StoreResult<bool> {
        let gone = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .run(&mut self.tx)
            .await?
            .rows_affected();
        Ok(gone > 0)
    }

    /// `before` is compared at the millisecond precision times are stored with.
    async fn delete_sessions_idle_since(
        &mut self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        // The most idle first, through the index on last_seen_at.
        let gone = sqlx::query(
            "DELETE FROM console_sessions WHERE id_hash IN \
             (SELECT id_hash FROM console_sessions WHERE last_seen_at < $1 \
              ORDER BY last_seen_at LIMIT $2)",
        )
        .bind(truncate(before))
        .bind(row_limit(limit))
        .run(&mut self.tx)
        .await?
        .rows_affected();
        Ok(changed(gone))
    }

    async fn delete_sessions_of_key(&mut self, key_digest: &str) -> StoreResult<usize> {
        let gone = sqlx::query("DELETE FROM console_sessions WHERE key_digest = $1")
            .bind(key_digest)
            .run(&mut self.tx)
            .await?
            .rows_affected();
        Ok(changed(gone))
    }
}
