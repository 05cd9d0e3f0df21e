//! Webhook endpoints and their queue of deliveries.
//!
//! Several nodes share the queue. Queuing locks the endpoints it moves
//! forward (`FOR UPDATE SKIP LOCKED`), so two nodes never queue the same
//! events twice; claiming leases deliveries the same way, so a delivery is
//! tried by one node at a time, by another only once the lease expired.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::ids::OrgId;
use orgd_core::page::PageRequest;
use orgd_core::store::{StoreError, StoreResult, WebhookRepo};
use orgd_core::time::truncate;
use orgd_core::webhooks::{DeliveryRecord, DeliveryStatus, WebhookRecord, WebhookScope};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, decode_all, fetch_limit, row_limit};

/// The enabled endpoints of live orgs whose cursor is behind the newest
/// event: what queuing moves forward.
const BEHIND: &str = "FROM webhooks w JOIN orgs o ON o.id = w.org_id \
    WHERE w.enabled AND o.deleted_at IS NULL \
    AND w.cursor < (SELECT coalesce(max(gid), 0) FROM events)";

const WEBHOOK_COLUMNS: &str = "w.id, w.org_id, w.url, w.types, w.scope, w.description, \
     w.enabled, w.secret, w.previous_secret, w.previous_secret_until, w.created_at, \
     w.updated_at, w.cursor, w.failing_since, w.disabled_at";

const DELIVERY_COLUMNS: &str = "d.seq, d.id, d.webhook_id, d.org_id, d.event_id, \
     d.event_type, d.body, d.status, d.attempts, d.created_at, d.next_attempt_at, \
     d.lease_until, d.first_attempt_at, d.last_attempt_at, d.last_status_code, \
     d.last_error, d.delivered_at";

fn webhook_from_row(r: &PgRow) -> Result<WebhookRecord, Error> {
    let scope: String = r.try_get("scope")?;
    let previous: Option<String> = r.try_get("previous_secret")?;
    let until: Option<DateTime<Utc>> = r.try_get("previous_secret_until")?;
    Ok(WebhookRecord {
        id: r.try_get("id")?,
        org_id: OrgId::from_trusted(r.try_get("org_id")?),
        url: r.try_get("url")?,
        types: r.try_get("types")?,
        scope: WebhookScope::parse(&scope)
            .ok_or_else(|| StoreError::Other(format!("bad stored webhook scope {scope:?}")))?,
        description: r.try_get("description")?,
        enabled: r.try_get("enabled")?,
        secret: r.try_get("secret")?,
        previous_secret: previous.zip(until),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        cursor: r.try_get("cursor")?,
        failing_since: r.try_get("failing_since")?,
        disabled_at: r.try_get("disabled_at")?,
    })
}

fn delivery_from_row(r: &PgRow) -> Result<DeliveryRecord, Error> {
    let status: String = r.try_get("status")?;
    Ok(DeliveryRecord {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        org_id: r.try_get("org_id")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        body: r.try_get("body")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("bad stored delivery status {status:?}")))?,
        attempts: r.try_get("attempts")?,
        created_at: r.try_get("created_at")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        lease_until: r.try_get("lease_until")?,
        first_attempt_at: r.try_get("first_attempt_at")?,
        last_attempt_at: r.try_get("last_attempt_at")?,
        last_status_code: r.try_get("last_status_code")?,
        last_error: r.try_get("last_error")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

impl PgTx {
    /// The endpoint `id`, read with `suffix` (a locking clause, or nothing).
    async fn one_webhook(&mut self, id: &str, suffix: &str) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.id = $1{suffix}");
        let row = sqlx::query(&sql).bind(id).optional(&mut self.tx).await?;
        Ok(row.as_ref().map(webhook_from_row).transpose()?)
    }
}

