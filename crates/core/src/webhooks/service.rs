//! Webhook endpoints: their management, their deliveries log, retrying one
//! delivery and replaying past events, every one of them needing
//! [`authz::WEBHOOKS`] (`admin` and `read`). Queuing and sending are in
//! `deliveries`.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::audit::Target;
use crate::authz::{self, Principal};
use crate::ids::prefixed_ulid;
use crate::orgs::OrgRecord;
use crate::page::{Page, PageRequest, encode_number_cursor, paginate};
use crate::service::change::json;
use crate::service::reach::{path_org_id, reach_org};
use crate::service::{Orgd, Origin};
use crate::webhooks::{
    self, Delivery, DeliveryRecord, DeliveryStatus, MAX_DESCRIPTION_LEN, MAX_REPLAY,
    ROTATION_OVERLAP, Webhook, WebhookRecord, WebhookScope,
};
use crate::{Error, FieldError, Result};

/// How long resolving a webhook's host may take when it is set.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewWebhook {
    pub url: String,
    /// `None`: every type.
    pub types: Option<Vec<String>>,
    /// `self` or `subtree`; `None`: `subtree`.
    pub scope: Option<String>,
    pub description: Option<String>,
}

/// What a `PATCH` changes; `Some(None)` clears.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookPatch {
    pub url: Option<String>,
    /// `Some(None)`: every type.
    pub types: Option<Option<Vec<String>>>,
    pub scope: Option<String>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint with its new secret: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    pub secret: String,
}

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// After this feed position (a feed cursor).
    After(i64),
    /// At the first event that happened at or after this time.
    Since(chrono::DateTime<chrono::Utc>),
}

/// What a replay queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub queued: usize,
    /// When [`MAX_REPLAY`] events were queued and more remain: the position
    /// to replay on from.
    pub next: Option<i64>,
}

fn valid_description(d: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    if d.as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN || d.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "description",
            format!(
                "must be at most {MAX_DESCRIPTION_LEN} characters, none of them control characters"
            ),
        ));
    }
    d
}

fn valid_scope(raw: &str, errors: &mut Vec<FieldError>) -> WebhookScope {
    WebhookScope::parse(raw).unwrap_or_else(|| {
        errors.push(FieldError::new("scope", "must be `self` or `subtree`"));
        WebhookScope::Subtree
    })
}

fn valid_types(types: Option<Vec<String>>, errors: &mut Vec<FieldError>) -> Vec<String> {
    match types.map(|t| webhooks::parse_types(&t)) {
        None => Vec::new(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            errors.push(e);
            Vec::new()
        }
    }
}

