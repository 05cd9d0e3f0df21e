//! Events: what other services learn of every change (SPEC §11).
//!
//! Every audited change writes its event in the same transaction as the
//! change and its audit event (an outbox; see `service::change::Change`), so there is
//! no change without its event and no event without its change. An event is
//! stored as the JSON a consumer receives, written once: the pull feed
//! returns it and a webhook posts it byte for byte.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::FieldError;
use crate::audit::AuditEvent;
use crate::ids::{OrgId, prefixed_ulid};
use crate::orgs::OrgRecord;

/// How long events are kept unless told otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// The longest a feed request may wait for an event.
pub const MAX_WAIT_SECS: u64 = 30;
/// The shares of an effective limit whose upward crossing is an event.
pub const THRESHOLDS: [i64; 2] = [80, 100];

/// An event as a consumer receives it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "evt_01jd2x6m4c8s5v0q3n7r9t1w2y",
    "type": "configs.update",
    "org_id": "org-123",
    "occurred_at": "2026-11-24T09:30:00.000Z",
    "data": {
        "target": {"type": "org", "id": "org-123"},
        "changes": {"before": {"workspaces.limit": "5"}, "after": {"workspaces.limit": "10"}}
    },
    "audit": {"org_id": "org-123", "seq": 7, "hash": "5f2c…"}
})))]
pub struct Event {
    /// `evt_` and a ULID; for an audited change, the id of its audit event.
    /// A webhook's `webhook-id`.
    pub id: String,
    /// What happened. An audited change (`data`: its `target` and
    /// `changes.before`/`changes.after`): `org.create`, `org.update`,
    /// `org.move`, `org.delete`; `configs.replace`, `configs.update`,
    /// `configs.delete`; `customizations.replace`; `tag.create`,
    /// `tag.delete`; `api_key.create`, `api_key.delete` (never a secret);
    /// `application.create`, `application.delete`, `workspace.create`,
    /// `workspace.delete`, `usergroup.create`, `usergroup.delete`;
    /// `webhook.create`, `webhook.update`, `webhook.delete`,
    /// `webhook.rotate_secret`, and `webhook.disabled` (orgd disabled an
    /// endpoint that failed for 3 days). Not a change of state
    /// (`audit: null`): `limit.threshold` (`data`: `resource`, `limit`,
    /// `used`, `threshold`).
    #[serde(rename = "type")]
    pub kind: String,
    pub org_id: String,
    #[serde(with = "crate::time::serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub occurred_at: DateTime<Utc>,
    /// For an audited change, its audit event's `target` and `changes`; for
    /// `limit.threshold`, `resource`, `limit`, `used` and `threshold`.
    pub data: Value,
    /// Where the change sits in the org's audit chain, to check it against
    /// the chain; `null` for an event that is no audited change.
    pub audit: Option<AuditRef>,
}

/// An audit event's place in its chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRef {
    pub org_id: String,
    pub seq: i64,
    pub hash: String,
}

impl Event {
    /// Usage of `resource` in `org` crossed `threshold` % of its effective
    /// `limit`, upward, reaching `used`.
    pub fn threshold(
        org: &OrgId,
        resource: &str,
        limit: i64,
        used: i64,
        threshold: i64,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: prefixed_ulid("evt"),
            kind: "limit.threshold".into(),
            org_id: org.to_string(),
            occurred_at: at,
            data: serde_json::json!({
                "resource": resource, "limit": limit, "used": used, "threshold": threshold,
            }),
            audit: None,
        }
    }

    /// The event as stored: its JSON once, and what the feed filters on.
    pub fn stored(&self, org: &OrgRecord) -> crate::Result<NewEvent> {
        Ok(NewEvent {
            id: self.id.clone(),
            kind: self.kind.clone(),
            org_id: self.org_id.clone(),
            org_path: org.path.clone(),
            occurred_at: self.occurred_at,
            body: body(self)?,
        })
    }
}

