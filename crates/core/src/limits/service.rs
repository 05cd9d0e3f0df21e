//! The enforcement of every limit of [`crate::limits::LIMITS`], and their
//! report.
//!
//! Every create that a limit bounds runs [`Orgd::ensure_room`] inside its
//! write transaction, after taking the lock of the org that would hold the
//! new item: the count it reads cannot change before the insert commits, so
//! N simultaneous creates against a limit L leave exactly min(N, L).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::api_keys::Permission;
use crate::authz::Principal;
use crate::ids::OrgId;
use crate::limits::{Count, LIMITS, Limit, LimitStatus};
use crate::orgs::{OrgRecord, effective_config};
use crate::service::Orgd;
use crate::service::change::Change;
use crate::store::Tx;
use crate::{Error, Result};

impl Orgd {
    /// The org and its ancestors, root first, read in the write transaction
    /// (what a limit check decides on).
    async fn lineage(tx: &mut dyn Tx, org: &OrgRecord) -> Result<Vec<OrgRecord>> {
        let ids = org.lineage();
        let mut found: BTreeMap<OrgId, OrgRecord> = tx
            .orgs_by_ids(&ids)
            .await?
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        ids.iter()
            .map(|id| {
                found
                    .remove(id)
                    .ok_or_else(|| Error::Internal(format!("ancestor {id} is missing")))
            })
            .collect()
    }

    /// How many of `what` the org holds now.
    async fn used(
        tx: &mut dyn Tx,
        org: &OrgRecord,
        what: Count,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        Ok(match what {
            Count::Items(kind) => tx.count_resources(&org.id, kind).await?,
            Count::LiveChildren => tx.count_live_children(&org.id).await?,
            Count::LiveKeys => tx.count_live_keys(&org.id, now).await?,
        })
    }

    /// Refuses one more `what` for `org` when its effective limit is reached;
    /// otherwise notes the `limit.threshold` events the one more crosses.
    /// The caller holds `org`'s lock in `c`, and inserts in the same
    /// transaction. Returns how many the org held before.
    pub(crate) async fn ensure_room(
        &self,
        c: &mut Change<'_>,
        org: &OrgRecord,
        what: Count,
    ) -> Result<i64> {
        let what = Limit::of(what)
            .ok_or_else(|| Error::Internal(format!("{what:?} has no row in LIMITS")))?;
        let used = Self::used(c.tx.as_mut(), org, what.count, c.now).await?;
        let lineage = Self::lineage(c.tx.as_mut(), org).await?;
        match bound(&lineage, what) {
            Some((limit, source)) if used >= limit => Err(Error::LimitExceeded {
                resource: what.name,
                limit,
                used,
                set_by: source.to_string(),
            }),
            Some((limit, _)) => {
                c.note_usage(org, what, limit, used)?;
                Ok(used)
            }
            None => Ok(used),
        }
    }

    /// Every limit of the org: its effective value, where it comes from, and
    /// how much of it is used.
    pub async fn limits(
        &self,
        who: &Principal,
        org_id: &str,
    ) -> Result<BTreeMap<&'static str, LimitStatus>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        let lineage = self.lineage_of(&org).await?;
        let mut tx = self.store.read().await?;
        let now = self.now();
        let mut out = BTreeMap::new();
        for what in LIMITS {
            let used = Self::used(tx.as_mut(), &org, what.count, now).await?;
            out.insert(what.name, LimitStatus::new(bound(&lineage, what), used));
        }
        Ok(out)
    }
}

/// The limit on `what` that governs the last org of `lineage`, with the org
/// that sets it.
fn bound<'a, O: std::borrow::Borrow<OrgRecord>>(
    lineage: &'a [O],
    what: &Limit,
) -> Option<(i64, &'a OrgId)> {
    crate::configs::spec(what.config_key).and_then(|spec| effective_config(lineage, spec))
}
