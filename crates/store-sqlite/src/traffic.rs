//! The access log and consumption: the high-volume tables.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::access::{AccessEntry, AccessFilter, Outcome, Source};
use orgd_core::consumption::{MetricValue, Month};
use orgd_core::ids::OrgId;
use orgd_core::org::subtree_upper_bound;
use orgd_core::page::PageRequest;
use orgd_core::store::{
    AccessLogRepo, ConsumptionRepo, CounterDelta, GaugeChange, GaugeRow, MetricRow, StoreError,
    StoreResult,
};
use rusqlite::{Connection, Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{Query, execute, fetch_limit, json_list, parse_json, parse_ts, row, rows, ts};

macro_rules! access_columns {
    () => {
        "id, org_id, timestamp, user_name, key_id, action, status, http_status, method, path, \
         ip, user_agent, request_id, latency_ms, source, details"
    };
}

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

fn entry_from_row(r: &Row<'_>) -> Result<AccessEntry, Error> {
    let status: String = r.get("status")?;
    let source: String = r.get("source")?;
    let details: Option<String> = r.get("details")?;
    let http_status: Option<i64> = r.get("http_status")?;
    Ok(AccessEntry {
        id: r.get("id")?,
        timestamp: parse_ts(&r.get::<_, String>("timestamp")?)?,
        org_id: r.get("org_id")?,
        user: r.get("user_name")?,
        key_id: r.get("key_id")?,
        action: r.get("action")?,
        status: Outcome::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("bad stored status {status}")))?,
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        method: r.get("method")?,
        path: r.get("path")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
        request_id: r.get("request_id")?,
        latency_ms: r.get("latency_ms")?,
        source: Source::parse(&source)
            .ok_or_else(|| StoreError::Other(format!("bad stored source {source}")))?,
        details: details.as_deref().map(parse_json).transpose()?,
    })
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
    async fn insert_access_entries(&mut self, entries: &[AccessEntry]) -> StoreResult<u64> {
        let conn = self.conn()?;
        let existing = existing_orgs(conn, entries.iter().map(|e| e.org_id.as_str()))?;
        let mut stored = 0;
        // Row by row with one statement taken from the cache for the whole
        // batch: each row is a function call, as cheap as a multi-row INSERT
        // without its limit on bound parameters (taking the statement from
        // the cache for each row cost a tenth of the insert).
        let mut insert = conn
            .prepare_cached(concat!(
                "INSERT INTO access_log (",
                access_columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .map_err(Error::from)?;
        for e in entries.iter().filter(|e| existing.contains(&e.org_id)) {
            stored += insert
                .execute(params![
                    e.id,
                    e.org_id,
                    ts(e.timestamp),
                    e.user,
                    e.key_id,
                    e.action,
                    e.status.as_str(),
                    e.http_status.map(i64::from),
                    e.method,
                    e.path,
                    e.ip,
                    e.user_agent,
                    e.request_id,
                    e.latency_ms,
                    e.source.as_str(),
                    e.details.as_ref().map(ToString::to_string),
                ])
                .map_err(Error::from)? as u64;
        }
        Ok(stored)
    }

    async fn access_entries(
        &mut self,
        org: &OrgId,
        f: &AccessFilter,
        page: &PageRequest<(DateTime<Utc>, i64)>,
    ) -> StoreResult<Vec<(i64, AccessEntry)>> {
        let mut b = Query::new(concat!(
            "SELECT gid, ",
            access_columns!(),
            " FROM access_log WHERE org_id = "
        ));
        b.bind(org.to_string());
        if let Some(start) = f.start {
            b.push(" AND timestamp >= ").bind(ts(start));
        }
        if let Some(end) = f.end {
            b.push(" AND timestamp < ").bind(ts(end));
        }
        if let Some(user) = &f.user {
            b.push(" AND user_name = ").bind(user.clone());
        }
        if let Some(action) = &f.action {
            b.push(" AND action = ").bind(action.clone());
        }
        if let Some(status) = f.status {
            b.push(" AND status = ").bind(status.as_str().to_owned());
        }
        if let Some((t, gid)) = page.after {
            b.push(" AND (timestamp, gid) < (")
                .bind(ts(t))
                .push(", ")
                .bind(gid)
                .push(")");
        }
        b.push(" ORDER BY timestamp DESC, gid DESC LIMIT ")
            .bind(fetch_limit(page.limit));
        Ok(b.rows(self.conn()?, |r| Ok((r.get("gid")?, entry_from_row(r)?)))?)
    }

    async fn prune_access_log(&mut self, before: DateTime<Utc>, max_rows: u64) -> StoreResult<u64> {
        Ok(execute(
            self.conn()?,
            "DELETE FROM access_log WHERE gid IN (SELECT gid FROM \
             (SELECT gid, timestamp FROM access_log ORDER BY gid LIMIT ?2) \
             WHERE timestamp < ?1)",
            params![ts(before), i64::try_from(max_rows).unwrap_or(i64::MAX)],
        )?)
    }
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
