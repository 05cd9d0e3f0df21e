//! Webhooks: endpoints that receive an org's events (SPEC §11), the
//! deliveries made to them, and the pure rules of delivery — the Standard
//! Webhooks signature, the retry schedule, and which addresses a delivery may
//! reach. The operations are in `service.rs` and `deliveries.rs` beside
//! this file; sending is the server's.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::FieldError;
use crate::events::{EventFilter, EventScope, TypeFilter};
use crate::ids::OrgId;
use crate::orgs::OrgRecord;

/// How long a rotated-out secret keeps signing beside its successor.
pub const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How long an attempt may take, from resolving the host to the answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a receiver's answer that is read (and kept, cut to
/// [`KEPT_ERROR_CHARS`], for the deliveries log).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
pub const KEPT_ERROR_CHARS: usize = 500;
/// How long deliveries are retried before they are marked failed, and how
/// long an endpoint may fail without a success before it is disabled.
pub const GIVE_UP_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(3);
/// How long a claimed delivery is a node's alone. An attempt ends within
/// [`ATTEMPT_TIMEOUT`]; a node that died holding a lease gives it up when it
/// expires, and another node retries the delivery.
pub const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// Events a replay queues at most; the answer says where to go on from.
pub const MAX_REPLAY: usize = 10_000;

/// A webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    /// `whk_` and a ULID.
    pub id: String,
    pub org_id: OrgId,
    pub url: String,
    /// As the feed's `types` parameter reads it; empty: every type.
    pub types: Vec<String>,
    pub scope: WebhookScope,
    pub description: Option<String>,
    pub enabled: bool,
    /// `whsec_` and the base64 of 32 random bytes. Kept as it is, since
    /// signing needs it; never shown after creation or rotation.
    pub secret: String,
    /// The secret rotated out, and until when it still signs.
    pub previous_secret: Option<(String, DateTime<Utc>)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The feed position up to which events have been queued for delivery.
    pub cursor: i64,
    /// Since when every attempt has failed; `None` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Set when orgd disabled the endpoint for failing too long.
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WebhookScope {
    /// The org's own events.
    #[serde(rename = "self")]
    Own,
    /// The events of the org and of every org below it.
    Subtree,
}

impl WebhookScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "self",
            Self::Subtree => "subtree",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "self" => Some(Self::Own),
            "subtree" => Some(Self::Subtree),
            _ => None,
        }
    }
}

/// A webhook endpoint as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "whk_01jd2x6m4c8s5v0q3n7r9t1w2y",
    "org_id": "org-123",
    "url": "https://hooks.example.com/orgd",
    "types": ["org.*", "limit.threshold"],
    "scope": "subtree",
    "description": "billing sync",
    "enabled": true,
    "created_at": "2026-11-24T09:30:00.000Z",
    "updated_at": "2026-11-24T09:30:00.000Z",
    "previous_secret_expires_at": null,
    "failing_since": null,
    "disabled_at": null
})))]
pub struct Webhook {
    pub id: String,
    pub org_id: String,
    pub url: String,
    /// Event types and `prefix.*` patterns; empty: every type.
    pub types: Vec<String>,
    pub scope: WebhookScope,
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(with = "crate::time::serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<Utc>,
    /// While a rotated-out secret still signs beside the new one: until when.
    #[serde(with = "crate::time::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when every delivery attempt has failed.
    #[serde(with = "crate::time::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub failing_since: Option<DateTime<Utc>>,
    /// When orgd disabled the endpoint after failing for 3 days.
    #[serde(with = "crate::time::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub disabled_at: Option<DateTime<Utc>>,
}

impl WebhookRecord {
    pub fn view(&self, now: DateTime<Utc>) -> Webhook {
        Webhook {
            id: self.id.clone(),
            org_id: self.org_id.to_string(),
            url: self.url.clone(),
            types: self.types.clone(),
            scope: self.scope,
            description: self.description.clone(),
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            previous_secret_expires_at: self.live_previous(now).map(|(_, until)| until),
            failing_since: self.failing_since,
            disabled_at: self.disabled_at,
        }
    }

    fn live_previous(&self, now: DateTime<Utc>) -> Option<(&str, DateTime<Utc>)> {
        self.previous_secret
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(s, until)| (s.as_str(), *until))
    }

