//! The enforcement of all five limits, and their report.
//!
//! Every create that a limit bounds runs [`Orgd::ensure_room`] inside its
//! write transaction, after taking the lock of the org that would hold the
//! new item: the count it reads cannot change before the insert commits, so
//! N simultaneous creates against a limit L leave exactly min(N, L).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Change, Orgd};
use crate::authz::Principal;
use crate::ids::OrgId;
use crate::keys::Permission;
use crate::limits::{self, LimitStatus, Limited};
use crate::org::OrgRecord;
use crate::store::Tx;
use crate::{Error, Result};

impl Orgd {
    /// The org and its ancestors, root first, read in the write transaction
    /// (what a limit check decides on).
    pub(super) async fn lineage(tx: &mut dyn Tx, org: &OrgRecord) -> Result<Vec<OrgRecord>> {
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
        what: Limited,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        Ok(match what {
            Limited::Resource(kind) => tx.count_resources(&org.id, kind).await?,
            Limited::Children => tx.count_live_children(&org.id).await?,
            Limited::ApiKeys => tx.count_live_keys(&org.id, now).await?,
        })
    }

    /// Refuses one more `what` for `org` when its effective limit is reached;
    /// otherwise notes the `limit.threshold` events the one more crosses.
    /// The caller holds `org`'s lock in `c`, and inserts in the same
    /// transaction. Returns how many the org held before.
    pub(super) async fn ensure_room(
        &self,
        c: &mut Change<'_>,
        org: &OrgRecord,
        what: Limited,
    ) -> Result<i64> {
        let used = Self::used(c.tx.as_mut(), org, what, c.now).await?;
        let lineage = Self::lineage(c.tx.as_mut(), org).await?;
        match limits::effective(&lineage, what.config_key()) {
            Some((limit, source)) if used >= limit => Err(Error::LimitExceeded {
                resource: what,
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
        for what in Limited::ALL {
            let used = Self::used(tx.as_mut(), &org, what, now).await?;
            let limit = limits::effective(&lineage, what.config_key());
            out.insert(what.name(), LimitStatus::new(limit, used));
        }
        Ok(out)
    }
}
