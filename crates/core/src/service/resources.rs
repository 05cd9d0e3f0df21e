//! Limited resources (applications, workspaces, user groups) and the
//! enforcement of all five limits.
//!
//! Every create that a limit bounds runs [`Orgd::ensure_room`] inside its
//! write transaction, after taking the lock of the org that would hold the
//! new item: the count it reads cannot change before the insert commits, so
//! N simultaneous creates against a limit L leave exactly min(N, L).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Change, Orgd, Origin, json, path_org_id};
use crate::audit::Target;
use crate::authz::Principal;
use crate::error::ConflictKind;
use crate::ids::prefixed_ulid;
use crate::keys::Permission;
use crate::limits::{self, LimitStatus, Limited};
use crate::org::{OrgRecord, parse_name};
use crate::page::{Page, PageRequest, encode_id_cursor, paginate};
use crate::resources::{Resource, ResourceKind, validate_metadata};
use crate::store::{StoreError, Tx};
use crate::{Error, FieldError, Result};

/// A new item, as the client sent it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewResource {
    pub name: String,
    /// Defaults to `{}`.
    pub metadata: Option<Value>,
}

impl Orgd {
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

    /// Refuses one more `what` for `org` when its effective limit is reached.
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
            _ => Ok(used),
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

    pub async fn list_resources(
        &self,
        who: &Principal,
        org_id: &str,
        kind: ResourceKind,
        page: PageRequest<String>,
    ) -> Result<Page<Resource>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        let mut tx = self.store.read().await?;
        let limit = page.limit;
        let rows = tx.list_resources(&org.id, kind, &page).await?;
        Ok(paginate(rows, limit, |r| encode_id_cursor(&r.id)))
    }

    pub async fn get_resource(
        &self,
        who: &Principal,
        org_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Resource> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        let mut tx = self.store.read().await?;
        tx.resource(&org.id, kind, id)
            .await?
            .ok_or(Error::NotFound(kind.singular()))
    }

    pub async fn create_resource(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<Resource> {
        let org_id = path_org_id(org_id)?;
        let name = parse_name(&new.name).map_err(|why| FieldError::new("name", why));
        let metadata = new
            .metadata
            .unwrap_or_else(|| Value::Object(Default::default()));
        let bad_metadata = validate_metadata(&metadata)
            .err()
            .map(|why| FieldError::new("metadata", why));
        let name = match (name, bad_metadata) {
            (Ok(name), None) => name,
            (name, bad_metadata) => {
                return Err(Error::Validation(
                    name.err().into_iter().chain(bad_metadata).collect(),
                ));
            }
        };

        let mut c = self.change(who, origin).await?;
        let org = who.reach(c.tx.lock_org(&org_id).await?)?;
        who.require(Permission::Write)?;
        let used = self
            .ensure_room(&mut c, &org, Limited::Resource(kind))
            .await?;
        let item = Resource {
            id: prefixed_ulid(kind.id_prefix()),
            name,
            created_at: c.now,
            metadata,
        };
        c.tx.insert_resource(&org.id, kind, &item)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::conflict(
                    ConflictKind::DuplicateName,
                    format!(
                        "the organization already has a {} named '{}'",
                        kind.singular(),
                        item.name
                    ),
                ),
                e => e.into(),
            })?;
        self.record_gauge(&mut c, &org.id, kind.plural(), used + 1)
            .await?;
        c.record(
            &org.id,
            &format!("{}.create", kind.singular()),
            Target::resource(kind, &item.id),
            Value::Null,
            json(&item),
        )
        .await?;
        c.commit().await?;
        Ok(item)
    }

    pub async fn delete_resource(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<()> {
        let org_id = path_org_id(org_id)?;
        let mut c = self.change(who, origin).await?;
        let org = who.reach(c.tx.lock_org(&org_id).await?)?;
        who.require(Permission::Delete)?;
        let item =
            c.tx.delete_resource(&org.id, kind, id)
                .await?
                .ok_or(Error::NotFound(kind.singular()))?;
        let left = c.tx.count_resources(&org.id, kind).await?;
        self.record_gauge(&mut c, &org.id, kind.plural(), left)
            .await?;
        c.record(
            &org.id,
            &format!("{}.delete", kind.singular()),
            Target::resource(kind, &item.id),
            json(&item),
            Value::Null,
        )
        .await?;
        c.commit().await
    }

    /// Releases everything a deleted org held: its items are removed (their
    /// history stays in its audit trail) and its gauges drop to zero.
    pub(super) async fn release_resources(
        &self,
        c: &mut Change<'_>,
        org: &OrgRecord,
    ) -> Result<()> {
        if c.tx.delete_org_resources(&org.id).await? > 0 {
            for kind in ResourceKind::ALL {
                self.record_gauge(c, &org.id, kind.plural(), 0).await?;
            }
        }
        Ok(())
    }
}

impl Target {
    pub fn resource(kind: ResourceKind, id: &str) -> Self {
        Self {
            kind: kind.singular().into(),
            id: id.to_owned(),
        }
    }
}
