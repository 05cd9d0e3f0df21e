//! A console session as stored: what the browser admin console's sign-in
//! leaves in the database, so that any node can recognise the cookie.

use chrono::{DateTime, Utc};

/// A signed-in browser. The session id itself (the cookie's value) is never
/// stored, only its SHA-256 in hex, so a copy of the database opens no
/// session; the key is held by its stored digest, and resolved again on every
/// request, so a revoked or expired key ends its sessions at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub key_digest: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}
