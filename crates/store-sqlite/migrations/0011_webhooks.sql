-- Webhook endpoints (SPEC §11) and their queue of deliveries.
CREATE TABLE webhooks (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES orgs (id),
    url                   TEXT NOT NULL,
    -- a JSON list of types and `prefix.*` patterns; empty: every type
    types                 TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    description           TEXT,
    enabled               INTEGER NOT NULL,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    -- the feed position up to which events are queued
    cursor                INTEGER NOT NULL,
    failing_since         TEXT,
    disabled_at           TEXT
);

CREATE INDEX webhooks_org ON webhooks (org_id, id);

-- `seq` is the queue's order: an endpoint receives an org's events in it.
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    webhook_id       TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    first_attempt_at TEXT,
    last_attempt_at  TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     TEXT
);

-- The head of each endpoint's and org's queue, and what is due.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, org_id, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, seq);
