//! [`Change`]: one write transaction, the audit events it appends, the
//! outbox events it writes, and the cache evictions it makes when it
//! commits. Every mutation of orgd goes through one.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Caches, Orgd, Origin};
use crate::Result;
use crate::api_keys::Permissions;
use crate::audit::{Actor, AuditEvent, GENESIS_HASH, Target};
use crate::authz::Principal;
use crate::events::{Event, NewEvent};
use crate::ids::{OrgId, prefixed_ulid};
use crate::limits::Limit;
use crate::orgs::OrgRecord;
use crate::store::{Invalidation, Tx};

impl Orgd {
    pub(crate) async fn change<'a>(
        &'a self,
        who: &Principal,
        origin: &'a Origin,
    ) -> Result<Change<'a>> {
        Ok(Change {
            tx: self.store.begin().await?,
            actor: who.actor(),
            origin,
            now: self.now(),
            caches: &self.caches,
            stale: None,
            events: Vec::new(),
            feed: &self.feed,
        })
    }

    /// Writes the org (locked in `c`) as changed: one version step.
    pub(crate) async fn bump(&self, c: &mut Change<'_>, org: &mut OrgRecord) -> Result<()> {
        org.version += 1;
        org.updated_at = c.now;
        c.tx.update_org(org).await?;
        Ok(())
    }
}

/// One write transaction and the audit events it commits with.
pub(crate) struct Change<'a> {
    pub(crate) tx: Box<dyn Tx>,
    pub(crate) actor: Actor,
    pub(crate) origin: &'a Origin,
    pub(crate) now: DateTime<Utc>,
    pub(crate) caches: &'a Caches,
    /// What the change makes stale, gathered as its events are recorded:
    /// every change to an org's state is recorded, so none is missed.
    pub(crate) stale: Option<Invalidation>,
    /// The events of the change, written just before it commits (the outbox).
    pub(crate) events: Vec<NewEvent>,
    pub(crate) feed: &'a crate::events::feed::Feed,
}

impl Change<'_> {
    /// Appends an event to `org`'s chain. The caller holds `org`'s lock
    /// ([`crate::store::OrgRepo::lock_org`]), so the head cannot move under it.
    pub(crate) async fn record(
        &mut self,
        org: &OrgRecord,
        action: &str,
        target: Target,
        before: Value,
        after: Value,
    ) -> Result<()> {
        let (seq, prev_hash) = match self.tx.audit_head(&org.id).await? {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut event = AuditEvent {
            id: prefixed_ulid("evt"),
            seq,
            timestamp: self.now,
            org_id: org.id.to_string(),
            actor: self.actor.clone(),
            action: action.to_owned(),
            target,
            changes: serde_json::json!({ "before": before, "after": after }),
            request_id: self.origin.request_id.clone(),
            ip: self.origin.ip.clone(),
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        self.tx.insert_audit_event(&event).await?;
        self.events.push(NewEvent::of_audit(&event, org)?);
        self.mark_stale(&org.id, action);
        Ok(())
    }

    /// The `limit.threshold` events of `org`'s usage of `what` going from
    /// `used` to `used + 1` against its effective `limit`.
    pub(crate) fn note_usage(
        &mut self,
        org: &OrgRecord,
        what: &Limit,
        limit: i64,
        used: i64,
    ) -> Result<()> {
        for threshold in crate::events::crossed(limit, used, used + 1) {
            let event = Event::threshold(&org.id, what.name, limit, used + 1, threshold, self.now);
            self.events.push(event.stored(org)?);
        }
        Ok(())
    }

    /// Locks the org for this change, if the caller reaches it and holds
    /// `perm` there (the write side of [`crate::service::reach::reach_org`]).
    pub(crate) async fn lock_org(
        &mut self,
        who: &Principal,
        id: &OrgId,
        perm: impl Into<Permissions>,
    ) -> Result<OrgRecord> {
        who.reach_as(self.tx.lock_org(id).await?, perm)
    }

    pub(crate) fn mark_stale(&mut self, org: &OrgId, action: &str) {
        // A move rewrites the paths of a whole subtree; a delete may end one.
        let whole_tree = matches!(action, "org.move" | "org.delete");
        self.stale = match self.stale.take() {
            Some(Invalidation::All) => Some(Invalidation::All),
            _ if whole_tree => Some(Invalidation::All),
            Some(Invalidation::Orgs(mut ids)) => {
                if !ids.contains(org) {
                    ids.push(org.clone());
                }
                Some(Invalidation::Orgs(ids))
            }
            None => Some(Invalidation::Orgs(vec![org.clone()])),
        };
    }

    /// Commits, then evicts what the change made stale: a read on this node
    /// that follows the answer sees the change.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let news = !self.events.is_empty();
        self.tx
            .insert_outbox_events(std::mem::take(&mut self.events))
            .await?;
        if let Some(what) = &self.stale {
            self.tx.publish_invalidation(what).await?;
        }
        let committed = self.tx.commit().await;
        // Evicted even when the commit failed: its answer may have been lost
        // after it committed, and this node's listener skips the
        // invalidation it published, so nothing else would evict it here.
        // Evicting too much costs only a read.
        if let Some(what) = &self.stale {
            self.caches.invalidate(what);
        }
        committed?;
        if news {
            self.feed.arrived();
        }
        Ok(())
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
