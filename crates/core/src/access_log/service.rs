//! The access log: reading an org's entries, and the platform's own events
//! (`POST …/access_log`). The API's own entries arrive through `consumption/traffic.rs`.

use crate::access_log::{AccessEntry, AccessFilter, ExternalEvent, parse_external};
use crate::api_keys::Permission;
use crate::authz::Principal;
use crate::ids::OrgId;
use crate::page::{Page, PageRequest, paginate};
use crate::service::Orgd;
use crate::service::reach::{path_org_id, reach_org};
use crate::{Error, Result};

impl Orgd {
    pub async fn access_log(
        &self,
        who: &Principal,
        org_id: &str,
        filter: AccessFilter,
        page: PageRequest<(chrono::DateTime<chrono::Utc>, i64)>,
    ) -> Result<Page<AccessEntry>> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let limit = page.limit;
        let rows = tx.access_entries(&org.id, &filter, &page).await?;
        let page = paginate(rows, limit, |(gid, e)| {
            crate::page::encode_time_cursor(e.timestamp, *gid)
        });
        Ok(Page {
            items: page.items.into_iter().map(|(_, e)| e).collect(),
            next: page.next,
        })
    }

    /// `POST …/access_log`: the platform's own events (sign-ins and the like),
    /// stored before the call is answered.
    pub async fn ingest_access_events(
        &self,
        who: &Principal,
        org_id: &str,
        events: Vec<ExternalEvent>,
    ) -> Result<usize> {
        let org_id = path_org_id(org_id)?;
        let entries =
            parse_external(org_id.as_str(), events, self.now()).map_err(Error::Validation)?;
        let mut tx = self.store.begin().await?;
        reach_org(tx.as_mut(), who, &org_id, Permission::Write).await?;
        let refs: Vec<_> = entries.iter().map(AccessEntry::to_ref).collect();
        let n = tx.insert_access_entries(&refs).await?;
        tx.commit().await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Whether `who` reaches the org `org_id` as last committed: whether a
    /// request of theirs that the org's log records may name them there.
    /// A caller that does not reach the org is logged in it as an unknown
    /// one, like a bad key (SPEC §5): the org's log must not show who probed
    /// it from outside. `false` when it cannot be told (a database error),
    /// so a doubt leaves the caller out.
    pub async fn reaches(&self, who: &Principal, org_id: &str) -> bool {
        let Ok(id) = OrgId::parse(org_id) else {
            return false;
        };
        matches!(self.org_record(&id).await, Ok(Some(org)) if who.reaches(&org))
    }
}
