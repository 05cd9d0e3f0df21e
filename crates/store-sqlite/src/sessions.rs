use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::sessions::ConsoleSession;
use orgd_core::store::{SessionRepo, StoreResult};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{execute, parse_ts, row, ts};

fn session_from_row(r: &Row<'_>) -> Result<ConsoleSession, Error> {
    Ok(ConsoleSession {
        id_hash: r.get("id_hash")?,
        key_digest: r.get("key_digest")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        last_seen_at: parse_ts(&r.get::<_, String>("last_seen_at")?)?,
    })
}

/// A count of rows as the trait wants it.
fn changed(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[async_trait]
impl SessionRepo for SqliteTx {
    async fn insert_session(&mut self, s: &ConsoleSession) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO console_sessions (id_hash, key_digest, created_at, last_seen_at) \
             VALUES (?, ?, ?, ?)",
            params![
                s.id_hash,
                s.key_digest,
                ts(s.created_at),
                ts(s.last_seen_at)
            ],
        )?;
        Ok(())
    }

    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<ConsoleSession>> {
        Ok(row(
            self.conn()?,
            "SELECT id_hash, key_digest, created_at, last_seen_at FROM console_sessions \
             WHERE id_hash = ?",
            [id_hash],
            session_from_row,
        )?)
    }

    async fn touch_session(&mut self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE console_sessions SET last_seen_at = ? WHERE id_hash = ?",
            params![ts(at), id_hash],
        )?;
        Ok(())
    }

    async fn delete_session(&mut self, id_hash: &str) -> StoreResult<bool> {
        let gone = execute(
            self.conn()?,
            "DELETE FROM console_sessions WHERE id_hash = ?",
            [id_hash],
        )?;
        Ok(gone > 0)
    }

    async fn delete_sessions_idle_since(
        &mut self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        // The most idle first, through the index on last_seen_at.
        let gone = execute(
            self.conn()?,
            "DELETE FROM console_sessions WHERE id_hash IN \
             (SELECT id_hash FROM console_sessions WHERE last_seen_at < ? \
              ORDER BY last_seen_at LIMIT ?)",
            params![ts(before), i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        Ok(changed(gone))
    }

    async fn delete_sessions_of_key(&mut self, key_digest: &str) -> StoreResult<usize> {
        let gone = execute(
            self.conn()?,
            "DELETE FROM console_sessions WHERE key_digest = ?",
            [key_digest],
        )?;
        Ok(changed(gone))
    }
}
