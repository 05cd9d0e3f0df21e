-- orgd schema, SQLite dialect. Timestamps are TEXT in one fixed-width
-- RFC 3339 form (orgd_core::time), so they sort as the instants they name.

CREATE TABLE orgs (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    parent_id      TEXT REFERENCES orgs (id),
    -- ids from the root down, each followed by '/': subtree = path range
    path           TEXT NOT NULL,
    depth          INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    customizations TEXT NOT NULL DEFAULT '{}',
    deleted_at     TEXT
) STRICT;

CREATE UNIQUE INDEX orgs_one_root ON orgs ((parent_id IS NULL)) WHERE parent_id IS NULL;
CREATE INDEX orgs_parent ON orgs (parent_id, id);
CREATE INDEX orgs_path ON orgs (path);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    user_name    TEXT,
    permissions  TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;

CREATE INDEX api_keys_org ON api_keys (org_id, id);

CREATE TABLE audit_events (
    -- global insertion order: the page key of children_audit
    gid          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    seq          INTEGER NOT NULL,
    timestamp    TEXT NOT NULL,
    actor_key_id TEXT,
    actor_user   TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    changes      TEXT NOT NULL,
    request_id   TEXT,
    ip           TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    UNIQUE (org_id, seq)
) STRICT;

CREATE INDEX audit_events_org_gid ON audit_events (org_id, gid);

-- The trail is append-only through orgd. (Anyone with the file can still
-- drop this; the hash chain is what makes such an edit visible.)
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TABLE idempotency_keys (
    key_id          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    location        TEXT,
    body            BLOB,
    PRIMARY KEY (key_id, idempotency_key)
) STRICT;

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
