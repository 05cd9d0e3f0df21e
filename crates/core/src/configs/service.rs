//! Configs (limits): an org's own, changed by PUT, PATCH and DELETE with its
//! version bumped and audited in the same transaction, and the effective
//! ones its ancestors give it.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api_keys::Permission;
use crate::audit::Target;
use crate::authz::Principal;
use crate::configs::{self, Configs, REGISTRY};
use crate::service::change::json;
use crate::service::reach::path_org_id;
use crate::service::{IfMatch, Orgd, Origin, Versioned};
use crate::{Error, Result};

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

/// One key's effective value and the org it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveConfig {
    /// `null` means unlimited.
    pub value: Option<i64>,
    pub source: Option<String>,
}

impl Orgd {
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

        let (perm, action) = match change {
            ConfigsChange::Replace(_) => (Permission::Write, "configs.replace"),
            ConfigsChange::Update(_) => (Permission::Write, "configs.update"),
            ConfigsChange::Clear => (Permission::Delete, "configs.delete"),
        };
        let mut c = self.change(who, origin).await?;
        let mut org = c.lock_org(who, &org_id, perm).await?;
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
                &org,
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
                let hit = crate::orgs::effective_config(&lineage, spec);
                let effective = EffectiveConfig {
                    value: hit.map(|(v, _)| v),
                    source: hit.map(|(_, id)| id.to_string()),
                };
                (spec.key.to_owned(), effective)
            })
            .collect())
    }
}
