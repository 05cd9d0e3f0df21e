-- Roll-ups: per org and month, the sums over its subtree (itself and every
-- descendant, tombstones included) of the counters, and of the gauges as
-- each org had them that month (a gauge not set in a month carries its last
-- value as current and peak). The service keeps them in the transaction of
-- every change (core::service::rollups), so a report with children reads one
-- row per child instead of every row of the subtree.
CREATE TABLE subtree_counters (
    org_id TEXT NOT NULL,
    month  TEXT NOT NULL,
    metric TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (org_id, month, metric)
) STRICT, WITHOUT ROWID;

-- A row exists for every month in which any org of the subtree set the
-- gauge; a month without one carries the subtree's last current.
CREATE TABLE subtree_gauges (
    org_id  TEXT NOT NULL,
    gauge   TEXT NOT NULL,
    month   TEXT NOT NULL,
    current INTEGER NOT NULL,
    peak    INTEGER NOT NULL,
    PRIMARY KEY (org_id, gauge, month)
) STRICT, WITHOUT ROWID;

INSERT INTO subtree_counters (org_id, month, metric, value)
SELECT a.id, c.month, c.metric, sum(c.value)
  FROM consumption_counters c
  JOIN orgs o ON o.id = c.org_id
  JOIN orgs a ON o.path >= a.path AND o.path < substr(a.path, 1, length(a.path) - 1) || '0'
 GROUP BY a.id, c.month, c.metric;

INSERT INTO subtree_gauges (org_id, gauge, month, current, peak)
WITH keys AS (
    SELECT DISTINCT a.id AS org_id, a.path AS path, g.gauge AS gauge, g.month AS month
      FROM consumption_gauges g
      JOIN orgs o ON o.id = g.org_id
      JOIN orgs a ON o.path >= a.path AND o.path < substr(a.path, 1, length(a.path) - 1) || '0'
)
SELECT k.org_id, k.gauge, k.month,
       sum(g.current),
       sum(CASE WHEN g.month = k.month THEN g.peak ELSE g.current END)
  FROM keys k
  JOIN orgs o ON o.path >= k.path AND o.path < substr(k.path, 1, length(k.path) - 1) || '0'
  JOIN consumption_gauges g ON g.org_id = o.id AND g.gauge = k.gauge AND g.month = (
      SELECT max(g3.month) FROM consumption_gauges g3
       WHERE g3.org_id = o.id AND g3.gauge = k.gauge AND g3.month <= k.month)
 GROUP BY k.org_id, k.gauge, k.month;
