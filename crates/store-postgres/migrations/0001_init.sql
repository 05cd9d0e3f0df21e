-- orgd schema, PostgreSQL dialect (14 or newer). The same tables as the
-- SQLite store. Identifiers, paths and names that orgd orders or compares by
-- prefix use the "C" collation, so they order bytewise like on SQLite. JSON
-- is kept as text, exactly as written: audit hashes are over exact bytes, and
-- orgd never queries inside it.

CREATE TABLE orgs (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL,
    parent_id      TEXT COLLATE "C" REFERENCES orgs (id),
    -- ids from the root down, each followed by '/': subtree = path range
    path           TEXT COLLATE "C" NOT NULL,
    depth          BIGINT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    version        BIGINT NOT NULL,
    customizations TEXT NOT NULL DEFAULT '{}',
    configs        TEXT NOT NULL DEFAULT '{}',
    deleted_at     TIMESTAMPTZ
);

CREATE UNIQUE INDEX orgs_one_root ON orgs ((parent_id IS NULL)) WHERE parent_id IS NULL;
CREATE INDEX orgs_parent ON orgs (parent_id, id);
CREATE INDEX orgs_path ON orgs (path);

CREATE TABLE org_tags (
    id         TEXT COLLATE "C" PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
    name       TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE INDEX org_tags_name ON org_tags (name, org_id);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    user_name    TEXT,
    permissions  TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX api_keys_org ON api_keys (org_id, id);

CREATE TABLE resources (
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
    kind       TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    name       TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, kind, id),
    UNIQUE (org_id, kind, name)
);

CREATE TABLE audit_events (
    -- global insertion order: the page key of children_audit
    gid          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT COLLATE "C" NOT NULL UNIQUE,
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
    seq          BIGINT NOT NULL,
    timestamp    TIMESTAMPTZ NOT NULL,
    actor_key_id TEXT,
    actor_user   TEXT,
    action       TEXT COLLATE "C" NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    changes      TEXT NOT NULL,
    request_id   TEXT,
    ip           TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    UNIQUE (org_id, seq)
);

CREATE INDEX audit_events_org_gid ON audit_events (org_id, gid);

-- The trail is append-only through orgd. (A superuser can still drop this;
-- the hash chain is what makes such an edit visible.)
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE idempotency_keys (
    key_id          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    location        TEXT,
    body            BYTEA,
    PRIMARY KEY (key_id, idempotency_key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The access log: high volume, written in batches, pruned by age.
CREATE TABLE access_log (
    gid         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL,
    org_id      TEXT COLLATE "C" NOT NULL,
    timestamp   TIMESTAMPTZ NOT NULL,
    user_name   TEXT,
    key_id      TEXT,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    http_status INTEGER,
    method      TEXT,
    path        TEXT,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    latency_ms  BIGINT,
    source      TEXT NOT NULL,
    details     TEXT
);

CREATE INDEX access_log_org_time ON access_log (org_id, timestamp, gid);
CREATE INDEX access_log_time ON access_log (timestamp);

-- Monthly counters (api_requests and ingested metrics).
CREATE TABLE consumption_counters (
    org_id TEXT COLLATE "C" NOT NULL,
    month  TEXT COLLATE "C" NOT NULL,
    metric TEXT COLLATE "C" NOT NULL,
    value  BIGINT NOT NULL,
    PRIMARY KEY (org_id, month, metric)
);

-- Gauges: one row per org, gauge and month in which the gauge changed.
CREATE TABLE consumption_gauges (
    org_id  TEXT COLLATE "C" NOT NULL,
    gauge   TEXT COLLATE "C" NOT NULL,
    month   TEXT COLLATE "C" NOT NULL,
    current BIGINT NOT NULL,
    peak    BIGINT NOT NULL,
    PRIMARY KEY (org_id, gauge, month)
);

-- Idempotency keys of usage events, kept past the oldest acceptable event.
CREATE TABLE usage_keys (
    org_id          TEXT COLLATE "C" NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, idempotency_key)
);

CREATE INDEX usage_keys_created ON usage_keys (created_at);