impl NewEvent {
    /// The stored event of an audited change: an [`Event`] whose `data` is
    /// the change's `target` and `changes` and whose `audit` is its place in
    /// the chain, written from the audit event's fields as they are. Every
    /// change takes this path, and building an [`Event`] first would copy
    /// the change's `before`/`after` tree only to write it out.
    pub fn of_audit(e: &AuditEvent, org: &OrgRecord) -> crate::Result<Self> {
        /// [`Event`]'s fields in its order; `data` as `json!` orders it.
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            id: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            org_id: &'a str,
            #[serde(with = "crate::time::serde_ts")]
            occurred_at: DateTime<Utc>,
            data: Data<'a>,
            audit: Audit<'a>,
        }
        #[derive(serde::Serialize)]
        struct Data<'a> {
            changes: &'a Value,
            target: Target<'a>,
        }
        /// As a JSON value orders it (keys sorted), unlike `audit::Target`.
        #[derive(serde::Serialize)]
        struct Target<'a> {
            id: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Audit<'a> {
            org_id: &'a str,
            seq: i64,
            hash: &'a str,
        }
        let envelope = Envelope {
            id: &e.id,
            kind: &e.action,
            org_id: &e.org_id,
            occurred_at: e.timestamp,
            data: Data {
                changes: &e.changes,
                target: Target {
                    id: &e.target.id,
                    kind: &e.target.kind,
                },
            },
            audit: Audit {
                org_id: &e.org_id,
                seq: e.seq,
                hash: &e.hash,
            },
        };
        Ok(Self {
            id: e.id.clone(),
            kind: e.action.clone(),
            org_id: e.org_id.clone(),
            org_path: org.path.clone(),
            occurred_at: e.timestamp,
            body: body(&envelope)?,
        })
    }
}

fn body(event: &impl serde::Serialize) -> crate::Result<String> {
    serde_json::to_string(event)
        .map_err(|e| crate::Error::Internal(format!("an event could not be written: {e}")))
}

/// The thresholds that usage going from `before` to `after` crosses upward,
/// of `limit`: each crossing is one event.
pub fn crossed(limit: i64, before: i64, after: i64) -> impl Iterator<Item = i64> {
    THRESHOLDS
        .into_iter()
        .filter(move |t| limit > 0 && before * 100 < t * limit && after * 100 >= t * limit)
}

/// An event to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub org_id: String,
    /// The org's path when the event happened: what `scope=subtree` follows.
    pub org_path: String,
    pub occurred_at: DateTime<Utc>,
    /// The event's JSON, as consumers receive it.
    pub body: String,
}

/// Which events a feed returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub scope: EventScope,
    pub types: TypeFilter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventScope {
    /// The org's own events.
    Org(OrgId),
    /// The events of every org whose path, when the event happened, was in
    /// the subtree at this path, its root included.
    Subtree(String),
}

/// `types=org.*,configs.update`: exact names, and prefixes ending in `.*`.
/// Empty: every type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeFilter {
    pub exact: Vec<String>,
    /// Each with its dot: `org.` for `org.*`.
    pub prefixes: Vec<String>,
}

