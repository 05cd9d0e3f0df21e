//! The access log and consumption: the high-volume tables.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::access_log::{AccessEntry, AccessEntryRef, AccessFilter};
use orgd_core::consumption::{MetricValue, Month};
use orgd_core::ids::OrgId;
use orgd_core::orgs::subtree_upper_bound;
use orgd_core::page::PageRequest;
use orgd_core::store::{
    AccessLogRepo, ConsumptionRepo, CounterDelta, GaugeChange, GaugeRow, MetricRow, StoreError,
    StoreResult,
};
use rusqlite::{Connection, Row, params};

use crate::SqliteTx;
use crate::access_blocks::{self, BLOCK};
use crate::error::Error;
use crate::sql::{execute, fetch_limit, json_list, row, rows, ts};

/// Which of these org ids exist (tombstones included).
fn existing_orgs<'a>(
    conn: &Connection,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashSet<String>, Error> {
    let wanted: HashSet<&str> = ids.collect();
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    let found = rows(
        conn,
        "SELECT id FROM orgs WHERE id IN (SELECT value FROM json_each(?))",
        [json_list(wanted.into_iter())],
        |r| Ok(r.get::<_, String>(0)?),
    )?;
    Ok(found.into_iter().collect())
}

/// Adds each delta to its row of `table` (`consumption_counters` or
/// `subtree_counters`), creating it at 0; counters saturate.
fn add_to_counters<'a>(
    conn: &Connection,
    table: &str,
    deltas: impl IntoIterator<Item = &'a CounterDelta>,
) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO {table} (org_id, month, metric, value) VALUES (?, ?, ?, ?) \
         ON CONFLICT (org_id, month, metric) DO UPDATE SET value = \
         CASE WHEN excluded.value > 9223372036854775807 - value \
         THEN 9223372036854775807 ELSE value + excluded.value END"
    );
    for d in deltas {
        execute(
            conn,
            &sql,
            params![d.org_id, d.month.to_string(), d.metric, d.amount],
        )?;
    }
    Ok(())
}

fn parse_month(s: &str) -> Result<Month, Error> {
    Month::parse(s).ok_or_else(|| StoreError::Other(format!("bad stored month {s:?}")).into())
}

fn metric_row(r: &Row<'_>, value: MetricValue) -> Result<MetricRow, Error> {
    Ok(MetricRow {
        org_id: OrgId::from_trusted(r.get("org_id")?),
        path: r.get("path")?,
        metric: r.get("metric")?,
        value,
    })
}

