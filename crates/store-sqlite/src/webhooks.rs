//! Webhook endpoints and their queue of deliveries. SQLite has one writer,
//! so a claim cannot race another: leases only matter after a restart, when
//! a delivery claimed before a crash waits for its lease to expire.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::ids::OrgId;
use orgd_core::page::PageRequest;
use orgd_core::store::{StoreError, StoreResult, WebhookRepo};
use orgd_core::webhooks::{DeliveryRecord, DeliveryStatus, WebhookRecord, WebhookScope};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{Query, count, execute, fetch_limit, parse_opt_ts, parse_ts, row, rows, ts};

const WEBHOOK_COLUMNS: &str = "w.id, w.org_id, w.url, w.types, w.scope, w.description, \
     w.enabled, w.secret, w.previous_secret, w.previous_secret_until, w.created_at, \
     w.updated_at, w.cursor, w.failing_since, w.disabled_at";

/// The enabled endpoints of live orgs whose cursor is behind the newest
/// event: what queuing moves forward.
const BEHIND: &str = "FROM webhooks w JOIN orgs o ON o.id = w.org_id \
    WHERE w.enabled AND o.deleted_at IS NULL \
    AND w.cursor < (SELECT coalesce(max(gid), 0) FROM events)";

const DELIVERY_COLUMNS: &str = "d.seq, d.id, d.webhook_id, d.org_id, d.event_id, \
     d.event_type, d.body, d.status, d.attempts, d.created_at, d.next_attempt_at, \
     d.lease_until, d.first_attempt_at, d.last_attempt_at, d.last_status_code, \
     d.last_error, d.delivered_at";

fn webhook_from_row(r: &Row<'_>) -> Result<WebhookRecord, Error> {
    let bad = |what: &str| Error::from(StoreError::Other(format!("bad stored webhook {what}")));
    let types: String = r.get("types")?;
    let scope: String = r.get("scope")?;
    let previous: Option<String> = r.get("previous_secret")?;
    let until = parse_opt_ts(r.get("previous_secret_until")?)?;
    Ok(WebhookRecord {
        id: r.get("id")?,
        org_id: OrgId::from_trusted(r.get("org_id")?),
        url: r.get("url")?,
        types: serde_json::from_str(&types).map_err(|_| bad("types"))?,
        scope: WebhookScope::parse(&scope).ok_or_else(|| bad("scope"))?,
        description: r.get("description")?,
        enabled: r.get("enabled")?,
        secret: r.get("secret")?,
        previous_secret: previous.zip(until),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
        cursor: r.get("cursor")?,
        failing_since: parse_opt_ts(r.get("failing_since")?)?,
        disabled_at: parse_opt_ts(r.get("disabled_at")?)?,
    })
}

fn delivery_from_row(r: &Row<'_>) -> Result<DeliveryRecord, Error> {
    let status: String = r.get("status")?;
    Ok(DeliveryRecord {
        seq: r.get("seq")?,
        id: r.get("id")?,
        webhook_id: r.get("webhook_id")?,
        org_id: r.get("org_id")?,
        event_id: r.get("event_id")?,
        event_type: r.get("event_type")?,
        body: r.get("body")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("bad stored delivery status {status:?}")))?,
        attempts: r.get("attempts")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        next_attempt_at: parse_ts(&r.get::<_, String>("next_attempt_at")?)?,
        lease_until: parse_opt_ts(r.get("lease_until")?)?,
        first_attempt_at: parse_opt_ts(r.get("first_attempt_at")?)?,
        last_attempt_at: parse_opt_ts(r.get("last_attempt_at")?)?,
        last_status_code: r.get("last_status_code")?,
        last_error: r.get("last_error")?,
        delivered_at: parse_opt_ts(r.get("delivered_at")?)?,
    })
}

fn types_json(w: &WebhookRecord) -> String {
    serde_json::Value::from(w.types.clone()).to_string()
}

