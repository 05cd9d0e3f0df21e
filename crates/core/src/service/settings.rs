//! Per-organization settings: configs (limits), customizations and tags.
//! Each change bumps the org's version and is audited in the same transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Change, IfMatch, Orgd, Origin, json, path_org_id};
use crate::audit::Target;
use crate::authz::Principal;
use crate::configs::{self, Configs, REGISTRY};
use crate::customizations;
use crate::error::ConflictKind;
use crate::ids::{OrgId, prefixed_ulid};
use crate::keys::Permission;
use crate::org::OrgRecord;
use crate::store::Tx;
use crate::tags::{self, Tag};
use crate::{Error, FieldError, Result};

/// How a configs request changes the org's configs.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigsChange {
    /// PUT: the body becomes the whole set.
    Replace(Value),
    /// PATCH: the body's keys are set; `null` removes one.
    Update(Value),
    /// DELETE: no configs at all.
    Clear,
}

/// A versioned value: the body and the org version it was read at (its ETag).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

/// One key's effective value and the org it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveConfig {
    /// `null` means unlimited.
    pub value: Option<i64>,
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveCustomizations {
    pub customizations: Value,
    /// Top-level key → id of the org its value comes from.
    pub sources: BTreeMap<String, String>,
}

impl Orgd {
    /// An org the caller reaches, with `perm`, as last committed (from
    /// memory when it can be).
    pub(super) async fn read_org(
        &self,
        who: &Principal,
        id: &str,
        perm: Permission,
    ) -> Result<Arc<OrgRecord>> {
        let id = path_org_id(id)?;
        let org = who.reach(self.org_record(&id).await?)?;
        who.require(perm)?;
        Ok(org)
    }

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

