//! Limited resources: the applications, workspaces and user groups of an
//! org (their limits are enforced by `limits/service.rs`).

use serde_json::Value;

use crate::api_keys::Permission;
use crate::audit::Target;
use crate::authz::Principal;
use crate::error::ConflictKind;
use crate::ids::prefixed_ulid;
use crate::limits::Count;
use crate::orgs::{OrgRecord, parse_name};
use crate::page::{Page, PageRequest, encode_id_cursor, paginate};
use crate::registries::{Resource, ResourceKind, validate_metadata};
use crate::service::change::{Change, json};
use crate::service::reach::path_org_id;
use crate::service::{Orgd, Origin};
use crate::store::StoreError;
use crate::{Error, FieldError, Result};

/// A new item, as the client sent it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewResource {
    pub name: String,
    /// Defaults to `{}`.
    pub metadata: Option<Value>,
}

impl Orgd {
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
        let org = c.lock_org(who, &org_id, Permission::Write).await?;
        let used = self.ensure_room(&mut c, &org, Count::Items(kind)).await?;
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
            &org,
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
        let org = c.lock_org(who, &org_id, Permission::Delete).await?;
        let item =
            c.tx.delete_resource(&org.id, kind, id)
                .await?
                .ok_or(Error::NotFound(kind.singular()))?;
        let left = c.tx.count_resources(&org.id, kind).await?;
        self.record_gauge(&mut c, &org.id, kind.plural(), left)
            .await?;
        c.record(
            &org,
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
    pub(crate) async fn release_resources(
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
