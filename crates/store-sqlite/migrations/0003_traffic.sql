-- The access log: high volume, written in batches, pruned by age.
CREATE TABLE access_log (
    gid         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    timestamp   TEXT NOT NULL,
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
    latency_ms  INTEGER,
    source      TEXT NOT NULL,
    details     TEXT
) STRICT;

CREATE INDEX access_log_org_time ON access_log (org_id, timestamp, gid);
CREATE INDEX access_log_time ON access_log (timestamp);

-- Monthly counters (api_requests and ingested metrics).
CREATE TABLE consumption_counters (
    org_id TEXT NOT NULL,
    month  TEXT NOT NULL,
    metric TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (org_id, month, metric)
) STRICT, WITHOUT ROWID;

-- Gauges: one row per org, gauge and month in which the gauge changed.
CREATE TABLE consumption_gauges (
    org_id  TEXT NOT NULL,
    gauge   TEXT NOT NULL,
    month   TEXT NOT NULL,
    current INTEGER NOT NULL,
    peak    INTEGER NOT NULL,
    PRIMARY KEY (org_id, gauge, month)
) STRICT, WITHOUT ROWID;

-- Idempotency keys of usage events, kept past the oldest acceptable event.
CREATE TABLE usage_keys (
    org_id          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (org_id, idempotency_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX usage_keys_created ON usage_keys (created_at);
