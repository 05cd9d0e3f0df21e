//! The access log and consumption: the high-volume tables.
//!
//! Batches go in as one statement over arrays (`UNNEST`), whatever their
//! size: one round trip, and no limit on bound parameters to chunk around.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::access_log::{AccessEntry, AccessEntryRef, AccessFilter, Outcome, Source};
use orgd_core::consumption::{MetricValue, Month};
use orgd_core::ids::OrgId;
use orgd_core::orgs::subtree_upper_bound;
use orgd_core::page::PageRequest;
use orgd_core::store::{
    AccessLogRepo, ConsumptionRepo, CounterDelta, GaugeChange, GaugeRow, MetricRow, StoreError,
    StoreResult,
};
use orgd_core::time::truncate;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, decode_all, fetch_limit, parse_json, prune_front, row_limit};

/// Adds `(org, month, metric, amount)` rows to `table` (`consumption_counters`
/// or `subtree_counters`) in one statement, in the given order (callers sort,
/// so concurrent batches lock shared rows in one order); counters saturate.
/// `existing_orgs_only` drops rows naming no org.
async fn add_to_counters(
    tx: &mut PgTx,
    table: &str,
    existing_orgs_only: bool,
    rows: Vec<(&str, String, &str, i64)>,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (mut orgs, mut months, mut metrics, mut values) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (org, month, metric, value) in rows {
        orgs.push(org);
        months.push(month);
        metrics.push(metric);
        values.push(value);
    }
    let only_existing = if existing_orgs_only {
        "WHERE EXISTS (SELECT 1 FROM orgs o WHERE o.id = d.org_id)"
    } else {
        ""
    };
    sqlx::query(&format!(
        "INSERT INTO {table} (org_id, month, metric, value) \
         SELECT d.org_id, d.month, d.metric, d.value \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY \
         AS d(org_id, month, metric, value, ord) {only_existing} \
         ORDER BY d.ord \
         ON CONFLICT (org_id, month, metric) \
         DO UPDATE SET value = CASE \
         WHEN EXCLUDED.value > 9223372036854775807 - {table}.value \
         THEN 9223372036854775807 ELSE {table}.value + EXCLUDED.value END"
    ))
    .bind(orgs)
    .bind(months)
    .bind(metrics)
    .bind(values)
    .run(&mut tx.tx)
    .await?;
    Ok(())
}

fn parse_month(s: &str) -> StoreResult<Month> {
    Month::parse(s).ok_or_else(|| StoreError::Other(format!("bad stored month {s:?}")))
}

const ACCESS_COLUMNS: &str = "id, org_id, timestamp, user_name, key_id, action, status, http_status, \
     method, path, ip, user_agent, request_id, latency_ms, source, details";

fn entry_from_row(r: &PgRow) -> Result<AccessEntry, Error> {
    let status: String = r.try_get("status")?;
    let source: String = r.try_get("source")?;
    let details: Option<String> = r.try_get("details")?;
    let http_status: Option<i32> = r.try_get("http_status")?;
    Ok(AccessEntry {
        id: r.try_get("id")?,
        timestamp: r.try_get("timestamp")?,
        org_id: r.try_get("org_id")?,
        user: r.try_get("user_name")?,
        key_id: r.try_get("key_id")?,
        action: r.try_get("action")?,
        status: Outcome::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("bad stored status {status}")))?,
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        method: r.try_get("method")?,
        path: r.try_get("path")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        request_id: r.try_get("request_id")?,
        latency_ms: r.try_get("latency_ms")?,
        source: Source::parse(&source)
            .ok_or_else(|| StoreError::Other(format!("bad stored source {source}")))?,
        details: details.as_deref().map(parse_json).transpose()?,
    })
}

