-- The access log in blocks: one row per org per stored batch, its entries a
-- JSON array of arrays (see src/access_blocks.rs for the layout). A row per
-- entry cost a B-tree insert into the table and one into its index for
-- every request; this is one of each per org per batch.
CREATE TABLE access_blocks (
    -- Write order; never reused, so an entry's position stays unique.
    block   INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id  TEXT NOT NULL,
    -- The oldest and newest timestamps in the block.
    min_ts  TEXT NOT NULL,
    max_ts  TEXT NOT NULL,
    entries INTEGER NOT NULL,
    data    TEXT NOT NULL
) STRICT;

CREATE INDEX access_blocks_org ON access_blocks (org_id, max_ts);

-- The entries written so far, in blocks of at most 4096 per org, in write
-- order.
INSERT INTO access_blocks (org_id, min_ts, max_ts, entries, data)
SELECT org_id, MIN(timestamp), MAX(timestamp), COUNT(*),
       json_group_array(json_array(
           n % 4096, id, timestamp, user_name, key_id, action, status,
           http_status, method, path, ip, user_agent, request_id, latency_ms,
           source, json(details)
       ) ORDER BY gid)
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY org_id ORDER BY gid) - 1 AS n
      FROM access_log)
GROUP BY org_id, n / 4096
ORDER BY MIN(gid);

DROP TABLE access_log;
