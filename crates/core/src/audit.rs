//! The audit trail: one hash chain of events per organization.
//!
//! `hash` is SHA-256 (hex) over the canonical JSON of the event without its
//! `hash` field; each event's `prev_hash` is the previous event's `hash`, and the
//! first one's is 64 zeros. Changing, removing or reordering a stored event
//! breaks the chain at that event.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub key_id: Option<String>,
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn org(id: &crate::ids::OrgId) -> Self {
        Self {
            kind: "org".into(),
            id: id.to_string(),
        }
    }

    pub fn key(id: &str) -> Self {
        Self {
            kind: "api_key".into(),
            id: id.to_owned(),
        }
    }

    pub fn webhook(id: &str) -> Self {
        Self {
            kind: "webhook".into(),
            id: id.to_owned(),
        }
    }

    pub fn tag(id: &str) -> Self {
        Self {
            kind: "tag".into(),
            id: id.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    pub seq: i64,
    #[serde(with = "crate::time::serde_ts")]
    pub timestamp: DateTime<Utc>,
    pub org_id: String,
    pub actor: Actor,
    pub action: String,
    pub target: Target,
    /// `{"before": …, "after": …}` of what changed.
    pub changes: Value,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// The hash this event should carry, computed from every other field.
    pub fn compute_hash(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("hash");
        }
        hex::encode(Sha256::digest(canonical_json(&v).as_bytes()))
    }
}

/// JSON with object keys sorted by code point and no insignificant
/// whitespace. Written out here rather than relying on `serde_json`'s map
/// order, which a crate feature elsewhere in the build (`preserve_order`) could
/// silently change, and with it every hash.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The outcome of re-walking one org's chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub valid: bool,
    pub events: i64,
    pub head: String,
    pub first_bad_seq: Option<i64>,
}

/// Walks a chain event by event (in `seq` order), so a long chain can be
/// verified in pages without holding it all.
#[derive(Debug)]
pub struct ChainVerifier {
    events: i64,
    head: String,
    first_bad_seq: Option<i64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            events: 0,
            head: GENESIS_HASH.to_owned(),
            first_bad_seq: None,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &AuditEvent) {
        let expected_seq = self.events + 1;
        let intact =
            e.seq == expected_seq && e.prev_hash == self.head && e.compute_hash() == e.hash;
        if !intact && self.first_bad_seq.is_none() {
            self.first_bad_seq = Some(expected_seq.min(e.seq));
        }
        self.events += 1;
        self.head = e.hash.clone();
    }

    pub fn finish(self) -> Verification {
        Verification {
            valid: self.first_bad_seq.is_none(),
            events: self.events,
            head: self.head,
            first_bad_seq: self.first_bad_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    id: format!("evt_{seq}"),
                    seq,
                    timestamp: DateTime::<Utc>::default(),
                    org_id: "acme".into(),
                    actor: Actor {
                        key_id: Some("key_1".into()),
                        user: None,
                    },
                    action: "org.update".into(),
                    target: Target {
                        kind: "org".into(),
                        id: "acme".into(),
                    },
                    changes: json!({"before": {"name": seq - 1}, "after": {"name": seq}}),
                    request_id: None,
                    ip: None,
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> Verification {
        let mut v = ChainVerifier::default();
        events.iter().for_each(|e| v.push(e));
        v.finish()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "é"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"d":[1,{"y":"é","z":0}]},"b":1}"#
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        let v = verify(&events);
        assert!(v.valid);
        assert_eq!(v.events, 5);
        assert_eq!(v.head, events[4].hash);
        assert_eq!(verify(&[]).head, GENESIS_HASH);
    }

    #[test]
    fn an_edited_event_is_found() {
        let mut events = chain(5);
        events[2].action = "org.delete".into();
        assert_eq!(verify(&events).first_bad_seq, Some(3));
    }

    #[test]
    fn a_removed_event_is_found() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events).first_bad_seq, Some(2));
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link() {
        let mut events = chain(5);
        events[2].action = "org.delete".into();
        events[2].hash = events[2].compute_hash();
        assert_eq!(verify(&events).first_bad_seq, Some(4));
    }
}