    pub async fn get_configs(&self, who: &Principal, org_id: &str) -> Result<Versioned<Configs>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        Ok(Versioned {
            value: org.configs.clone(),
            version: org.version,
        })
    }

    pub async fn change_configs(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        change: ConfigsChange,
        if_match: Option<IfMatch>,
    ) -> Result<Versioned<Configs>> {
        let org_id = path_org_id(org_id)?;
        let parsed = match &change {
            ConfigsChange::Replace(body) => Some(configs::parse_body(body, false)),
            ConfigsChange::Update(body) => Some(configs::parse_body(body, true)),
            ConfigsChange::Clear => None,
        }
        .transpose()
        .map_err(Error::Validation)?;

        let mut c = self.change(who, origin).await?;
        let mut org = who.reach(c.tx.lock_org(&org_id).await?)?;
        let (perm, action) = match change {
            ConfigsChange::Replace(_) => (Permission::Write, "configs.replace"),
            ConfigsChange::Update(_) => (Permission::Write, "configs.update"),
            ConfigsChange::Clear => (Permission::Delete, "configs.delete"),
        };
        who.require(perm)?;
        who.govern(&org, true)?;
        if let Some(m) = if_match {
            m.check(org.version)?;
        }
        let mut next = match change {
            ConfigsChange::Update(_) => org.configs.clone(),
            _ => Configs::new(),
        };
        if let Some(changes) = parsed {
            configs::apply(&mut next, changes);
        }
        if next != org.configs {
            let before = json(&org.configs);
            org.configs = next;
            self.bump(&mut c, &mut org).await?;
            c.record(
                &org.id,
                action,
                Target::org(&org.id),
                before,
                json(&org.configs),
            )
            .await?;
            c.commit().await?;
        }
        Ok(Versioned {
            value: org.configs,
            version: org.version,
        })
    }

    /// Every known key: the org's own value, else the nearest ancestor's, else unlimited.
    pub async fn effective_configs(
        &self,
        who: &Principal,
        org_id: &str,
    ) -> Result<BTreeMap<String, EffectiveConfig>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        let lineage = self.lineage_of(&org).await?;
        Ok(REGISTRY
            .iter()
            .map(|spec| {
                let hit = crate::limits::effective(&lineage, spec.key);
                let effective = EffectiveConfig {
                    value: hit.map(|(v, _)| v),
                    source: hit.map(|(_, id)| id.to_string()),
                };
                (spec.key.to_owned(), effective)
            })
            .collect())
    }

    pub async fn get_customizations(
        &self,
        who: &Principal,
        org_id: &str,
    ) -> Result<Versioned<Value>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        Ok(Versioned {
            value: org.customizations.clone(),
            version: org.version,
        })
    }

    pub async fn replace_customizations(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        body: Value,
        if_match: Option<IfMatch>,
    ) -> Result<Versioned<Value>> {
        let org_id = path_org_id(org_id)?;
        let next = customizations::unwrap_put_body(body);
        customizations::validate(&next).map_err(|why| Error::invalid("customizations", why))?;
        let mut c = self.change(who, origin).await?;
        let mut org = who.reach(c.tx.lock_org(&org_id).await?)?;
        who.require(Permission::Write)?;
        if let Some(m) = if_match {
            m.check(org.version)?;
        }
        if next != org.customizations {
            let before = std::mem::replace(&mut org.customizations, next);
            self.bump(&mut c, &mut org).await?;
            c.record(
                &org.id,
                "customizations.replace",
                Target::org(&org.id),
                before,
                org.customizations.clone(),
            )
            .await?;
            c.commit().await?;
        }
        Ok(Versioned {
            value: org.customizations,
            version: org.version,
        })
    }

    /// Deep merge from the root down to the org; the nearest value wins.
    pub async fn effective_customizations(
        &self,
        who: &Principal,
        org_id: &str,
    ) -> Result<EffectiveCustomizations> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        let mut merged = Value::Object(Default::default());
        let mut sources = BTreeMap::new();
        for o in self.lineage_of(&org).await? {
            customizations::deep_merge(&mut merged, &o.customizations);
            if let Value::Object(m) = &o.customizations {
                for k in m.keys() {
                    sources.insert(k.clone(), o.id.to_string());
                }
            }
        }
        Ok(EffectiveCustomizations {
            customizations: merged,
            sources,
        })
    }

    pub async fn list_tags(&self, who: &Principal, org_id: &str) -> Result<Vec<Tag>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        Ok(org.tags.clone())
    }

    pub async fn create_tag(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        name: &str,
    ) -> Result<Tag> {
        let org_id = path_org_id(org_id)?;
        let name = tags::parse_name(name)
            .map_err(|why| Error::Validation(vec![FieldError::new("name", why)]))?;
        let mut c = self.change(who, origin).await?;
        let mut org = who.reach(c.tx.lock_org(&org_id).await?)?;
        who.require(Permission::Write)?;
        if org.tags.iter().any(|t| t.name == name) {
            return Err(Error::conflict(
                ConflictKind::DuplicateName,
                format!("the organization already has a tag named '{name}'"),
            ));
        }
        if org.tags.len() >= tags::MAX_PER_ORG {
            return Err(Error::conflict(
                ConflictKind::TooManyTags,
                format!(
                    "an organization may have at most {} tags",
                    tags::MAX_PER_ORG
                ),
            ));
        }
        let tag = Tag {
            id: prefixed_ulid("tag"),
            name,
            created_at: c.now,
        };
        c.tx.insert_tag(&org.id, &tag).await?;
        self.bump(&mut c, &mut org).await?;
        c.record(
            &org.id,
            "tag.create",
            Target::tag(&tag.id),
            Value::Null,
            json(&tag),
        )
        .await?;
        c.commit().await?;
        Ok(tag)
    }

    pub async fn delete_tag(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        tag_id: &str,
    ) -> Result<()> {
        let org_id = path_org_id(org_id)?;
        let mut c = self.change(who, origin).await?;
        let mut org = who.reach(c.tx.lock_org(&org_id).await?)?;
        who.require(Permission::Write)?;
        let tag =
            c.tx.delete_tag(&org.id, tag_id)
                .await?
                .ok_or(Error::NotFound("tag"))?;
        self.bump(&mut c, &mut org).await?;
        c.record(
            &org.id,
            "tag.delete",
            Target::tag(&tag.id),
            json(&tag),
            Value::Null,
        )
        .await?;
        c.commit().await
    }

    /// Writes the org (locked in `c`) as changed: one version step.
    async fn bump(&self, c: &mut Change<'_>, org: &mut OrgRecord) -> Result<()> {
        org.version += 1;
        org.updated_at = c.now;
        c.tx.update_org(org).await?;
        Ok(())
    }
}
