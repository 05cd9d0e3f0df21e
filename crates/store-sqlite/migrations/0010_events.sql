-- The outbox of events (SPEC §11): each written in the transaction of its
-- change, as the JSON consumers receive. `gid` is the feed's position;
-- AUTOINCREMENT so that a position is never given twice, even after pruning
-- emptied the table.
CREATE TABLE events (
    gid         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    -- the org's path when the event happened: what scope=subtree follows
    org_path    TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL
);

CREATE INDEX events_org_gid ON events (org_id, gid);