#[async_trait]
impl AccessLogRepo for PgTx {
    /// One statement; rows keep the batch's order, so positions follow it.
    async fn insert_access_entries(&mut self, entries: &[AccessEntryRef<'_>]) -> StoreResult<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let text = |f: for<'e> fn(&AccessEntryRef<'e>) -> Option<&'e str>| -> Vec<Option<&str>> {
            entries.iter().map(f).collect()
        };
        let done = sqlx::query(&format!(
            "INSERT INTO access_log ({ACCESS_COLUMNS}) \
             SELECT t.id, t.org_id, t.ts, t.user_name, t.key_id, t.action, t.status, t.http_status, \
             t.method, t.path, t.ip, t.user_agent, t.request_id, t.latency_ms, t.source, t.details \
             FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::integer[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::text[], $14::bigint[], $15::text[], $16::text[]) WITH ORDINALITY \
             AS t(id, org_id, ts, user_name, key_id, action, status, http_status, method, path, \
             ip, user_agent, request_id, latency_ms, source, details, ord) \
             WHERE EXISTS (SELECT 1 FROM orgs o WHERE o.id = t.org_id) \
             ORDER BY t.ord"
        ))
        .bind(text(|e| Some(e.id)))
        .bind(text(|e| Some(e.org_id)))
        .bind(
            entries
                .iter()
                .map(|e| truncate(e.timestamp))
                .collect::<Vec<_>>(),
        )
        .bind(text(|e| e.user))
        .bind(text(|e| e.key_id))
        .bind(text(|e| Some(e.action)))
        .bind(text(|e| Some(e.status.as_str())))
        .bind(
            entries
                .iter()
                .map(|e| e.http_status.map(i32::from))
                .collect::<Vec<_>>(),
        )
        .bind(text(|e| e.method))
        .bind(text(|e| e.path))
        .bind(text(|e| e.ip))
        .bind(text(|e| e.user_agent))
        .bind(text(|e| e.request_id))
        .bind(entries.iter().map(|e| e.latency_ms).collect::<Vec<_>>())
        .bind(text(|e| Some(e.source.as_str())))
        .bind(
            entries
                .iter()
                .map(|e| e.details.map(ToString::to_string))
                .collect::<Vec<_>>(),
        )
        .run(&mut self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn access_entries(
        &mut self,
        org: &OrgId,
        f: &AccessFilter,
        page: &PageRequest<(DateTime<Utc>, i64)>,
    ) -> StoreResult<Vec<(i64, AccessEntry)>> {
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT gid, {ACCESS_COLUMNS} FROM access_log WHERE org_id = "
        ));
        b.push_bind(org.to_string());
        if let Some(start) = f.start {
            b.push(" AND timestamp >= ").push_bind(truncate(start));
        }
        if let Some(end) = f.end {
            b.push(" AND timestamp < ").push_bind(truncate(end));
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
                .push_bind(truncate(t))
                .push(", ")
                .push_bind(gid)
                .push(")");
        }
        b.push(" ORDER BY timestamp DESC, gid DESC LIMIT ")
            .push_bind(fetch_limit(page.limit));
        let rows = b.build().all(&mut self.tx).await?;
        Ok(decode_all(&rows, |r| {
            Ok((r.try_get("gid")?, entry_from_row(r)?))
        })?)
    }

    async fn prune_access_log(&mut self, before: DateTime<Utc>, max_rows: u64) -> StoreResult<u64> {
        let removed = prune_front(
            &mut self.tx,
            "access_log",
            "timestamp",
            before,
            row_limit(max_rows),
        )
        .await?;
        Ok(removed)
    }
}

#[async_trait]
impl ConsumptionRepo for PgTx {
    /// Repeated counters are summed first (one statement may not update a
    /// row twice), and rows go in sorted by key, so two nodes' batches lock
    /// shared counters in the same order and cannot deadlock.
    async fn add_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()> {
        let mut sums: BTreeMap<(&str, String, &str), i64> = BTreeMap::new();
        for d in deltas {
            let sum = sums
                .entry((&d.org_id, d.month.to_string(), &d.metric))
                .or_insert(0);
            // Counters saturate, as the SQL below does.
            *sum = sum.saturating_add(d.amount);
        }
        if sums.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&str, String, &str, i64)> = sums
            .into_iter()
            .map(|((org, month, metric), value)| (org, month, metric, value))
            .collect();
        add_to_counters(self, "consumption_counters", true, rows).await
    }

    async fn claim_usage_key(
        &mut self,
        org: &OrgId,
        key: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO usage_keys (org_id, idempotency_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(org.as_str())
        .bind(key)
        .bind(truncate(at))
        .run(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_usage_keys(&mut self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM usage_keys WHERE created_at < $1")
            .bind(truncate(before))
            .run(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// A month's first row starts its peak from the value carried in from
    /// before. The caller holds the org's lock, so before and after are exact.
    async fn set_gauge(
        &mut self,
        org: &OrgId,
        month: Month,
        gauge: &str,
        current: i64,
    ) -> StoreResult<GaugeChange> {
        let month = month.to_string();
        // The month's row, else the value carried in from before.
        let before: (i64, i64) = sqlx::query_as(
            "SELECT current, CASE WHEN month = $3 THEN peak ELSE current END \
             FROM consumption_gauges WHERE org_id = $1 AND gauge = $2 AND month <= $3 \
             ORDER BY month DESC LIMIT 1",
        )
        .bind(org.as_str())
        .bind(gauge)
        .bind(&month)
        .optional(&mut self.tx)
        .await?
        .unwrap_or((0, 0));
        let after = (current, current.max(before.1));
        sqlx::query(
            "INSERT INTO consumption_gauges (org_id, gauge, month, current, peak) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, gauge, month) DO UPDATE SET current = EXCLUDED.current, \
             peak = EXCLUDED.peak",
        )
        .bind(org.as_str())
        .bind(gauge)
        .bind(&month)
        .bind(after.0)
        .bind(after.1)
        .run(&mut self.tx)
        .await?;
        Ok(GaugeChange { before, after })
    }

    /// One statement, rows in the caller's (sorted) order: concurrent
    /// batches lock shared ancestors' rows in one order.
    async fn add_subtree_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()> {
        let rows = deltas
            .iter()
            .map(|d| {
                (
                    d.org_id.as_str(),
                    d.month.to_string(),
                    d.metric.as_str(),
                    d.amount,
                )
            })
            .collect();
        add_to_counters(self, "subtree_counters", false, rows).await
    }

    async fn subtree_counter_rows(&mut self, org: &OrgId) -> StoreResult<Vec<CounterDelta>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT org_id, month, metric, value FROM subtree_counters WHERE org_id = $1 \
             ORDER BY month, metric",
        )
        .bind(org.as_str())
        .all(&mut self.tx)
        .await?;
        rows.into_iter()
            .map(|(org_id, month, metric, amount)| {
                Ok(CounterDelta {
                    org_id,
                    month: parse_month(&month)?,
                    metric,
                    amount,
                })
            })
            .collect()
    }

    async fn seed_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO subtree_gauges (org_id, gauge, month, current, peak) \
             SELECT $1, $2, $3, COALESCE(c, 0), COALESCE(c, 0) FROM (SELECT ( \
                 SELECT current FROM subtree_gauges \
                  WHERE org_id = $1 AND gauge = $2 AND month < $3 \
                  ORDER BY month DESC LIMIT 1) AS c) s \
             ON CONFLICT (org_id, gauge, month) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(gauge)
        .bind(month.to_string())
        .run(&mut self.tx)
        .await?;
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
        sqlx::query(
            "UPDATE subtree_gauges SET current = current + $1, peak = peak + $2 \
             WHERE org_id = $3 AND gauge = $4 AND month = $5",
        )
        .bind(current)
        .bind(peak)
        .bind(org.as_str())
        .bind(gauge)
        .bind(month.to_string())
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn subtree_gauge_rows(&mut self, org: &OrgId) -> StoreResult<Vec<GaugeRow>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT gauge, month, current, peak FROM subtree_gauges WHERE org_id = $1 \
             ORDER BY gauge, month",
        )
        .bind(org.as_str())
        .all(&mut self.tx)
        .await?;
        rows.into_iter()
            .map(|(gauge, month, current, peak)| {
                Ok(GaugeRow {
                    gauge,
                    month: parse_month(&month)?,
                    current,
                    peak,
                })
            })
            .collect()
    }

    async fn rollups(
        &mut self,
        org: &OrgId,
        children: bool,
        month: Month,
    ) -> StoreResult<Vec<(OrgId, String, MetricValue)>> {
        let month = month.to_string();
        // The orgs whose roll-ups are read: the org, or its direct children.
        let scope = if children {
            "s.org_id IN (SELECT id FROM orgs WHERE parent_id = $1)"
        } else {
            "s.org_id = $1"
        };
        let counters: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT s.org_id, s.metric, s.value FROM subtree_counters s \
             WHERE {scope} AND s.month = $2"
        ))
        .bind(org.as_str())
        .bind(&month)
        .all(&mut self.tx)
        .await?;
        // Each gauge's row of the month, else the latest before it, whose
        // current is carried as the peak too.
        let gauges: Vec<(String, String, String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT DISTINCT ON (s.org_id, s.gauge) s.org_id, s.gauge, s.month, s.current, s.peak \
             FROM subtree_gauges s WHERE {scope} AND s.month <= $2 \
             ORDER BY s.org_id, s.gauge, s.month DESC"
        ))
        .bind(org.as_str())
        .bind(&month)
        .all(&mut self.tx)
        .await?;
        let mut out: Vec<(OrgId, String, MetricValue)> = counters
            .into_iter()
            .map(|(o, metric, v)| (OrgId::from_trusted(o), metric, MetricValue::Counter(v)))
            .collect();
        out.extend(gauges.into_iter().map(|(o, gauge, m, current, peak)| {
            let peak = if m == month { peak } else { current };
            (
                OrgId::from_trusted(o),
                gauge,
                MetricValue::Gauge { current, peak },
            )
        }));
        Ok(out)
    }

    async fn month_metrics(
        &mut self,
        path: &str,
        subtree: bool,
        month: Month,
    ) -> StoreResult<Vec<MetricRow>> {
        let month = month.to_string();
        let scope = if subtree {
            "o.path >= $1 AND o.path < $2"
        } else {
            "o.path = $1 AND o.path < $2"
        };
        let upper = subtree_upper_bound(path);
        let counters: Vec<(String, String, String, i64)> = sqlx::query_as(&format!(
            "SELECT c.org_id, o.path, c.metric, c.value FROM consumption_counters c \
             JOIN orgs o ON o.id = c.org_id WHERE {scope} AND c.month = $3"
        ))
        .bind(path)
        .bind(&upper)
        .bind(&month)
        .all(&mut self.tx)
        .await?;
        let gauges: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT g.org_id, o.path, g.gauge, g.month, g.current, g.peak FROM consumption_gauges g \
             JOIN orgs o ON o.id = g.org_id WHERE {scope} AND g.month = ( \
                 SELECT max(g2.month) FROM consumption_gauges g2 \
                 WHERE g2.org_id = g.org_id AND g2.gauge = g.gauge AND g2.month <= $3)"
        ))
        .bind(path)
        .bind(&upper)
        .bind(&month)
        .all(&mut self.tx)
        .await?;
        let mut out: Vec<MetricRow> = counters
            .into_iter()
            .map(|(org_id, path, metric, value)| MetricRow {
                org_id: OrgId::from_trusted(org_id),
                path,
                metric,
                value: MetricValue::Counter(value),
            })
            .collect();
        out.extend(
            gauges
                .into_iter()
                .map(|(org_id, path, gauge, row_month, current, peak)| {
                    // A month without its own row carries the latest current as its peak.
                    let peak = if row_month == month { peak } else { current };
                    MetricRow {
                        org_id: OrgId::from_trusted(org_id),
                        path,
                        metric: gauge,
                        value: MetricValue::Gauge { current, peak },
                    }
                }),
        );
        Ok(out)
    }
}
