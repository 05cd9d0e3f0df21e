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
    AccessLogRepo, ConsumptionRepo, CounterDelta, MetricRow, StoreError, StoreResult,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{SqliteTx, fetch_limit, map_err, parse_ts, ts};

/// Rows per multi-row INSERT: 17 columns × 500 stays far below SQLite's
/// limit of 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

const ACCESS_COLUMNS: &str = "id, org_id, timestamp, user_name, key_id, action, status, http_status, \
     method, path, ip, user_agent, request_id, latency_ms, source, details";

impl SqliteTx {
    /// Which of these org ids exist (tombstones included).
    async fn existing_orgs<'a>(
        &mut self,
        ids: impl Iterator<Item = &'a str>,
    ) -> StoreResult<HashSet<String>> {
        let wanted: HashSet<&str> = ids.collect();
        let mut found = HashSet::new();
        let wanted: Vec<&str> = wanted.into_iter().collect();
        for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
            let mut b = QueryBuilder::<Sqlite>::new("SELECT id FROM orgs WHERE id IN (");
            let mut list = b.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            b.push(")");
            for r in b.build().fetch_all(&mut *self.tx).await.map_err(map_err)? {
                found.insert(r.try_get::<String, _>("id").map_err(map_err)?);
            }
        }
        Ok(found)
    }
}

fn entry_from_row(r: &SqliteRow) -> StoreResult<AccessEntry> {
    let status: String = r.try_get("status").map_err(map_err)?;
    let source: String = r.try_get("source").map_err(map_err)?;
    let details: Option<String> = r.try_get("details").map_err(map_err)?;
    let http_status: Option<i64> = r.try_get("http_status").map_err(map_err)?;
    Ok(AccessEntry {
        id: r.try_get("id").map_err(map_err)?,
        timestamp: parse_ts(r.try_get("timestamp").map_err(map_err)?)?,
        org_id: r.try_get("org_id").map_err(map_err)?,
        user: r.try_get("user_name").map_err(map_err)?,
        key_id: r.try_get("key_id").map_err(map_err)?,
        action: r.try_get("action").map_err(map_err)?,
        status: Outcome::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("bad stored status {status}")))?,
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        method: r.try_get("method").map_err(map_err)?,
        path: r.try_get("path").map_err(map_err)?,
        ip: r.try_get("ip").map_err(map_err)?,
        user_agent: r.try_get("user_agent").map_err(map_err)?,
        request_id: r.try_get("request_id").map_err(map_err)?,
        latency_ms: r.try_get("latency_ms").map_err(map_err)?,
        source: Source::parse(&source)
            .ok_or_else(|| StoreError::Other(format!("bad stored source {source}")))?,
        details: details.as_deref().map(crate::parse_json).transpose()?,
    })
}

#[async_trait]
impl AccessLogRepo for SqliteTx {
    async fn insert_access_entries(&mut self, entries: &[AccessEntry]) -> StoreResult<u64> {
        let existing = self
            .existing_orgs(entries.iter().map(|e| e.org_id.as_str()))
            .await?;
        let keep: Vec<&AccessEntry> = entries
            .iter()
            .filter(|e| existing.contains(&e.org_id))
            .collect();
        for chunk in keep.chunks(ROWS_PER_STATEMENT) {
            let mut b =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO access_log ({ACCESS_COLUMNS}) "));
            b.push_values(chunk, |mut row, e| {
                row.push_bind(&e.id)
                    .push_bind(&e.org_id)
                    .push_bind(ts(e.timestamp))
                    .push_bind(&e.user)
                    .push_bind(&e.key_id)
                    .push_bind(&e.action)
                    .push_bind(e.status.as_str())
                    .push_bind(e.http_status.map(i64::from))
                    .push_bind(&e.method)
                    .push_bind(&e.path)
                    .push_bind(&e.ip)
                    .push_bind(&e.user_agent)
                    .push_bind(&e.request_id)
                    .push_bind(e.latency_ms)
                    .push_bind(e.source.as_str())
                    .push_bind(e.details.as_ref().map(ToString::to_string));
            });
            b.build().execute(&mut *self.tx).await.map_err(map_err)?;
        }
        Ok(keep.len() as u64)
    }

