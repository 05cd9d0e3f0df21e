//! Customizations: an org's free-form object, replaced with its version
//! bumped and audited, and the effective one merged down from its ancestors.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api_keys::Permission;
use crate::audit::Target;
use crate::authz::Principal;
use crate::customizations;
use crate::service::reach::path_org_id;
use crate::service::{IfMatch, Orgd, Origin, Versioned};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveCustomizations {
    pub customizations: Value,
    /// Top-level key → id of the org its value comes from.
    pub sources: BTreeMap<String, String>,
}

impl Orgd {
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
        let mut org = c.lock_org(who, &org_id, Permission::Write).await?;
        if let Some(m) = if_match {
            m.check(org.version)?;
        }
        if next != org.customizations {
            let before = std::mem::replace(&mut org.customizations, next);
            self.bump(&mut c, &mut org).await?;
            c.record(
                &org,
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
}
