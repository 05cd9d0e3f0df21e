//! API keys: authentication, minting, listing, revocation.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::api_keys::cache::CachedKey;
use crate::api_keys::{self, ApiKey, KeyRecord, NewKey, Permission, ValidNewKey};
use crate::audit::Target;
use crate::authz::Principal;
use crate::error::AuthFailure;
use crate::ids::{OrgId, prefixed_ulid};
use crate::limits::Count;
use crate::orgs::Org;
use crate::page::{Page, PageRequest, encode_id_cursor, paginate};
use crate::service::change::json;
use crate::service::reach::path_org_id;
use crate::service::{Orgd, Origin};
use crate::{Error, Result};

/// How stale `last_used_at` may get before a request refreshes it. Writing it
/// on every request would turn every read into a write.
const LAST_USED_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);

/// A freshly minted key: the only time its secret is ever shown.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// The calling key and its org.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub key: Option<ApiKey>,
    pub org: Org,
}

impl Orgd {
    /// Resolves a bearer secret to the principal it stands for. Every failure
    /// (malformed, unknown, expired, revoked, org deleted) is the same 401;
    /// the error says which, for the log.
    pub async fn authenticate(&self, secret: &str) -> Result<Arc<Principal>> {
        if !api_keys::is_well_formed_secret(secret) {
            return Err(Error::unauthenticated(AuthFailure::Malformed));
        }
        self.authenticate_digest(&api_keys::digest(secret)).await
    }