#[async_trait]
impl WebhookRepo for SqliteTx {
    async fn insert_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()> {
        let (previous, until) = w.previous_secret.clone().unzip();
        execute(
            self.conn()?,
            "INSERT INTO webhooks (id, org_id, url, types, scope, description, enabled, secret, \
             previous_secret, previous_secret_until, created_at, updated_at, cursor, \
             failing_since, disabled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                w.id,
                w.org_id.as_str(),
                w.url,
                types_json(w),
                w.scope.as_str(),
                w.description,
                w.enabled,
                w.secret,
                previous,
                until.map(ts),
                ts(w.created_at),
                ts(w.updated_at),
                w.cursor,
                w.failing_since.map(ts),
                w.disabled_at.map(ts),
            ],
        )?;
        Ok(())
    }

    async fn update_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()> {
        let (previous, until) = w.previous_secret.clone().unzip();
        execute(
            self.conn()?,
            "UPDATE webhooks SET url = ?, types = ?, scope = ?, description = ?, enabled = ?, \
             secret = ?, previous_secret = ?, previous_secret_until = ?, updated_at = ?, \
             cursor = ?, failing_since = ?, disabled_at = ? WHERE id = ?",
            params![
                w.url,
                types_json(w),
                w.scope.as_str(),
                w.description,
                w.enabled,
                w.secret,
                previous,
                until.map(ts),
                ts(w.updated_at),
                w.cursor,
                w.failing_since.map(ts),
                w.disabled_at.map(ts),
                w.id,
            ],
        )?;
        Ok(())
    }

    async fn webhook_by_id(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.id = ?");
        Ok(row(self.conn()?, &sql, params![id], webhook_from_row)?)
    }

    async fn lock_webhook(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        // One writer at a time: a write transaction's reads are locked.
        self.webhook_by_id(id).await
    }

    async fn list_webhooks(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.org_id = ? AND w.id > ? \
             ORDER BY w.id LIMIT ?"
        );
        Ok(rows(
            self.conn()?,
            &sql,
            params![
                org.as_str(),
                page.after.as_deref().unwrap_or(""),
                fetch_limit(page.limit)
            ],
            webhook_from_row,
        )?)
    }

    async fn delete_webhook(&mut self, org: &OrgId, id: &str) -> StoreResult<bool> {
        // Deliveries first: every path that touches both takes a delivery's
        // row before its endpoint's (PostgreSQL would otherwise deadlock).
        let conn = self.conn()?;
        execute(
            conn,
            "DELETE FROM webhook_deliveries WHERE webhook_id IN \
             (SELECT id FROM webhooks WHERE org_id = ? AND id = ?)",
            params![org.as_str(), id],
        )?;
        let gone = execute(
            conn,
            "DELETE FROM webhooks WHERE org_id = ? AND id = ?",
            params![org.as_str(), id],
        )?;
        Ok(gone > 0)
    }

    async fn webhooks_behind(&mut self, limit: usize) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} {BEHIND} ORDER BY w.id LIMIT ?");
        Ok(rows(
            self.conn()?,
            &sql,
            params![i64::try_from(limit).unwrap_or(i64::MAX)],
            webhook_from_row,
        )?)
    }

    async fn any_webhook_behind(&mut self) -> StoreResult<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 {BEHIND})");
        Ok(count(self.conn()?, &sql, [])? == 1)
    }

    async fn any_due_delivery(&mut self, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(count(
            self.conn()?,
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= ?)",
            params![ts(now)],
        )? == 1)
    }

    async fn insert_deliveries(&mut self, ds: &[DeliveryRecord]) -> StoreResult<()> {
        let conn = self.conn()?;
        for d in ds {
            execute(
                conn,
                "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, event_type, \
                 body, status, attempts, created_at, next_attempt_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    d.id,
                    d.webhook_id,
                    d.org_id,
                    d.event_id,
                    d.event_type,
                    d.body,
                    d.status.as_str(),
                    d.attempts,
                    ts(d.created_at),
                    ts(d.next_attempt_at),
                ],
            )?;
        }
        Ok(())
    }

    async fn claim_deliveries(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let conn = self.conn()?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id JOIN orgs o ON o.id = w.org_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 \
             AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
             AND w.enabled AND o.deleted_at IS NULL \
             AND d.seq = (SELECT min(e.seq) FROM webhook_deliveries e \
                 WHERE e.webhook_id = d.webhook_id AND e.org_id = d.org_id \
                 AND e.status = 'pending') \
             ORDER BY d.next_attempt_at, d.seq LIMIT ?2"
        );
        let mut claimed = rows(
            conn,
            &sql,
            params![ts(now), i64::try_from(limit).unwrap_or(i64::MAX)],
            delivery_from_row,
        )?;
        for d in &mut claimed {
            d.lease_until = Some(lease_until);
            execute(
                conn,
                "UPDATE webhook_deliveries SET lease_until = ? WHERE seq = ?",
                params![ts(lease_until), d.seq],
            )?;
        }
        Ok(claimed)
    }

    async fn delivery(
        &mut self,
        webhook_id: &str,
        id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             WHERE d.webhook_id = ? AND d.id = ?"
        );
        Ok(row(
            self.conn()?,
            &sql,
            params![webhook_id, id],
            delivery_from_row,
        )?)
    }

    async fn update_delivery(&mut self, d: &DeliveryRecord) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, \
             lease_until = ?, first_attempt_at = ?, last_attempt_at = ?, last_status_code = ?, \
             last_error = ?, delivered_at = ? WHERE seq = ?",
            params![
                d.status.as_str(),
                d.attempts,
                ts(d.next_attempt_at),
                d.lease_until.map(ts),
                d.first_attempt_at.map(ts),
                d.last_attempt_at.map(ts),
                d.last_status_code,
                d.last_error,
                d.delivered_at.map(ts),
                d.seq,
            ],
        )?;
        Ok(())
    }

    async fn list_deliveries(
        &mut self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut q = Query::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.webhook_id = "
        ));
        q.bind(webhook_id.to_owned());
        if let Some(after) = page.after {
            q.push(" AND d.seq < ").bind(after);
        }
        if let Some(status) = status {
            q.push(" AND d.status = ").bind(status.as_str().to_owned());
        }
        q.push(" ORDER BY d.seq DESC LIMIT ")
            .bind(fetch_limit(page.limit));
        Ok(q.rows(self.conn()?, delivery_from_row)?)
    }

    async fn oldest_pending_delivery(&mut self) -> StoreResult<Option<DateTime<Utc>>> {
        let oldest: Option<String> = row(
            self.conn()?,
            "SELECT min(d.created_at) FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id JOIN orgs o ON o.id = w.org_id \
             WHERE d.status = 'pending' AND w.enabled AND o.deleted_at IS NULL",
            [],
            |r| Ok(r.get(0)?),
        )?
        .flatten();
        Ok(parse_opt_ts(oldest)?)
    }

    async fn prune_deliveries(&mut self, before: DateTime<Utc>, limit: usize) -> StoreResult<u64> {
        // Among the oldest `limit` finished ones, those old enough: a
        // pending delivery is kept whatever its age, unless its endpoint is
        // gone (deleted while it was being queued).
        Ok(execute(
            self.conn()?,
            "DELETE FROM webhook_deliveries WHERE seq IN \
             (SELECT seq FROM webhook_deliveries d WHERE d.status <> 'pending' \
             OR NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id) \
             ORDER BY seq LIMIT ?) \
             AND created_at < ?",
            params![i64::try_from(limit).unwrap_or(i64::MAX), ts(before)],
        )?)
    }
}
