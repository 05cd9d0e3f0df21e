//! Reach: which org a caller may see or act on. An org is read from memory
//! when it can be (the org cache), its lineage likewise, and every read of
//! one org starts with [`reach_org`] or [`Orgd::read_org`].

use std::sync::Arc;

use super::Orgd;
use crate::api_keys::Permissions;
use crate::authz::Principal;
use crate::ids::OrgId;
use crate::orgs::OrgRecord;
use crate::store::Tx;
use crate::{Error, Result};

impl Orgd {
    /// A read transaction and the org `org_id` (from the path) in it, if
    /// the caller reaches it and holds `perm` there: the preamble of every
    /// read that needs more of the store than the org itself.
    pub(crate) async fn read_in(
        &self,
        who: &Principal,
        org_id: &str,
        perm: impl Into<Permissions>,
    ) -> Result<(Box<dyn Tx>, OrgRecord)> {
        let id = path_org_id(org_id)?;
        let mut tx = self.store.read().await?;
        let org = reach_org(tx.as_mut(), who, &id, perm).await?;
        Ok((tx, org))
    }

    /// The org with this id as last committed, from memory when it can be;
    /// `None` when no such org ever existed. Tombstones are returned, so
    /// callers decide reach as with a database read.
    pub(crate) async fn org_record(&self, id: &OrgId) -> Result<Option<Arc<OrgRecord>>> {
        if let Some(org) = self.caches.orgs.get(id) {
            return Ok(Some(org));
        }
        let generation = self.caches.orgs.generation();
        let mut tx = self.store.read().await?;
        let Some(org) = tx.org(id).await? else {
            return Ok(None);
        };
        let org = Arc::new(org);
        self.caches.orgs.put(org.clone(), generation);
        Ok(Some(org))
    }

    /// The org and its ancestors, root first, from memory when it can be.
    pub(crate) async fn lineage_of(&self, org: &OrgRecord) -> Result<Vec<Arc<OrgRecord>>> {
        let ids = org.lineage();
        let mut found: Vec<Option<Arc<OrgRecord>>> =
            ids.iter().map(|id| self.caches.orgs.get(id)).collect();
        let missing: Vec<OrgId> = ids
            .iter()
            .zip(&found)
            .filter(|(_, hit)| hit.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !missing.is_empty() {
            let generation = self.caches.orgs.generation();
            let mut tx = self.store.read().await?;
            for org in tx.orgs_by_ids(&missing).await? {
                let org = Arc::new(org);
                self.caches.orgs.put(org.clone(), generation);
                if let Some(i) = ids.iter().position(|id| *id == org.id) {
                    found[i] = Some(org);
                }
            }
        }
        ids.iter()
            .zip(found)
            .map(|(id, org)| {
                org.ok_or_else(|| Error::Internal(format!("ancestor {id} is missing")))
            })
            .collect()
    }

    /// An org the caller reaches, with `perm`, as last committed (from
    /// memory when it can be).
    pub(crate) async fn read_org(
        &self,
        who: &Principal,
        id: &str,
        perm: impl Into<Permissions>,
    ) -> Result<Arc<OrgRecord>> {
        let id = path_org_id(id)?;
        who.reach_as(self.org_record(&id).await?, perm)
    }
}

/// The org `id` as `tx` sees it, if the caller reaches it and holds `perm`
/// there: the preamble of every read of one org (writes use
/// `Change::lock_org`). The id was taken from the path by [`path_org_id`]
/// first, before any body is checked, so a bad id is a 404 whatever the body.
pub(crate) async fn reach_org(
    tx: &mut dyn Tx,
    who: &Principal,
    id: &OrgId,
    perm: impl Into<Permissions>,
) -> Result<OrgRecord> {
    who.reach_as(tx.org(id).await?, perm)
}

/// An org id taken from a URL path. One that cannot exist is simply not found.
pub(crate) fn path_org_id(raw: &str) -> Result<OrgId> {
    OrgId::parse(raw).map_err(|_| Error::NotFound("organization"))
}