    /// The secrets that sign a delivery at `now`: the current one, and the
    /// rotated-out one while its overlap lasts.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut all = vec![self.secret.as_str()];
        all.extend(self.live_previous(now).map(|(s, _)| s));
        all
    }

    /// The events this endpoint receives, `org` being its org as it is now.
    pub fn filter(&self, org: &OrgRecord) -> EventFilter {
        EventFilter {
            scope: match self.scope {
                WebhookScope::Own => EventScope::Org(org.id.clone()),
                WebhookScope::Subtree => EventScope::Subtree(org.path.clone()),
            },
            types: self.type_filter(),
        }
    }

    pub fn type_filter(&self) -> TypeFilter {
        if self.types.is_empty() {
            return TypeFilter::default();
        }
        // Checked when set (`parse_types`); a stored list always parses.
        TypeFilter::parse(Some(&self.types.join(","))).unwrap_or_default()
    }
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `types` of a webhook: each an event type or a `prefix.*`, as the
/// feed's `types` parameter reads them; at least one when given.
pub fn parse_types(types: &[String]) -> Result<Vec<String>, FieldError> {
    if types.is_empty() {
        return Err(FieldError::new(
            "types",
            "must list at least one event type; leave it out for every type",
        ));
    }
    if types.len() > 100 {
        return Err(FieldError::new("types", "may list at most 100 types"));
    }
    for t in types {
        if t.contains(',') || TypeFilter::parse(Some(t)).is_err() {
            return Err(FieldError::new(
                "types",
                format!("'{t}' is no event type (`configs.update`) or prefix (`org.*`)"),
            ));
        }
    }
    Ok(types.to_vec())
}

