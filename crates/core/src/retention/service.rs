//! Pruning the audit trail past its retention (SPEC §12; who keeps what is
//! [`crate::retention`]). A chain loses its oldest events a bounded batch at
//! a time, each batch in its own transaction under the org's lock, and
//! keeps a signed anchor of the last event removed, from which it is
//! verified from then on. The hold and the retention are read again inside
//! that transaction, so a hold set meanwhile is kept to.

use chrono::{DateTime, Duration, Utc};

use crate::Result;
use crate::checkpoints::PruneAnchor;
use crate::ids::OrgId;
use crate::retention::RetentionPolicy;
use crate::service::Orgd;
use crate::store::Tx;

/// Events removed per transaction.
const PRUNE_BATCH: usize = 1000;

impl Orgd {
    /// Removes every audit event older than its org's retention; returns
    /// how many went.
    pub async fn prune_audit(&self) -> Result<u64> {
        let now = self.now();
        let mut tx = self.store.read().await?;
        let setters = tx.orgs_with_audit_configs().await?;
        let policy = RetentionPolicy::new(&setters);
        // Which chains start with an event past its retention: one index
        // lookup each, in this read snapshot, so that only they take a
        // write transaction.
        let mut due = Vec::new();
        for path in policy.subtrees() {
            for (org, path) in tx.subtree_orgs(path).await? {
                let Some(days) = policy.days_for(&path) else {
                    continue;
                };
                let oldest = tx.oldest_audit_events(&org, 1).await?;
                if oldest
                    .first()
                    .is_some_and(|(_, _, t)| *t < now - Duration::days(days))
                {
                    due.push(org);
                }
            }
        }
        drop(tx);
        let mut removed = 0;
        for org in due {
            removed += self.prune_chain(&org, now).await?;
        }
        Ok(removed)
    }

    /// Prunes one org's chain, batch by batch, while its oldest events are
    /// past its retention.
    async fn prune_chain(&self, org: &OrgId, now: DateTime<Utc>) -> Result<u64> {
        let mut removed = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let Some(record) = tx.lock_org(org).await? else {
                return Ok(removed);
            };
            let Some(before) = retention_cutoff(tx.as_mut(), &record, now).await? else {
                return Ok(removed);
            };
            let oldest = tx.oldest_audit_events(org, PRUNE_BATCH).await?;
            let past = oldest.iter().take_while(|(_, _, t)| *t < before).count();
            let Some((seq, hash, _)) = past.checked_sub(1).map(|i| &oldest[i]) else {
                return Ok(removed);
            };
            let mut anchor = PruneAnchor {
                org_id: org.to_string(),
                seq: *seq,
                hash: hash.clone(),
                pruned_at: crate::time::truncate(now),
                kid: String::new(),
                signature: String::new(),
            };
            anchor.sign(&self.signing_key(tx.as_mut()).await?);
            removed += tx.prune_audit_events(&anchor).await?;
            tx.commit().await?;
            if past < PRUNE_BATCH {
                return Ok(removed);
            }
        }
    }
}

/// Events of `org` older than this are past its retention; `None`: keep
/// them all (no retention, or a legal hold). Read from its lineage in `tx`,
/// by the same rule as the pruner's snapshot ([`RetentionPolicy`]).
async fn retention_cutoff(
    tx: &mut dyn Tx,
    org: &crate::orgs::OrgRecord,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    let lineage = tx.orgs_by_ids(&org.lineage()).await?;
    Ok(RetentionPolicy::new(&lineage)
        .days_for(&org.path)
        .map(|days| now - Duration::days(days)))
}