#[async_trait]
impl AccessLogRepo for SqliteTx {
    async fn insert_access_entries(&mut self, entries: &[AccessEntryRef<'_>]) -> StoreResult<u64> {
        let conn = self.conn()?;
        let existing = existing_orgs(conn, entries.iter().map(|e| e.org_id))?;
        // Each org's entries, in the order given, make its blocks (a batch
        // of the API's traffic can name thousands of orgs: found by hash).
        let mut orgs: Vec<(&str, Vec<&AccessEntryRef<'_>>)> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        for e in entries.iter().filter(|e| existing.contains(e.org_id)) {
            let i = *slot.entry(e.org_id).or_insert_with(|| {
                orgs.push((e.org_id, Vec::new()));
                orgs.len() - 1
            });
            orgs[i].1.push(e);
        }
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO access_blocks (org_id, min_ts, max_ts, entries, data) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .map_err(Error::from)?;
        let mut stored = 0;
        for (org, of_org) in &orgs {
            for chunk in of_org.chunks(BLOCK) {
                let b = access_blocks::encode(chunk.iter().zip(0..).map(|(e, i)| (i, *e)))?;
                insert
                    .execute(params![org, b.min_ts, b.max_ts, b.entries, b.data])
                    .map_err(Error::from)?;
                stored += chunk.len() as u64;
            }
        }
        Ok(stored)
    }

    async fn access_entries(
        &mut self,
        org: &OrgId,
        f: &AccessFilter,
        page: &PageRequest<(DateTime<Utc>, i64)>,
    ) -> StoreResult<Vec<(i64, AccessEntry)>> {
        let conn = self.conn()?;
        let query = access_blocks::Query::new(f, page.after);
        let want = usize::try_from(fetch_limit(page.limit)).unwrap_or(usize::MAX);
        let mut newest = access_blocks::Newest::new(&query, want);
        // The blocks that can hold a match, newest first.
        let mut blocks = conn
            .prepare_cached(
                "SELECT block, max_ts, data FROM access_blocks WHERE org_id = ?1 \
                 AND (?2 IS NULL OR max_ts >= ?2) AND (?3 IS NULL OR min_ts < ?3) \
                 AND (?4 IS NULL OR min_ts <= ?4) ORDER BY max_ts DESC",
            )
            .map_err(Error::from)?;
        let mut rows = blocks
            .query(params![
                org.as_str(),
                query.start,
                query.end,
                query.after.as_ref().map(|(t, _)| t)
            ])
            .map_err(Error::from)?;
        while let Some(r) = rows.next().map_err(Error::from)? {
            let max_ts = r
                .get_ref(1)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(Error::from)?;
            if !newest.wants(max_ts) {
                break;
            }
            let data = r
                .get_ref(2)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(Error::from)?;
            newest.take(org.as_str(), r.get(0).map_err(Error::from)?, data)?;
        }
        Ok(newest.into_vec())
    }

    async fn prune_access_log(&mut self, before: DateTime<Utc>, max_rows: u64) -> StoreResult<u64> {
        let conn = self.conn()?;
        let cutoff = ts(before);
        // The blocks written first, whole, up to `max_rows` entries (at
        // least one block, so a block larger than that is not stuck).
        let front = rows(
            conn,
            "SELECT block, min_ts, max_ts, entries FROM access_blocks ORDER BY block LIMIT ?",
            [i64::try_from(max_rows).unwrap_or(i64::MAX)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u64>(3)?,
                ))
            },
        )?;
        let (mut seen, mut removed) = (0, 0);
        for (block, min_ts, max_ts, entries) in front {
            seen += entries;
            if seen > max_rows && seen > entries {
                break;
            }
            if max_ts < cutoff {
                execute(conn, "DELETE FROM access_blocks WHERE block = ?", [block])?;
                removed += entries;
            } else if min_ts < cutoff {
                removed += keep_from(conn, block, &cutoff)?;
            }
        }
        Ok(removed)
    }
}

