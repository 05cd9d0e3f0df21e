//! The delivery queue: events become deliveries (queuing), deliveries are
//! leased to a node (claiming), and each attempt is written back (finishing).
//! Sending is the server's (`deliverer`), which calls these in a loop.
//!
//! Queuing follows each endpoint's cursor through the event feed, so the
//! write path of a change is not touched: the outbox is all it writes.
//!
//! Locks are always taken in one order, an org before a delivery before an
//! endpoint, so no two of these paths (or the management routes) deadlock.

use std::collections::HashMap;

use crate::Result;
use crate::audit::{Actor, Target};
use crate::authz::Principal;
use crate::service::change::json;
use crate::service::{Orgd, Origin};
use crate::webhooks::{Attempt, DeliveryRecord, DeliveryStatus, GIVE_UP_AFTER, LEASE};

/// Endpoints moved forward in one queuing transaction, and events read for
/// each: bounds how long the single writer (SQLite) is held.
const QUEUE_ENDPOINTS: usize = 100;
const QUEUE_EVENTS: usize = 1000;

/// A delivery this node holds the lease of, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: DeliveryRecord,
    pub url: String,
    /// The secrets that sign it now (two while a rotation overlaps).
    pub secrets: Vec<String>,
}

impl Orgd {
    /// Queues the events that endpoints have not yet queued. Returns how many
    /// endpoints moved forward: while some did, there may be more to do.
    pub async fn queue_deliveries(&self) -> Result<usize> {
        // The deliverer asks after every burst of commits. Mostly there is
        // nothing to queue, and a read, unlike a write transaction, does not
        // take SQLite's single writer from the changes it follows.
        if !self.store.read().await?.any_webhook_behind().await? {
            return Ok(0);
        }
        let mut tx = self.store.begin().await?;
        let behind = tx.webhooks_behind(QUEUE_ENDPOINTS).await?;
        if behind.is_empty() {
            return Ok(0);
        }
        // Positions commit in order (see the stores' `events`): every event
        // up to `head` is committed and visible to the reads that follow.
        let head = tx.last_event_position().await?;
        let now = self.now();
        let moved = behind.len();
        for mut w in behind {
            let Some(org) = tx.org(&w.org_id).await? else {
                continue;
            };
            let rows = tx
                .events_after(&w.filter(&org), w.cursor, QUEUE_EVENTS)
                .await?;
            let ds = rows
                .iter()
                .map(|(_, body)| DeliveryRecord::of_event(&w.id, body, now))
                .collect::<Result<Vec<_>>>()?;
            tx.insert_deliveries(&ds).await?;
            let last = rows.last().map_or(w.cursor, |(gid, _)| *gid);
            w.cursor = if rows.len() == QUEUE_EVENTS {
                last
            } else {
                last.max(head)
            };
            tx.update_webhook(&w).await?;
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// Leases up to `limit` due deliveries to this node for [`LEASE`].
    pub async fn claim_deliveries(&self, limit: usize) -> Result<Vec<Claimed>> {
        let now = self.now();
        // As the store keeps it, so `finish_delivery` recognises its lease.
        let lease = crate::time::truncate(now + LEASE);
        // As for queuing: only a queue with something in it is worth the
        // writer.
        if !self.store.read().await?.any_due_delivery(now).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.store.begin().await?;
        let ds = tx.claim_deliveries(now, lease, limit).await?;
        let mut hooks = HashMap::new();
        let mut claimed = Vec::with_capacity(ds.len());
        for delivery in ds {
            if !hooks.contains_key(&delivery.webhook_id) {
                let w = tx.webhook_by_id(&delivery.webhook_id).await?;
                hooks.insert(delivery.webhook_id.clone(), w);
            }
            let Some(Some(w)) = hooks.get(&delivery.webhook_id) else {
                continue;
            };
            claimed.push(Claimed {
                url: w.url.clone(),
                secrets: w
                    .signing_secrets(now)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                delivery,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Writes how an attempt of a claimed delivery went. When the lease was
    /// lost meanwhile (it expired and another node took the delivery, or an
    /// operator retried it), the other party's record stands.
    ///
    /// An endpoint that has failed for [`GIVE_UP_AFTER`] without a success is
    /// disabled, and a `webhook.disabled` event tells its org.
    ///
    /// Returns the delivery's status after the attempt, or `None` when the
    /// lease was lost.
    pub async fn finish_delivery(
        &self,
        claimed: &DeliveryRecord,
        attempt: &Attempt,
    ) -> Result<Option<DeliveryStatus>> {
        let now = self.now();
        let origin = Origin::default();
        let mut c = self.change(&self.deliverer(), &origin).await?;
        c.actor = Actor {
            key_id: None,
            user: Some("orgd".into()),
        };
        let Some(w) = c.tx.webhook_by_id(&claimed.webhook_id).await? else {
            return Ok(None);
        };
        let failed = matches!(attempt, Attempt::Failed { .. });
        let disabling = failed
            && w.enabled
            && w.failing_since
                .is_some_and(|since| now - since >= GIVE_UP_AFTER);
        // The org first, when the endpoint's state will be audited.
        let org = if disabling {
            c.tx.lock_org(&w.org_id).await?
        } else {
            None
        };
        let Some(mut d) = c.tx.delivery(&claimed.webhook_id, &claimed.id).await? else {
            return Ok(None);
        };
        if d.status != DeliveryStatus::Pending || d.lease_until != claimed.lease_until {
            return Ok(None);
        }
        d.attempted(attempt, now);
        c.tx.update_delivery(&d).await?;

        let Some(mut w) = c.tx.lock_webhook(&claimed.webhook_id).await? else {
            c.commit().await?;
            return Ok(Some(d.status));
        };
        let before = w.view(now);
        let failing_since = if failed {
            Some(w.failing_since.unwrap_or(now))
        } else {
            None
        };
        let changed = failing_since != w.failing_since;
        w.failing_since = failing_since;
        // Decided again on the locked endpoint: a success that committed
        // since the first read has cleared `failing_since`.
        let still_failing = failing_since.is_some_and(|since| now - since >= GIVE_UP_AFTER);
        match org {
            Some(org) if org.is_live() && w.enabled && still_failing => {
                w.enabled = false;
                w.disabled_at = Some(now);
                w.updated_at = now;
                c.tx.update_webhook(&w).await?;
                let after = w.view(now);
                c.record(
                    &org,
                    "webhook.disabled",
                    Target::webhook(&w.id),
                    json(&before),
                    json(&after),
                )
                .await?;
            }
            _ if changed => c.tx.update_webhook(&w).await?,
            _ => {}
        }
        c.commit().await?;
        Ok(Some(d.status))
    }

    /// How long the oldest pending delivery of an enabled endpoint has
    /// waited: the queue's lag.
    pub async fn delivery_lag(&self) -> Result<Option<chrono::TimeDelta>> {
        let mut tx = self.store.read().await?;
        let oldest = tx.oldest_pending_delivery().await?;
        Ok(oldest.map(|t| (self.now() - t).max(chrono::TimeDelta::zero())))
    }

    /// Who the deliverer acts as: the operator of the root.
    fn deliverer(&self) -> Principal {
        Principal::operator(self.settings.root_id.clone())
    }
}