    async fn access_entries(
        &mut self,
        org: &OrgId,
        f: &AccessFilter,
        page: &PageRequest<(DateTime<Utc>, i64)>,
    ) -> StoreResult<Vec<(i64, AccessEntry)>> {
        let mut b = QueryBuilder::<Sqlite>::new(format!(
            "SELECT gid, {ACCESS_COLUMNS} FROM access_log WHERE org_id = "
        ));
        b.push_bind(org.to_string());
        if let Some(start) = f.start {
            b.push(" AND timestamp >= ").push_bind(ts(start));
        }
        if let Some(end) = f.end {
            b.push(" AND timestamp < ").push_bind(ts(end));
        }
        if let Some(user) = &f.user {
            b.push(" AND user_name = ").push_bind(user.clone());
        }
        if let Some(action) = &f.action {
            b.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(status) = f.status {
            b.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some((t, gid)) = page.after {
            b.push(" AND (timestamp, gid) < (")
                .push_bind(ts(t))
                .push(", ")
                .push_bind(gid)
                .push(")");
        }
        b.push(" ORDER BY timestamp DESC, gid DESC LIMIT ")
            .push_bind(fetch_limit(page.limit));
        b.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| Ok((r.try_get("gid").map_err(map_err)?, entry_from_row(r)?)))
            .collect()
    }

    async fn prune_access_log(&mut self, before: DateTime<Utc>, max_rows: u64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM access_log WHERE gid IN (SELECT gid FROM access_log WHERE timestamp < ? LIMIT ?)",
        )
        .bind(ts(before))
        .bind(i64::try_from(max_rows).unwrap_or(i64::MAX))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ConsumptionRepo for SqliteTx {
    async fn add_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()> {
        let existing = self
            .existing_orgs(deltas.iter().map(|d| d.org_id.as_str()))
            .await?;
        let keep: Vec<&CounterDelta> = deltas
            .iter()
            .filter(|d| existing.contains(&d.org_id))
            .collect();
        for chunk in keep.chunks(ROWS_PER_STATEMENT) {
            let mut b = QueryBuilder::<Sqlite>::new(
                "INSERT INTO consumption_counters (org_id, month, metric, value) ",
            );
            b.push_values(chunk, |mut row, d| {
                row.push_bind(&d.org_id)
                    .push_bind(d.month.to_string())
                    .push_bind(&d.metric)
                    .push_bind(d.amount);
            });
            b.push(
                " ON CONFLICT (org_id, month, metric) DO UPDATE SET value = \
                 CASE WHEN excluded.value > 9223372036854775807 - value \
                 THEN 9223372036854775807 ELSE value + excluded.value END",
            );
            b.build().execute(&mut *self.tx).await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn claim_usage_key(
        &mut self,
        org: &OrgId,
        key: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO usage_keys (org_id, idempotency_key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(org.as_str())
        .bind(key)
        .bind(ts(at))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_usage_keys(&mut self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM usage_keys WHERE created_at < ?")
            .bind(ts(before))
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn set_gauge(
        &mut self,
        org: &OrgId,
        month: Month,
        gauge: &str,
        current: i64,
    ) -> StoreResult<()> {
        let month = month.to_string();
        // A month's first row starts from the value carried in from before.
        let carried: Option<i64> = sqlx::query_scalar(
            "SELECT current FROM consumption_gauges WHERE org_id = ? AND gauge = ? AND month < ? \
             ORDER BY month DESC LIMIT 1",
        )
        .bind(org.as_str())
        .bind(gauge)
        .bind(&month)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO consumption_gauges (org_id, gauge, month, current, peak) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (org_id, gauge, month) DO UPDATE SET current = excluded.current, \
             peak = max(peak, excluded.current)",
        )
        .bind(org.as_str())
        .bind(gauge)
        .bind(&month)
        .bind(current)
        .bind(current.max(carried.unwrap_or(0)))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn month_metrics(
        &mut self,
        path: &str,
        subtree: bool,
        month: Month,
    ) -> StoreResult<Vec<MetricRow>> {
        let month = month.to_string();
        let scope = if subtree {
            "o.path >= ? AND o.path < ?"
        } else {
            "o.path = ? AND o.path < ?"
        };
        let upper = subtree_upper_bound(path);
        let mut out = Vec::new();
        let counters = sqlx::query(&format!(
            "SELECT c.org_id, o.path, c.metric, c.value FROM consumption_counters c \
             JOIN orgs o ON o.id = c.org_id WHERE {scope} AND c.month = ?"
        ))
        .bind(path)
        .bind(&upper)
        .bind(&month)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        for r in counters {
            out.push(MetricRow {
                org_id: OrgId::from_trusted(r.try_get("org_id").map_err(map_err)?),
                path: r.try_get("path").map_err(map_err)?,
                metric: r.try_get("metric").map_err(map_err)?,
                value: MetricValue::Counter(r.try_get("value").map_err(map_err)?),
            });
        }
        let gauges = sqlx::query(&format!(
            "SELECT g.org_id, o.path, g.gauge, g.month, g.current, g.peak FROM consumption_gauges g \
             JOIN orgs o ON o.id = g.org_id WHERE {scope} AND g.month = ( \
                 SELECT max(g2.month) FROM consumption_gauges g2 \
                 WHERE g2.org_id = g.org_id AND g2.gauge = g.gauge AND g2.month <= ?)"
        ))
        .bind(path)
        .bind(&upper)
        .bind(&month)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?;
        for r in gauges {
            let row_month: String = r.try_get("month").map_err(map_err)?;
            let current: i64 = r.try_get("current").map_err(map_err)?;
            let peak: i64 = if row_month == month {
                r.try_get("peak").map_err(map_err)?
            } else {
                current
            };
            out.push(MetricRow {
                org_id: OrgId::from_trusted(r.try_get("org_id").map_err(map_err)?),
                path: r.try_get("path").map_err(map_err)?,
                metric: r.try_get("gauge").map_err(map_err)?,
                value: MetricValue::Gauge { current, peak },
            });
        }
        Ok(out)
    }
}