/// Rewrites a block without its entries older than `cutoff`, each kept one
/// at its index; returns how many went.
fn keep_from(conn: &Connection, block: i64, cutoff: &str) -> Result<u64, Error> {
    let Some(data) = row(
        conn,
        "SELECT data FROM access_blocks WHERE block = ?",
        [block],
        |r| Ok(r.get::<_, String>(0)?),
    )?
    else {
        return Ok(0);
    };
    let stored = access_blocks::decode(&data)?;
    let before = stored.len();
    let kept = stored
        .into_iter()
        .filter(|s| s.ts() >= cutoff)
        .map(|s| Ok((s.index(), s.into_entry("")?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let refs: Vec<_> = kept.iter().map(|(i, e)| (*i, e.to_ref())).collect();
    let b = access_blocks::encode(refs.iter().map(|(i, e)| (*i, e)))?;
    execute(
        conn,
        "UPDATE access_blocks SET min_ts = ?, max_ts = ?, entries = ?, data = ? WHERE block = ?",
        params![b.min_ts, b.max_ts, b.entries, b.data, block],
    )?;
    Ok((before - kept.len()) as u64)
}

#[async_trait]
impl ConsumptionRepo for SqliteTx {
    async fn add_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()> {
        let conn = self.conn()?;
        let existing = existing_orgs(conn, deltas.iter().map(|d| d.org_id.as_str()))?;
        let known = deltas.iter().filter(|d| existing.contains(&d.org_id));
        Ok(add_to_counters(conn, "consumption_counters", known)?)
    }

    async fn claim_usage_key(
        &mut self,
        org: &OrgId,
        key: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let inserted = execute(
            self.conn()?,
            "INSERT INTO usage_keys (org_id, idempotency_key, created_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
            params![org.as_str(), key, ts(at)],
        )?;
        Ok(inserted == 1)
    }

    async fn prune_usage_keys(&mut self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(execute(
            self.conn()?,
            "DELETE FROM usage_keys WHERE created_at < ?",
            [ts(before)],
        )?)
    }

    async fn set_gauge(
        &mut self,
        org: &OrgId,
        month: Month,
        gauge: &str,
        current: i64,
    ) -> StoreResult<GaugeChange> {
        let conn = self.conn()?;
        let month = month.to_string();
        // The month's row, else the value carried in from before.
        let before = match row(
            conn,
            "SELECT current, peak FROM consumption_gauges \
             WHERE org_id = ? AND gauge = ? AND month = ?",
            params![org.as_str(), gauge, month],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )? {
            Some(v) => v,
            None => row(
                conn,
                "SELECT current FROM consumption_gauges WHERE org_id = ? AND gauge = ? AND month < ? \
                 ORDER BY month DESC LIMIT 1",
                params![org.as_str(), gauge, month],
                |r| Ok(r.get(0)?),
            )?
            .map_or((0, 0), |c: i64| (c, c)),
        };
        let after = (current, current.max(before.1));
        execute(
            conn,
            "INSERT INTO consumption_gauges (org_id, gauge, month, current, peak) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (org_id, gauge, month) DO UPDATE SET current = excluded.current, \
             peak = excluded.peak",
            params![org.as_str(), gauge, month, after.0, after.1],
        )?;
        Ok(GaugeChange { before, after })
    }

    async fn add_subtree_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()> {
        Ok(add_to_counters(self.conn()?, "subtree_counters", deltas)?)
    }

    async fn subtree_counter_rows(&mut self, org: &OrgId) -> StoreResult<Vec<CounterDelta>> {
        Ok(rows(
            self.conn()?,
            "SELECT org_id, month, metric, value FROM subtree_counters WHERE org_id = ? \
             ORDER BY month, metric",
            [org.as_str()],
            |r| {
                Ok(CounterDelta {
                    org_id: r.get("org_id")?,
                    month: parse_month(&r.get::<_, String>("month")?)?,
                    metric: r.get("metric")?,
                    amount: r.get("value")?,
                })
            },
        )?)
    }

    async fn seed_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
    ) -> StoreResult<()> {
        // `WHERE true`: SQLite reads an upsert's SELECT ambiguously without one.
        execute(
            self.conn()?,
            "INSERT INTO subtree_gauges (org_id, gauge, month, current, peak) \
             SELECT ?1, ?2, ?3, coalesce(c, 0), coalesce(c, 0) FROM (SELECT ( \
                 SELECT current FROM subtree_gauges \
                  WHERE org_id = ?1 AND gauge = ?2 AND month < ?3 \
                  ORDER BY month DESC LIMIT 1) AS c) \
             WHERE true \
             ON CONFLICT (org_id, gauge, month) DO NOTHING",
            params![org.as_str(), gauge, month.to_string()],
        )?;
        Ok(())
    }

    async fn add_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
        current: i64,
        peak: i64,
    ) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE subtree_gauges SET current = current + ?, peak = peak + ? \
             WHERE org_id = ? AND gauge = ? AND month = ?",
            params![current, peak, org.as_str(), gauge, month.to_string()],
        )?;
        Ok(())
    }

    async fn subtree_gauge_rows(&mut self, org: &OrgId) -> StoreResult<Vec<GaugeRow>> {
        Ok(rows(
            self.conn()?,
            "SELECT gauge, month, current, peak FROM subtree_gauges WHERE org_id = ? \
             ORDER BY gauge, month",
            [org.as_str()],
            |r| {
                Ok(GaugeRow {
                    gauge: r.get("gauge")?,
                    month: parse_month(&r.get::<_, String>("month")?)?,
                    current: r.get("current")?,
                    peak: r.get("peak")?,
                })
            },
        )?)
    }

    async fn rollups(
        &mut self,
        org: &OrgId,
        children: bool,
        month: Month,
    ) -> StoreResult<Vec<(OrgId, String, MetricValue)>> {
        let conn = self.conn()?;
        let month = month.to_string();
        // The orgs whose roll-ups are read: the org, or its direct children.
        let scope = if children {
            "s.org_id IN (SELECT id FROM orgs WHERE parent_id = ?1)"
        } else {
            "s.org_id = ?1"
        };
        let mut out = rows(
            conn,
            &format!(
                "SELECT s.org_id, s.metric, s.value FROM subtree_counters s \
                 WHERE {scope} AND s.month = ?2"
            ),
            params![org.as_str(), month],
            |r| {
                Ok((
                    OrgId::from_trusted(r.get("org_id")?),
                    r.get("metric")?,
                    MetricValue::Counter(r.get("value")?),
                ))
            },
        )?;
        let gauges = rows(
            conn,
            &format!(
                "SELECT s.org_id, s.gauge, s.month, s.current, s.peak FROM subtree_gauges s \
                 WHERE {scope} AND s.month = ( \
                     SELECT max(s2.month) FROM subtree_gauges s2 \
                      WHERE s2.org_id = s.org_id AND s2.gauge = s.gauge AND s2.month <= ?2)"
            ),
            params![org.as_str(), month],
            |r| {
                let current: i64 = r.get("current")?;
                // A month without a row carries the last current, as its peak too.
                let peak = if r.get::<_, String>("month")? == month {
                    r.get("peak")?
                } else {
                    current
                };
                Ok((
                    OrgId::from_trusted(r.get("org_id")?),
                    r.get("gauge")?,
                    MetricValue::Gauge { current, peak },
                ))
            },
        )?;
        out.extend(gauges);
        Ok(out)
    }

    async fn month_metrics(
        &mut self,
        path: &str,
        subtree: bool,
        month: Month,
    ) -> StoreResult<Vec<MetricRow>> {
        let conn = self.conn()?;
        let month = month.to_string();
        let scope = if subtree {
            "o.path >= ? AND o.path < ?"
        } else {
            "o.path = ? AND o.path < ?"
        };
        let upper = subtree_upper_bound(path);
        let mut out = rows(
            conn,
            &format!(
                "SELECT c.org_id, o.path, c.metric, c.value FROM consumption_counters c \
                 JOIN orgs o ON o.id = c.org_id WHERE {scope} AND c.month = ?"
            ),
            params![path, upper, month],
            |r| metric_row(r, MetricValue::Counter(r.get("value")?)),
        )?;
        let gauges = rows(
            conn,
            &format!(
                "SELECT g.org_id, o.path, g.gauge AS metric, g.month, g.current, g.peak \
                 FROM consumption_gauges g \
                 JOIN orgs o ON o.id = g.org_id WHERE {scope} AND g.month = ( \
                     SELECT max(g2.month) FROM consumption_gauges g2 \
                     WHERE g2.org_id = g.org_id AND g2.gauge = g.gauge AND g2.month <= ?)"
            ),
            params![path, upper, month],
            |r| {
                let row_month: String = r.get("month")?;
                let current: i64 = r.get("current")?;
                // A gauge carried into a month without a row peaked at its value.
                let peak: i64 = if row_month == month {
                    r.get("peak")?
                } else {
                    current
                };
                metric_row(r, MetricValue::Gauge { current, peak })
            },
        )?;
        out.extend(gauges);
        Ok(out)
    }
}