#[async_trait]
impl WebhookRepo for PgTx {
    async fn insert_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()> {
        let (previous, until) = w.previous_secret.clone().unzip();
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, types, scope, description, enabled, secret, \
             previous_secret, previous_secret_until, created_at, updated_at, cursor, \
             failing_since, disabled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&w.id)
        .bind(w.org_id.as_str())
        .bind(&w.url)
        .bind(&w.types)
        .bind(w.scope.as_str())
        .bind(&w.description)
        .bind(w.enabled)
        .bind(&w.secret)
        .bind(previous)
        .bind(until.map(truncate))
        .bind(truncate(w.created_at))
        .bind(truncate(w.updated_at))
        .bind(w.cursor)
        .bind(w.failing_since.map(truncate))
        .bind(w.disabled_at.map(truncate))
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn update_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()> {
        let (previous, until) = w.previous_secret.clone().unzip();
        sqlx::query(
            "UPDATE webhooks SET url = $1, types = $2, scope = $3, description = $4, \
             enabled = $5, secret = $6, previous_secret = $7, previous_secret_until = $8, \
             updated_at = $9, cursor = $10, failing_since = $11, disabled_at = $12 \
             WHERE id = $13",
        )
        .bind(&w.url)
        .bind(&w.types)
        .bind(w.scope.as_str())
        .bind(&w.description)
        .bind(w.enabled)
        .bind(&w.secret)
        .bind(previous)
        .bind(until.map(truncate))
        .bind(truncate(w.updated_at))
        .bind(w.cursor)
        .bind(w.failing_since.map(truncate))
        .bind(w.disabled_at.map(truncate))
        .bind(&w.id)
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn webhook_by_id(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        self.one_webhook(id, "").await
    }

    async fn lock_webhook(&mut self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        self.one_webhook(id, " FOR UPDATE").await
    }

    async fn list_webhooks(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.org_id = $1 AND w.id > $2 \
             ORDER BY w.id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(org.as_str())
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(fetch_limit(page.limit))
            .all(&mut self.tx)
            .await?;
        Ok(decode_all(&rows, webhook_from_row)?)
    }

    async fn delete_webhook(&mut self, org: &OrgId, id: &str) -> StoreResult<bool> {
        // Deliveries first: every path that touches both takes a delivery's
        // row before its endpoint's, so none can deadlock with another.
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id IN \
             (SELECT id FROM webhooks WHERE org_id = $1 AND id = $2)",
        )
        .bind(org.as_str())
        .bind(id)
        .run(&mut self.tx)
        .await?;
        let gone = sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id)
            .run(&mut self.tx)
            .await?
            .rows_affected();
        Ok(gone > 0)
    }

    async fn webhooks_behind(&mut self, n: usize) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} {BEHIND} ORDER BY w.id LIMIT $1 FOR UPDATE OF w SKIP LOCKED"
        );
        let rows = sqlx::query(&sql)
            .bind(row_limit(n))
            .all(&mut self.tx)
            .await?;
        Ok(decode_all(&rows, webhook_from_row)?)
    }

    async fn any_webhook_behind(&mut self) -> StoreResult<bool> {
        let behind = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 {BEHIND})"))
            .one(&mut self.tx)
            .await?;
        Ok(behind)
    }

    async fn any_due_delivery(&mut self, now: DateTime<Utc>) -> StoreResult<bool> {
        let due = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $1)",
        )
        .bind(truncate(now))
        .one(&mut self.tx)
        .await?;
        Ok(due)
    }

    async fn insert_deliveries(&mut self, ds: &[DeliveryRecord]) -> StoreResult<()> {
        // Ten values a delivery; a statement binds at most 65,535.
        for chunk in ds.chunks(1000) {
            let mut b = QueryBuilder::<Postgres>::new(
                "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_id, event_type, \
                 body, status, attempts, created_at, next_attempt_at) ",
            );
            b.push_values(chunk, |mut row, d| {
                row.push_bind(&d.id)
                    .push_bind(&d.webhook_id)
                    .push_bind(&d.org_id)
                    .push_bind(&d.event_id)
                    .push_bind(&d.event_type)
                    .push_bind(&d.body)
                    .push_bind(d.status.as_str())
                    .push_bind(d.attempts)
                    .push_bind(truncate(d.created_at))
                    .push_bind(truncate(d.next_attempt_at));
            });
            b.build().run(&mut self.tx).await?;
        }
        Ok(())
    }

    async fn claim_deliveries(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        n: usize,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "WITH due AS (SELECT d.seq FROM webhook_deliveries d \
               JOIN webhooks w ON w.id = d.webhook_id JOIN orgs o ON o.id = w.org_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
               AND (d.lease_until IS NULL OR d.lease_until <= $1) \
               AND w.enabled AND o.deleted_at IS NULL \
               AND d.seq = (SELECT min(e.seq) FROM webhook_deliveries e \
                   WHERE e.webhook_id = d.webhook_id AND e.org_id = d.org_id \
                   AND e.status = 'pending') \
               ORDER BY d.next_attempt_at, d.seq LIMIT $3 \
               FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries AS d SET lease_until = $2 FROM due \
             WHERE d.seq = due.seq RETURNING {DELIVERY_COLUMNS}"
        );
        let mut claimed = sqlx::query(&sql)
            .bind(truncate(now))
            .bind(truncate(lease_until))
            .bind(row_limit(n))
            .all(&mut self.tx)
            .await?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, Error>>()?;
        claimed.sort_by_key(|d| (d.next_attempt_at, d.seq));
        Ok(claimed)
    }

    async fn delivery(
        &mut self,
        webhook_id: &str,
        id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             WHERE d.webhook_id = $1 AND d.id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(webhook_id)
            .bind(id)
            .optional(&mut self.tx)
            .await?;
        Ok(row.as_ref().map(delivery_from_row).transpose()?)
    }

    async fn update_delivery(&mut self, d: &DeliveryRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
             lease_until = $4, first_attempt_at = $5, last_attempt_at = $6, \
             last_status_code = $7, last_error = $8, delivered_at = $9 WHERE seq = $10",
        )
        .bind(d.status.as_str())
        .bind(d.attempts)
        .bind(truncate(d.next_attempt_at))
        .bind(d.lease_until.map(truncate))
        .bind(d.first_attempt_at.map(truncate))
        .bind(d.last_attempt_at.map(truncate))
        .bind(d.last_status_code)
        .bind(&d.last_error)
        .bind(d.delivered_at.map(truncate))
        .bind(d.seq)
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_deliveries(
        &mut self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest<i64>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.webhook_id = "
        ));
        b.push_bind(webhook_id.to_owned());
        if let Some(after) = page.after {
            b.push(" AND d.seq < ").push_bind(after);
        }
        if let Some(status) = status {
            b.push(" AND d.status = ").push_bind(status.as_str());
        }
        b.push(" ORDER BY d.seq DESC LIMIT ")
            .push_bind(fetch_limit(page.limit));
        let rows = b.build().all(&mut self.tx).await?;
        Ok(decode_all(&rows, delivery_from_row)?)
    }

    async fn oldest_pending_delivery(&mut self) -> StoreResult<Option<DateTime<Utc>>> {
        let oldest = sqlx::query_scalar(
            "SELECT min(d.created_at) FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id JOIN orgs o ON o.id = w.org_id \
             WHERE d.status = 'pending' AND w.enabled AND o.deleted_at IS NULL",
        )
        .one(&mut self.tx)
        .await?;
        Ok(oldest)
    }

    async fn prune_deliveries(&mut self, before: DateTime<Utc>, n: usize) -> StoreResult<u64> {
        // Among the oldest `n` finished ones, those old enough: a pending
        // delivery is kept whatever its age, unless its endpoint is gone
        // (deleted while it was being queued).
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM \
             (SELECT seq, created_at FROM webhook_deliveries d WHERE d.status <> 'pending' \
              OR NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id) \
              ORDER BY seq LIMIT $2) AS front WHERE created_at < $1)",
        )
        .bind(truncate(before))
        .bind(row_limit(n))
        .run(&mut self.tx)
        .await?;
        Ok(done.rows_affected())
    }
}
