-- The browser console's sessions. A session is held by the SHA-256 of its
-- id (the cookie's value, never stored) and by the digest of the key it
-- signed in with: no foreign key, since the key is resolved again on every
-- request and a revoked one deletes its sessions by digest.

CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    key_digest   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Pruning idle sessions, oldest first.
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);

-- Ending a revoked key's sessions.
CREATE INDEX console_sessions_key ON console_sessions (key_digest);