    /// [`Orgd::authenticate`] for a key known by its stored digest: what a
    /// console session holds, so that it never holds the secret.
    pub(crate) async fn authenticate_digest(&self, digest: &str) -> Result<Arc<Principal>> {
        let now = self.now();
        let generation = self.caches.keys.generation();
        let mut cached = match self.caches.keys.get(digest) {
            Some(cached) => cached,
            None => {
                let mut tx = self.store.read().await?;
                let Some((key, org)) = tx.key_by_digest(digest).await? else {
                    return Err(Error::unauthenticated(AuthFailure::Unknown));
                };
                let refused = if key.revoked_at.is_some() {
                    Some(AuthFailure::Revoked)
                } else if !org.is_live() {
                    Some(AuthFailure::OrgDeleted)
                } else {
                    None
                };
                if let Some(reason) = refused {
                    return Err(Error::Unauthenticated {
                        reason,
                        key_id: Some(key.id),
                    });
                }
                let cached = CachedKey::new(Arc::new(key));
                self.caches.keys.put(cached.clone(), generation);
                cached
            }
        };
        let key = &cached.record;
        if !key.is_usable_at(now) {
            return Err(Error::Unauthenticated {
                reason: AuthFailure::Expired,
                key_id: Some(key.id.clone()),
            });
        }
        if key
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_GRANULARITY)
        {
            self.touch_key(key, now).await;
            Arc::make_mut(&mut cached.record).last_used_at = Some(now);
            self.caches.keys.put(cached.clone(), generation);
        }
        Ok(cached.principal)
    }

    /// Best effort: a failure to record `last_used_at` must not fail the request.
    async fn touch_key(&self, key: &KeyRecord, now: DateTime<Utc>) {
        let result = async {
            let mut tx = self.store.begin().await?;
            tx.touch_key(&key.org_id, &key.id, now).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(key_id = %key.id, error = %e, "could not record last_used_at");
        }
    }

    pub async fn create_key(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        new: NewKey,
    ) -> Result<CreatedKey> {
        let org_id = path_org_id(org_id)?;
        let ValidNewKey {
            name,
            user,
            permissions,
            expires_at,
            rate_limit_per_minute: rate_limit,
        } = ValidNewKey::parse(new, self.now()).map_err(Error::Validation)?;

        let mut c = self.change(who, origin).await?;
        let org = c.lock_org(who, &org_id, Permission::Admin).await?;
        if !permissions.is_subset_of(who.permissions) {
            let extra: Vec<_> = permissions
                .iter()
                .filter(|p| !who.permissions.has(*p))
                .map(Permission::as_str)
                .collect();
            return Err(Error::Forbidden(format!(
                "a key cannot grant permissions it does not hold: {}",
                extra.join(", ")
            )));
        }
        let rate_limit_per_minute = self.child_rate_limit(who, rate_limit)?;
        // The operator's `orgd keys create` is the way back in when every
        // key is lost; a limit must not lock the operator out.
        if !who.is_operator() {
            self.ensure_room(&mut c, &org, Count::LiveKeys).await?;
        }
        let secret = api_keys::generate_secret();
        let key = KeyRecord {
            id: prefixed_ulid("key"),
            org_id: org.id.clone(),
            name,
            user,
            permissions,
            digest: api_keys::digest(&secret),
            prefix: api_keys::visible_prefix(&secret),
            created_at: c.now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            rate_limit_per_minute,
        };
        c.tx.insert_key(&key).await?;
        let view = key.view();
        c.record(
            &org,
            "api_key.create",
            Target::key(&key.id),
            Value::Null,
            json(&view),
        )
        .await?;
        c.commit().await?;
        Ok(CreatedKey { key: view, secret })
    }

    /// The rate limit of a key `who` creates: at most `who`'s own effective
    /// limit (its own, else the server's default), and when none is asked
    /// for, `who`'s own limit, so a limited key cannot mint an unlimited one.
    fn child_rate_limit(&self, who: &Principal, asked: Option<u32>) -> Result<Option<u32>> {
        let default = self.settings.default_rate_limit_per_minute;
        let creators = who.rate_limit_per_minute.or(default);
        match (asked, creators) {
            (Some(n), Some(max)) if n > max && !who.is_operator() => Err(Error::Forbidden(
                format!("a key cannot get a higher rate limit than its creator's ({max} a minute)"),
            )),
            (None, _) if !who.is_operator() => Ok(who.rate_limit_per_minute),
            (asked, _) => Ok(asked),
        }
    }

    /// `orgd keys create`: the operator mints a key straight in the database.
    pub async fn create_key_as_operator(&self, org_id: &str, new: NewKey) -> Result<CreatedKey> {
        let root = {
            let mut tx = self.store.read().await?;
            tx.root_org()
                .await?
                .ok_or(Error::NotFound("root organization"))?
        };
        let operator = Principal::operator(root.id);
        self.create_key(&operator, &Origin::default(), org_id, new)
            .await
    }

    pub async fn list_keys(
        &self,
        who: &Principal,
        org_id: &str,
        page: PageRequest<String>,
    ) -> Result<Page<ApiKey>> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Admin).await?;
        let limit = page.limit;
        let rows = tx.list_keys(&org.id, &page).await?;
        let page = paginate(rows, limit, |k| encode_id_cursor(&k.id));
        Ok(Page {
            items: page.items.iter().map(KeyRecord::view).collect(),
            next: page.next,
        })
    }

    /// One live key of the org (never its secret).
    pub async fn get_key(&self, who: &Principal, org_id: &str, key_id: &str) -> Result<ApiKey> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Admin).await?;
        tx.key(&org.id, key_id)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.view())
            .ok_or(Error::NotFound("API key"))
    }

    pub async fn delete_key(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        key_id: &str,
    ) -> Result<()> {
        let org_id = path_org_id(org_id)?;
        let mut c = self.change(who, origin).await?;
        let org = c.lock_org(who, &org_id, Permission::Admin).await?;
        let key =
            c.tx.key(&org.id, key_id)
                .await?
                .filter(|k| k.revoked_at.is_none())
                .ok_or(Error::NotFound("API key"))?;
        c.tx.revoke_key(&org.id, &key.id, c.now).await?;
        // Its console sessions end with it (a session resolves its key on
        // every request and would end anyway; this leaves no row behind).
        c.tx.delete_sessions_of_key(&key.digest).await?;
        c.record(
            &org,
            "api_key.delete",
            Target::key(&key.id),
            json(&key.view()),
            Value::Null,
        )
        .await?;
        // Committing evicts the org's cached keys, this one with them.
        c.commit().await?;
        Ok(())
    }

    pub async fn me(&self, who: &Principal) -> Result<Me> {
        let mut tx = self.store.read().await?;
        let org = who.reach(tx.org(&who.org_id).await?)?;
        let key = match &who.key_id {
            Some(id) => tx.key(&who.org_id, id).await?.map(|k| k.view()),
            None => None,
        };
        Ok(Me {
            key,
            org: org.view(),
        })
    }

    /// The id of the root org, once bootstrapped.
    pub async fn root_id(&self) -> Result<OrgId> {
        let mut tx = self.store.read().await?;
        Ok(tx
            .root_org()
            .await?
            .ok_or(Error::NotFound("root organization"))?
            .id)
    }
}
