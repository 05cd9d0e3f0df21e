use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::session::ConsoleSession;
use orgd_core::store::{SessionRepo, StoreError, StoreResult};
use orgd_core::time::truncate;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{PgTx, map_err};

fn session_from_row(r: &PgRow) -> StoreResult<ConsoleSession> {
    Ok(ConsoleSession {
        id_hash: r.try_get("id_hash").map_err(map_err)?,
        key_digest: r.try_get("key_digest").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
        last_seen_at: r.try_get("last_seen_at").map_err(map_err)?,
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
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the session id is taken".into()));
        }
        Ok(())
    }

    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<ConsoleSession>> {
        sqlx::query(
            "SELECT id_hash, key_digest, created_at, last_seen_at FROM console_sessions \
             WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn touch_session(&mut self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE console_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(truncate(at))
            .bind(id_hash)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_session(&mut self, id_hash: &str) -> StoreResult<bool> {
        let gone = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?
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
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(changed(gone))
    }

    async fn delete_sessions_of_key(&mut self, key_digest: &str) -> StoreResult<usize> {
        let gone = sqlx::query("DELETE FROM console_sessions WHERE key_digest = $1")
            .bind(key_digest)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(changed(gone))
    }
}