/// The `webhook-signature` header of a delivery (Standard Webhooks): `v1,`
/// and the base64 HMAC-SHA256 of `id.timestamp.body` under each secret's
/// decoded bytes, space-separated.
pub fn signature(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        // HMAC takes a key of any length: `new_from_slice` never fails.
        .filter_map(|s| {
            let key = STANDARD
                .decode(s.strip_prefix("whsec_").unwrap_or(s))
                .unwrap_or_default();
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            Some(format!(
                "v1,{}",
                STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pause before retry number `n` (1: the first retry): about 5 s, 30 s,
/// 2 min, 10 min, 1 h, 6 h, then every 12 h, each ±20 % so that endpoints
/// failing together do not retry together.
pub fn retry_delay(n: u32) -> chrono::TimeDelta {
    const SCHEDULE: [i64; 7] = [5, 30, 120, 600, 3600, 6 * 3600, 12 * 3600];
    let base = SCHEDULE[(n.max(1) as usize - 1).min(SCHEDULE.len() - 1)];
    let jitter = rand::rng().random_range(0.8..1.2);
    chrono::TimeDelta::milliseconds((base as f64 * 1000.0 * jitter) as i64)
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Succeeded,
    /// Retried for 3 days without a 2xx answer.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event to deliver to one endpoint, and how its attempts went.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    /// `dlv_` and a ULID.
    pub id: String,
    /// Its place in the queue: an endpoint receives an org's events in this
    /// order. Given by the store.
    pub seq: i64,
    pub webhook_id: String,
    /// The event's org.
    pub org_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The event's JSON, as the feed has it: the request body.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// When a pending delivery is next tried.
    pub next_attempt_at: DateTime<Utc>,
    /// Held by a node until then while it tries the delivery.
    pub lease_until: Option<DateTime<Utc>>,
    /// The first attempt of the current series of retries: they stop
    /// [`GIVE_UP_AFTER`] it. A manual retry starts a new series.
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryRecord {
    /// A new delivery of the stored event `body` (the outbox's JSON) to
    /// `webhook_id`, due at `now`.
    pub fn of_event(webhook_id: &str, body: &str, now: DateTime<Utc>) -> crate::Result<Self> {
        /// What a delivery needs of its event: the rest stays unparsed.
        #[derive(serde::Deserialize)]
        struct Head {
            id: String,
            #[serde(rename = "type")]
            kind: String,
            org_id: String,
        }
        let event: Head = serde_json::from_str(body)
            .map_err(|e| crate::Error::Internal(format!("a stored event is not an event: {e}")))?;
        Ok(Self::pending(
            webhook_id,
            event.org_id,
            event.id,
            event.kind,
            body,
            now,
        ))
    }

    /// A new delivery to `webhook_id` of one event of `org_id` (its id,
    /// type and JSON body), due at `now`; the store gives its `seq`.
    pub fn pending(
        webhook_id: &str,
        org_id: String,
        event_id: String,
        event_type: String,
        body: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: crate::ids::prefixed_ulid("dlv"),
            seq: 0,
            webhook_id: webhook_id.to_owned(),
            org_id,
            event_id,
            event_type,
            body: body.to_owned(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            lease_until: None,
            first_attempt_at: None,
            last_attempt_at: None,
            last_status_code: None,
            last_error: None,
            delivered_at: None,
        }
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "dlv_01jd2x7q0r4b8s2c6v9w3x5y7z",
    "webhook_id": "whk_01jd2x6m4c8s5v0q3n7r9t1w2y",
    "event_id": "evt_01jd2x6m4c8s5v0q3n7r9t1w2y",
    "event_type": "org.update",
    "org_id": "org-123",
    "status": "pending",
    "attempts": 2,
    "created_at": "2026-11-24T09:30:00.000Z",
    "next_attempt_at": "2026-11-24T09:30:40.000Z",
    "last_attempt_at": "2026-11-24T09:30:05.000Z",
    "last_status_code": 503,
    "last_error": "the receiver answered 503",
    "delivered_at": null
})))]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub org_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    #[serde(with = "crate::time::serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    /// For a pending delivery, when it is next tried.
    #[serde(with = "crate::time::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if one came.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    #[serde(with = "crate::time::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryRecord {
    pub fn view(&self) -> Delivery {
        Delivery {
            id: self.id.clone(),
            webhook_id: self.webhook_id.clone(),
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            org_id: self.org_id.clone(),
            status: self.status,
            attempts: self.attempts,
            created_at: self.created_at,
            next_attempt_at: (self.status == DeliveryStatus::Pending)
                .then_some(self.next_attempt_at),
            last_attempt_at: self.last_attempt_at,
            last_status_code: self.last_status_code,
            last_error: self.last_error.clone(),
            delivered_at: self.delivered_at,
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// An answer that is no 2xx, or none: why, and the status if one came.
    Failed { status: Option<u16>, error: String },
}

impl DeliveryRecord {
    /// Writes `attempt`, made at `now`, into the delivery: delivered, retried
    /// later, or failed for good once retries have run for 3 days.
    pub fn attempted(&mut self, attempt: &Attempt, now: DateTime<Utc>) {
        self.attempts += 1;
        self.lease_until = None;
        self.last_attempt_at = Some(now);
        let first = *self.first_attempt_at.get_or_insert(now);
        match attempt {
            Attempt::Delivered { status } => {
                self.status = DeliveryStatus::Succeeded;
                self.last_status_code = Some(i32::from(*status));
                self.last_error = None;
                self.delivered_at = Some(now);
            }
            Attempt::Failed { status, error } => {
                self.last_status_code = status.map(i32::from);
                self.last_error = Some(error.chars().take(KEPT_ERROR_CHARS).collect());
                let retries_so_far = u32::try_from(self.attempts).unwrap_or(u32::MAX);
                let next = now + retry_delay(retries_so_far);
                if next - first > GIVE_UP_AFTER {
                    self.status = DeliveryStatus::Failed;
                } else {
                    self.next_attempt_at = next;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_starts_near_five_seconds_and_settles_at_twelve_hours() {
        let secs = |n| retry_delay(n).num_milliseconds() as f64 / 1000.0;
        for (n, base) in [(1, 5.0), (2, 30.0), (3, 120.0), (6, 21600.0), (7, 43200.0)] {
            let s = secs(n);
            assert!(s >= base * 0.8 && s <= base * 1.2, "retry {n}: {s}");
        }
        assert!(secs(40) <= 43200.0 * 1.2);
    }

    #[test]
    fn retries_stop_after_about_three_days() {
        let start = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let (org, event, kind) = ("o".into(), "evt_x".into(), "org.create".into());
        let mut d = DeliveryRecord::pending("whk_x", org, event, kind, "{}", start);
        let fail = Attempt::Failed {
            status: Some(500),
            error: "the receiver answered 500".into(),
        };
        while d.status == DeliveryStatus::Pending {
            let at = d.next_attempt_at;
            d.attempted(&fail, at);
        }
        let last = d.last_attempt_at.unwrap() - start;
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert!(
            last > chrono::TimeDelta::days(2) && last <= GIVE_UP_AFTER,
            "{last}"
        );
        assert!((10..=14).contains(&d.attempts), "{}", d.attempts);
    }

    #[test]
    fn types_are_checked_one_by_one() {
        assert!(parse_types(&["org.*".into(), "limit.threshold".into()]).is_ok());
        assert!(parse_types(&[]).is_err());
        assert!(parse_types(&["org.create,org.update".into()]).is_err());
        assert!(parse_types(&["Org".into()]).is_err());
    }

    #[test]
    fn a_signature_is_v1_hmac_of_id_timestamp_body() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = signature(&[secret, secret], "a", 1, b"b");
        assert_eq!(two.split(' ').count(), 2);
    }
}