impl Orgd {
    /// Refuses a URL whose host is, or resolves to, an address a delivery may
    /// not reach (SSRF), unless the server allows private targets. Every
    /// delivery checks again, since what a name resolves to may change.
    async fn check_target(&self, raw: &str) -> std::result::Result<String, FieldError> {
        let url = webhooks::parse_url(raw)?;
        if self.settings.webhook_allow_private_targets {
            return Ok(url.to_string());
        }
        let refused = |ip: IpAddr, why: &str| {
            FieldError::new(
                "url",
                format!(
                    "reaches {ip}, which is not globally reachable ({why}): webhooks may not target it"
                ),
            )
        };
        let addrs: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![ip.into()],
            Some(url::Host::Ipv6(ip)) => vec![ip.into()],
            Some(url::Host::Domain(name)) => {
                let port = url.port_or_known_default().unwrap_or(443);
                let found = tokio::time::timeout(
                    RESOLVE_TIMEOUT,
                    tokio::net::lookup_host((name.to_owned(), port)),
                )
                .await;
                match found {
                    Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                    _ => {
                        return Err(FieldError::new(
                            "url",
                            format!("names a host that could not be resolved ({name})"),
                        ));
                    }
                }
            }
            None => Vec::new(),
        };
        for ip in addrs {
            if let Some(why) = webhooks::forbidden_address(ip) {
                return Err(refused(ip, why));
            }
        }
        Ok(url.to_string())
    }

    pub async fn create_webhook(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        new: NewWebhook,
    ) -> Result<WebhookWithSecret> {
        let org_id = path_org_id(org_id)?;
        // Reach and permission before the body: a caller who may not manage
        // the org's webhooks learns nothing from it, nor makes orgd resolve
        // names. (Checked again under the org's lock below.)
        self.read_org(who, org_id.as_str(), authz::WEBHOOKS).await?;
        let mut errors = Vec::new();
        let types = valid_types(new.types, &mut errors);
        let scope = valid_scope(new.scope.as_deref().unwrap_or("subtree"), &mut errors);
        let description = valid_description(new.description, &mut errors);
        let url = self
            .check_target(&new.url)
            .await
            .map_err(|e| errors.push(e))
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let mut c = self.change(who, origin).await?;
        let org = c.lock_org(who, &org_id, authz::WEBHOOKS).await?;
        let secret = webhooks::generate_secret();
        let w = WebhookRecord {
            id: prefixed_ulid("whk"),
            org_id: org.id.clone(),
            url,
            types,
            scope,
            description,
            enabled: true,
            secret: secret.clone(),
            previous_secret: None,
            created_at: c.now,
            updated_at: c.now,
            // An endpoint receives the events that follow its creation
            // (earlier ones can be replayed).
            cursor: c.tx.last_event_position().await?,
            failing_since: None,
            disabled_at: None,
        };
        c.tx.insert_webhook(&w).await?;
        let view = w.view(c.now);
        c.record(
            &org,
            "webhook.create",
            Target::webhook(&w.id),
            Value::Null,
            json(&view),
        )
        .await?;
        c.commit().await?;
        Ok(WebhookWithSecret {
            webhook: view,
            secret,
        })
    }

    pub async fn list_webhooks(
        &self,
        who: &Principal,
        org_id: &str,
        page: PageRequest<String>,
    ) -> Result<Page<Webhook>> {
        let (mut tx, org) = self.read_in(who, org_id, authz::WEBHOOKS).await?;
        let limit = page.limit;
        let rows = tx.list_webhooks(&org.id, &page).await?;
        let page = paginate(rows, limit, |w| crate::page::encode_id_cursor(&w.id));
        let now = self.now();
        Ok(Page {
            items: page.items.iter().map(|w| w.view(now)).collect(),
            next: page.next,
        })
    }

    pub async fn get_webhook(&self, who: &Principal, org_id: &str, id: &str) -> Result<Webhook> {
        let mut tx = self.store.read().await?;
        let (_, w) = reach_webhook(tx.as_mut(), who, org_id, id).await?;
        Ok(w.view(self.now()))
    }

    pub async fn update_webhook(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        id: &str,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        // Reach and permission before the body, as at creation.
        self.read_org(who, org_id, authz::WEBHOOKS).await?;
        let mut errors = Vec::new();
        let types = patch.types.map(|t| valid_types(t, &mut errors));
        let scope = patch.scope.as_deref().map(|s| valid_scope(s, &mut errors));
        let description = patch.description.map(|d| valid_description(d, &mut errors));
        let url = match &patch.url {
            Some(raw) => self
                .check_target(raw)
                .await
                .map_err(|e| errors.push(e))
                .ok(),
            None => None,
        };
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        self.change_webhook(who, origin, org_id, id, "webhook.update", |w, _| {
            if let Some(url) = url {
                w.url = url;
            }
            if let Some(types) = types {
                w.types = types;
            }
            if let Some(scope) = scope {
                w.scope = scope;
            }
            if let Some(description) = description {
                w.description = description;
            }
            if let Some(enabled) = patch.enabled {
                if enabled && !w.enabled {
                    // A fresh start: failures before the pause do not count.
                    w.failing_since = None;
                    w.disabled_at = None;
                }
                w.enabled = enabled;
            }
        })
        .await
    }

    /// The one path of a change to an endpoint: the org locked with
    /// [`authz::WEBHOOKS`],
    /// the endpoint locked, `apply`'d (with the change's time), written and
    /// audited as `action`. Returns the endpoint as it is after.
    async fn change_webhook(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        id: &str,
        action: &str,
        apply: impl FnOnce(&mut WebhookRecord, chrono::DateTime<chrono::Utc>),
    ) -> Result<Webhook> {
        let org_id = path_org_id(org_id)?;
        let mut c = self.change(who, origin).await?;
        let org = c.lock_org(who, &org_id, authz::WEBHOOKS).await?;
        let mut w =
            c.tx.lock_webhook(id)
                .await?
                .filter(|w| w.org_id == org.id)
                .ok_or(Error::NotFound("webhook"))?;
        let before = w.view(c.now);
        apply(&mut w, c.now);
        w.updated_at = c.now;
        c.tx.update_webhook(&w).await?;
        let after = w.view(c.now);
        c.record(
            &org,
            action,
            Target::webhook(&w.id),
            json(&before),
            json(&after),
        )
        .await?;
        c.commit().await?;
        Ok(after)
    }

    pub async fn delete_webhook(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        id: &str,
    ) -> Result<()> {
        let org_id = path_org_id(org_id)?;
        let mut c = self.change(who, origin).await?;
        let org = c.lock_org(who, &org_id, authz::WEBHOOKS).await?;
        let w =
            c.tx.lock_webhook(id)
                .await?
                .filter(|w| w.org_id == org.id)
                .ok_or(Error::NotFound("webhook"))?;
        c.tx.delete_webhook(&org.id, id).await?;
        c.record(
            &org,
            "webhook.delete",
            Target::webhook(&w.id),
            json(&w.view(c.now)),
            Value::Null,
        )
        .await?;
        c.commit().await
    }

    /// A new secret; the old one keeps signing beside it for
    /// [`ROTATION_OVERLAP`], so receivers can switch without losing a delivery.
    pub async fn rotate_webhook_secret(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        id: &str,
    ) -> Result<WebhookWithSecret> {
        let secret = webhooks::generate_secret();
        let new = secret.clone();
        let webhook = self
            .change_webhook(
                who,
                origin,
                org_id,
                id,
                "webhook.rotate_secret",
                |w, now| {
                    let old = std::mem::replace(&mut w.secret, new);
                    w.previous_secret = Some((old, now + ROTATION_OVERLAP));
                },
            )
            .await?;
        Ok(WebhookWithSecret { webhook, secret })
    }

    /// The endpoint's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        who: &Principal,
        org_id: &str,
        id: &str,
        status: Option<DeliveryStatus>,
        page: PageRequest<i64>,
    ) -> Result<Page<Delivery>> {
        let mut tx = self.store.read().await?;
        let (_, w) = reach_webhook(tx.as_mut(), who, org_id, id).await?;
        let limit = page.limit;
        let rows = tx.list_deliveries(&w.id, status, &page).await?;
        let page = paginate(rows, limit, |d| encode_number_cursor(d.seq));
        Ok(Page {
            items: page.items.iter().map(DeliveryRecord::view).collect(),
            next: page.next,
        })
    }

    /// Tries one delivery again now, whatever became of it, with a new
    /// 3-day series of retries. It keeps its place in the queue.
    pub async fn retry_delivery(
        &self,
        who: &Principal,
        org_id: &str,
        id: &str,
        delivery_id: &str,
    ) -> Result<Delivery> {
        let mut tx = self.store.begin().await?;
        let (_, w) = reach_webhook(tx.as_mut(), who, org_id, id).await?;
        let mut d = tx
            .delivery(&w.id, delivery_id)
            .await?
            .ok_or(Error::NotFound("delivery"))?;
        d.status = DeliveryStatus::Pending;
        d.next_attempt_at = self.now();
        d.first_attempt_at = None;
        d.lease_until = None;
        tx.update_delivery(&d).await?;
        tx.commit().await?;
        // The deliverer finds it due at its next round (within a second).
        Ok(d.view())
    }

    /// Queues the endpoint's events again from a cursor or a time, up to the
    /// events already queued for it (later ones are queued anyway), at most
    /// [`MAX_REPLAY`] at a time.
    pub async fn replay_webhook(
        &self,
        who: &Principal,
        org_id: &str,
        id: &str,
        from: ReplayFrom,
    ) -> Result<Replayed> {
        let mut tx = self.store.begin().await?;
        let (org, w) = reach_webhook(tx.as_mut(), who, org_id, id).await?;
        let after = match from {
            ReplayFrom::After(n) => n,
            ReplayFrom::Since(t) => match tx.first_event_since(t).await? {
                Some(gid) => gid - 1,
                None => w.cursor,
            },
        };
        let rows = tx.events_after(&w.filter(&org), after, MAX_REPLAY).await?;
        let full = rows.len() == MAX_REPLAY;
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(gid, _)| *gid <= w.cursor)
            .collect();
        let now = self.now();
        let ds = rows
            .iter()
            .map(|(_, body)| DeliveryRecord::of_event(&w.id, body, now))
            .collect::<Result<Vec<_>>>()?;
        tx.insert_deliveries(&ds).await?;
        tx.commit().await?;
        let next = rows
            .last()
            .map(|(gid, _)| *gid)
            .filter(|gid| full && *gid < w.cursor);
        Ok(Replayed {
            queued: ds.len(),
            next,
        })
    }
}

/// The org and its endpoint `id` as `tx` sees them, if the caller reaches
/// the org with [`authz::WEBHOOKS`]: the preamble of every operation on one endpoint
/// but its changes (`Orgd::change_webhook`).
async fn reach_webhook(
    tx: &mut dyn crate::store::Tx,
    who: &Principal,
    org_id: &str,
    id: &str,
) -> Result<(OrgRecord, WebhookRecord)> {
    let org_id = path_org_id(org_id)?;
    let org = reach_org(tx, who, &org_id, authz::WEBHOOKS).await?;
    let w = tx
        .webhook_by_id(id)
        .await?
        .filter(|w| w.org_id == org.id)
        .ok_or(Error::NotFound("webhook"))?;
    Ok((org, w))
}
