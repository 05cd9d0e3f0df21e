//! The first start: the root org and its root key, made once per database
//! (two nodes starting together make one).

use serde_json::Value;

use super::change::json;
use super::{Orgd, Origin};
use crate::Result;
use crate::api_keys::{self, KeyRecord, Permissions};
use crate::audit::Target;
use crate::authz::Principal;
use crate::ids::prefixed_ulid;
use crate::orgs::OrgRecord;
use crate::store::StoreError;

impl Orgd {
    /// Creates the root org and a root key holding every permission, unless
    /// the database already has a root. The key's secret is `secret` when
    /// given, else a generated one.
    pub async fn bootstrap(&self, secret: Option<String>) -> Result<Bootstrap> {
        let origin = Origin::default();
        let operator = Principal::operator(self.settings.root_id.clone());
        let mut c = self.change(&operator, &origin).await?;
        if c.tx.root_org().await?.is_some() {
            drop(c);
            return self.bootstrapped_before(secret.as_deref()).await;
        }
        let root = OrgRecord {
            id: self.settings.root_id.clone(),
            name: "Root".into(),
            parent_id: None,
            path: format!("/{}/", self.settings.root_id),
            depth: 1,
            created_at: c.now,
            updated_at: c.now,
            version: 1,
            customizations: Value::Object(Default::default()),
            configs: Default::default(),
            tags: vec![],
            deleted_at: None,
        };
        match c.tx.insert_org(&root).await {
            // Another node bootstrapped the same database first.
            Err(StoreError::Conflict(_)) => {
                drop(c);
                return self.bootstrapped_before(secret.as_deref()).await;
            }
            other => other?,
        }
        c.record(
            &root,
            "org.create",
            Target::org(&root.id),
            Value::Null,
            json(&root.view()),
        )
        .await?;
        let secret = secret.unwrap_or_else(api_keys::generate_secret);
        let key = KeyRecord {
            id: prefixed_ulid("key"),
            org_id: root.id.clone(),
            name: "bootstrap".into(),
            user: None,
            permissions: Permissions::all(),
            digest: api_keys::digest(&secret),
            prefix: api_keys::visible_prefix(&secret),
            created_at: c.now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
        };
        c.tx.insert_key(&key).await?;
        c.record(
            &root,
            "api_key.create",
            Target::key(&key.id),
            Value::Null,
            json(&key.view()),
        )
        .await?;
        c.commit().await?;
        Ok(Bootstrap::Created(secret))
    }

    /// What a secret chosen for bootstrap means to a database bootstrapped
    /// before: nothing, unless it happens to be a live key of the root.
    pub(crate) async fn bootstrapped_before(&self, chosen: Option<&str>) -> Result<Bootstrap> {
        let Some(secret) = chosen else {
            return Ok(Bootstrap::Existing);
        };
        let mut tx = self.store.read().await?;
        let root = tx.root_org().await?;
        let key = tx.key_by_digest(&api_keys::digest(secret)).await?;
        let works = match (root, key) {
            (Some(root), Some((key, _))) => key.org_id == root.id && key.is_usable_at(self.now()),
            _ => false,
        };
        Ok(if works {
            Bootstrap::Existing
        } else {
            Bootstrap::ExistingOtherSecret
        })
    }
}

/// What [`Orgd::bootstrap`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// A new database: the root org and its root key, with this secret.
    Created(String),
    /// The database had its root already (and the chosen secret, if any, is
    /// one of the root's live keys).
    Existing,
    /// The database had its root already, and the secret chosen for
    /// bootstrap is not a live key of the root: it has no effect.
    ExistingOtherSecret,
}
