//! Console sessions (SPEC §13): a browser signs in with an API key once, and
//! then carries a random session id in a cookie. The session acts as that
//! key, resolved again on every request through the same path as a bearer
//! key ([`Orgd::authenticate_digest`]), so a revoked or expired key, or a
//! deleted org, ends its sessions at once.
//!
//! What is stored: the SHA-256 of the session id (a copy of the database
//! opens no session) and the key's digest (already stored with the key); never
//! the key's secret.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::authz::Principal;
use crate::service::Orgd;
use crate::sessions::ConsoleSession;
use crate::{Error, Result};

/// A session no request has used for this long is over (SPEC §13).
pub const SESSION_IDLE: chrono::Duration = chrono::Duration::hours(12);

/// How stale a session's `last_seen_at` may get before a request refreshes
/// it: writing it on every page view would make every read a write. The
/// idle expiry is 12 hours, so a minute of slack is nothing.
const LAST_SEEN_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);

/// Sessions pruned per transaction, so pruning never holds the writer long.
const PRUNE_BATCH: usize = 1000;

/// A session just made: its id goes into the cookie and nowhere else.
#[derive(Debug)]
pub struct SignedIn {
    pub session_id: String,
    pub principal: Arc<Principal>,
}

/// What a session id resolves to.
#[derive(Debug)]
pub enum SessionState {
    Active(Arc<Principal>),
    /// No such session, idle too long, signed out, or its key no longer works.
    Over,
}

/// The stored form of a session id.
pub fn session_id_hash(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// The per-session token every console form carries against cross-site
/// requests. Derived from the session id (which only the cookie holds) with a
/// label of its own, so it needs no storage, reveals nothing of the id, and
/// cannot be made without it.
pub fn csrf_token(session_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"orgd console csrf token\0");
    h.update(session_id.as_bytes());
    hex::encode(h.finalize())
}

/// 32 random bytes, URL-safe base64: 256 bits no one can guess.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a session last seen at `last_seen` is still open at `now`.
fn is_open(last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_seen < SESSION_IDLE
}

impl Orgd {
    /// Signs in with a key's secret: the same checks as a bearer key, then a
    /// new session. A key that is refused is the same 401 error as the API's.
    pub async fn sign_in(&self, secret: &str) -> Result<SignedIn> {
        let secret = secret.trim();
        let principal = self.authenticate(secret).await?;
        let session_id = new_session_id();
        let now = self.now();
        let session = ConsoleSession {
            id_hash: session_id_hash(&session_id),
            key_digest: crate::api_keys::digest(secret),
            created_at: now,
            last_seen_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_session(&session).await?;
        tx.commit().await?;
        Ok(SignedIn {
            session_id,
            principal,
        })
    }

    /// The principal a session acts as, or [`SessionState::Over`]. A session
    /// found over is deleted on the way.
    pub async fn session(&self, session_id: &str) -> Result<SessionState> {
        let id_hash = session_id_hash(session_id);
        let found = {
            let mut tx = self.store.read().await?;
            tx.session(&id_hash).await?
        };
        let Some(session) = found else {
            return Ok(SessionState::Over);
        };
        let now = self.now();
        if !is_open(session.last_seen_at, now) {
            self.end_session(&id_hash).await?;
            return Ok(SessionState::Over);
        }
        let principal = match self.authenticate_digest(&session.key_digest).await {
            Ok(p) => p,
            Err(Error::Unauthenticated { reason, key_id }) => {
                tracing::info!(
                    reason = reason.as_str(),
                    key_id = key_id.as_deref(),
                    "a console session ended: its key no longer works"
                );
                self.end_session(&id_hash).await?;
                return Ok(SessionState::Over);
            }
            Err(e) => return Err(e),
        };
        if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
            let mut tx = self.store.begin().await?;
            tx.touch_session(&id_hash, now).await?;
            tx.commit().await?;
        }
        Ok(SessionState::Active(principal))
    }

    /// Signs out: the session is gone for good.
    pub async fn sign_out(&self, session_id: &str) -> Result<()> {
        self.end_session(&session_id_hash(session_id)).await
    }

    async fn end_session(&self, id_hash: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.delete_session(id_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes sessions idle for longer than [`SESSION_IDLE`], in batches.
    pub async fn prune_sessions(&self) -> Result<usize> {
        let before = self.now() - SESSION_IDLE;
        let mut total = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let n = tx.delete_sessions_idle_since(before, PRUNE_BATCH).await?;
            tx.commit().await?;
            total += n;
            if n < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_long_random_and_distinct() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn the_stored_hash_and_the_csrf_token_differ_from_each_other_and_the_id() {
        let id = new_session_id();
        let (hash, token) = (session_id_hash(&id), csrf_token(&id));
        assert_ne!(hash, token);
        assert!(!hash.contains(&id) && !token.contains(&id));
        assert_eq!(token, csrf_token(&id), "the token is stable for a session");
        assert_ne!(token, csrf_token(&new_session_id()));
    }

    #[test]
    fn a_session_is_open_for_just_under_twelve_idle_hours() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(is_open(t, t));
        assert!(is_open(t, t + SESSION_IDLE - chrono::Duration::seconds(1)));
        assert!(!is_open(t, t + SESSION_IDLE));
    }
}