impl TypeFilter {
    /// Reads a comma-separated list, without spaces or empty parts; `None`
    /// means every type.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldError> {
        let mut f = Self::default();
        let Some(raw) = raw else {
            return Ok(f);
        };
        for part in raw.split(',') {
            let (name, wildcard) = match part.strip_suffix(".*") {
                Some(prefix) => (prefix, true),
                None => (part, false),
            };
            let well_formed = name
                .split('.')
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if !well_formed {
                return Err(FieldError::new(
                    "types",
                    "must be a comma-separated list of event types (`configs.update`) or \
                     prefixes (`org.*`)",
                ));
            }
            if wildcard {
                f.prefixes.push(format!("{name}."));
            } else {
                f.exact.push(name.to_owned());
            }
        }
        Ok(f)
    }

    pub fn is_all(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    /// Each prefix as the range of names it covers, `[low, high)`: what a
    /// store compares with (a prefix's `_` would be a wildcard to `LIKE`).
    pub fn prefix_ranges(&self) -> impl Iterator<Item = (&str, String)> {
        self.prefixes.iter().map(|p| {
            // Every prefix ends with '.', and '/' is the character after it.
            let high = format!("{}/", &p[..p.len() - 1]);
            (p.as_str(), high)
        })
    }

    pub fn matches(&self, kind: &str) -> bool {
        self.is_all()
            || self.exact.iter().any(|e| e == kind)
            || self.prefixes.iter().any(|p| kind.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audited_change_is_stored_as_its_event() {
        let mut audit = AuditEvent {
            id: "evt_1".into(),
            seq: 7,
            timestamp: DateTime::<Utc>::default(),
            org_id: "acme".into(),
            actor: crate::audit::Actor {
                key_id: Some("key_1".into()),
                user: None,
            },
            action: "configs.update".into(),
            target: crate::audit::Target {
                kind: "org".into(),
                id: "acme".into(),
            },
            changes: serde_json::json!({"before": {"b": 1, "a": [2]}, "after": {"z": "x"}}),
            request_id: None,
            ip: None,
            prev_hash: crate::audit::GENESIS_HASH.into(),
            hash: String::new(),
        };
        audit.hash = audit.compute_hash();
        let org = OrgRecord {
            id: OrgId::from_trusted("acme".into()),
            name: "Acme".into(),
            parent_id: None,
            path: "/acme/".into(),
            depth: 1,
            created_at: audit.timestamp,
            updated_at: audit.timestamp,
            version: 1,
            customizations: serde_json::json!({}),
            configs: Default::default(),
            tags: vec![],
            deleted_at: None,
        };
        let stored = NewEvent::of_audit(&audit, &org).unwrap();
        let event: Event = serde_json::from_str(&stored.body).unwrap();
        assert_eq!(
            event,
            Event {
                id: "evt_1".into(),
                kind: "configs.update".into(),
                org_id: "acme".into(),
                occurred_at: audit.timestamp,
                data: serde_json::json!({"target": audit.target, "changes": audit.changes}),
                audit: Some(AuditRef {
                    org_id: "acme".into(),
                    seq: 7,
                    hash: audit.hash.clone(),
                }),
            }
        );
        // Byte for byte what the envelope writes, so the stored JSON and
        // the documented one cannot drift apart.
        assert_eq!(stored.body, serde_json::to_string(&event).unwrap());
        assert_eq!(
            (
                stored.id.as_str(),
                stored.kind.as_str(),
                stored.org_path.as_str()
            ),
            ("evt_1", "configs.update", "/acme/")
        );
    }

    #[test]
    fn types_are_exact_names_and_dotted_prefixes() {
        let f = TypeFilter::parse(Some("org.*,configs.update")).unwrap();
        assert_eq!(f.exact, vec!["configs.update"]);
        assert_eq!(f.prefixes, vec!["org."]);
        assert!(f.matches("org.create"));
        assert!(f.matches("configs.update"));
        assert!(!f.matches("configs.replace"));
        assert!(!f.matches("organization.x"), "a prefix ends at its dot");
        assert_eq!(
            f.prefix_ranges().collect::<Vec<_>>(),
            vec![("org.", "org/".to_owned())]
        );
        assert!(TypeFilter::parse(None).unwrap().is_all());
        for bad in [
            "",
            "*",
            "org*",
            "ORG.create",
            "org..x",
            ".*",
            "org.%",
            "a b",
            "org.*,",
            " org.*",
        ] {
            assert!(TypeFilter::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_threshold_is_crossed_once_going_up() {
        let all = |limit, before, after| crossed(limit, before, after).collect::<Vec<_>>();
        assert_eq!(all(10, 7, 8), vec![80]);
        assert_eq!(all(10, 8, 9), Vec::<i64>::new(), "already past 80 %");
        assert_eq!(all(10, 9, 10), vec![100]);
        assert_eq!(all(1, 0, 1), vec![80, 100], "both at once");
        assert_eq!(all(5, 3, 4), vec![80]);
        assert_eq!(
            all(10, 8, 7),
            Vec::<i64>::new(),
            "going down crosses nothing"
        );
        assert_eq!(all(0, 0, 1), Vec::<i64>::new());
    }
}
