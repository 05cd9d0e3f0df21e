//! What a store keeps of sessions, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::ConsoleSession;
use crate::error::StoreResult;

/// The browser console's sessions, each held by the SHA-256 of its id and
/// the digest of the key it signed in with (no foreign key: the key is
/// resolved again on every request).
#[async_trait]
pub trait SessionRepo {
    /// Fails with [`crate::error::StoreError::Conflict`] on a duplicate id_hash.
    async fn insert_session(&mut self, session: &ConsoleSession) -> StoreResult<()>;
    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<ConsoleSession>>;
    /// Sets last_seen_at (no error if the session is gone).
    async fn touch_session(&mut self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Whether there was such a session.
    async fn delete_session(&mut self, id_hash: &str) -> StoreResult<bool>;
    /// Deletes at most `limit` sessions whose last_seen_at is before `before`; returns how many.
    async fn delete_sessions_idle_since(
        &mut self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize>;
    /// Deletes every session signed in with this key digest (a key's revocation); returns how many.
    async fn delete_sessions_of_key(&mut self, key_digest: &str) -> StoreResult<usize>;
}
