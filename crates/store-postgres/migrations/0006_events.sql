-- The outbox of events (SPEC §11): each written in the transaction of its
-- change, as the JSON consumers receive. `gid` is the feed's position;
-- writers take a transaction lock before inserting (see `events.rs`), so
-- positions commit in order.
CREATE TABLE events (
    gid         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    type        TEXT COLLATE "C" NOT NULL,
    org_id      TEXT COLLATE "C" NOT NULL,
    -- the org's path when the event happened: what scope=subtree follows
    org_path    TEXT COLLATE "C" NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    body        TEXT NOT NULL
);

CREATE INDEX events_org_gid ON events (org_id, gid);
