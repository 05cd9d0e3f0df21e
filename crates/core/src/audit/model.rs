//! The audit trail: one hash chain of events per organization.
//!
//! `hash` is SHA-256 (hex) over the canonical JSON of the event without its
//! `hash` field; each event's `prev_hash` is the previous event's `hash`, and the
//! first one's is 64 zeros. Changing, removing or reordering a stored event
//! breaks the chain at that event.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::canonical::canonical_json;
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

/// The outcome of re-walking one org's chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub valid: bool,
    /// Events walked (those pruned by retention are not counted).
    pub events: i64,
    pub head: String,
    pub first_bad_seq: Option<i64>,
    /// The chain ends before the head the latest signed checkpoint holds:
    /// events were cut from its tail.
    pub truncated: bool,
    /// The signed checkpoint the chain was compared with; `null` before the
    /// first checkpoint that holds this org.
    pub checkpoint_id: Option<String>,
    /// The checkpoint's stored leaves no longer hash to its signed root, or
    /// its signature does not verify: the database was changed outside
    /// orgd, and the chain cannot be held to what was signed.
    pub checkpoint_invalid: bool,
    /// Retention pruned the chain up to this `seq`; the walk started from
    /// its signed anchor.
    pub pruned_through_seq: Option<i64>,
}

/// A chain head a signed checkpoint holds, which the chain must reach
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpointed {
    pub checkpoint_id: String,
    pub seq: i64,
    pub hash: String,
}

/// Walks a chain event by event (in `seq` order), so a long chain can be
/// verified in pages without holding it all.
#[derive(Debug)]
pub struct ChainVerifier {
    /// The `seq` the walk starts after: 0, or a prune anchor's.
    start: i64,
    events: i64,
    head: String,
    first_bad_seq: Option<i64>,
    checkpointed: Option<Checkpointed>,
    /// The checkpoint that could not be trusted, when one could not.
    unverifiable: Option<String>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            start: 0,
            events: 0,
            head: GENESIS_HASH.to_owned(),
            first_bad_seq: None,
            checkpointed: None,
            unverifiable: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier that also holds the chain to a signed checkpoint's head:
    /// the chain must reach `seq` (else it was truncated) with that `hash`
    /// (else it was rewritten, however consistently).
    pub fn against(checkpointed: Option<Checkpointed>) -> Self {
        Self {
            checkpointed,
            ..Self::default()
        }
    }

    /// A verifier for a chain whose latest checkpoint does not hold up (its
    /// stored leaves or its signature): the chain is invalid whatever its
    /// links say, since nothing signed vouches for it any more.
    pub fn against_unverifiable(checkpoint_id: String) -> Self {
        Self {
            unverifiable: Some(checkpoint_id),
            ..Self::default()
        }
    }

    /// Starts the walk after a prune anchor: event `seq` with `hash` was
    /// the last removed, and the first left must follow it. `signed`: the
    /// anchor's signature verified.
    pub fn after_anchor(mut self, seq: i64, hash: &str, signed: bool) -> Self {
        self.start = seq;
        self.head = hash.to_owned();
        if !signed {
            self.mark_bad(seq);
        }
        if let Some(c) = &self.checkpointed
            && c.seq == seq
            && c.hash != hash
        {
            self.mark_bad(seq);
        }
        self
    }

    pub fn push(&mut self, e: &AuditEvent) {
        let expected_seq = self.start + self.events + 1;
        let intact =
            e.seq == expected_seq && e.prev_hash == self.head && e.compute_hash() == e.hash;
        if !intact {
            self.mark_bad(expected_seq.min(e.seq));
        }
        if let Some(c) = &self.checkpointed
            && e.seq == c.seq
            && e.hash != c.hash
        {
            self.mark_bad(c.seq);
        }
        self.events += 1;
        self.head = e.hash.clone();
    }

    fn mark_bad(&mut self, seq: i64) {
        if self.first_bad_seq.is_none() {
            self.first_bad_seq = Some(seq);
        }
    }

    pub fn finish(self) -> Verification {
        let last_seq = self.start + self.events;
        let truncated = self.checkpointed.as_ref().is_some_and(|c| last_seq < c.seq);
        let checkpoint_invalid = self.unverifiable.is_some();
        Verification {
            valid: self.first_bad_seq.is_none() && !truncated && !checkpoint_invalid,
            events: self.events,
            head: self.head,
            first_bad_seq: self.first_bad_seq,
            truncated,
            checkpoint_id: self
                .checkpointed
                .map(|c| c.checkpoint_id)
                .or(self.unverifiable),
            checkpoint_invalid,
            pruned_through_seq: (self.start > 0).then_some(self.start),
        }
    }
}

/// A valid chain of `n` events of `org`, for tests (a non-ASCII user, so
/// that what hashes and serialises them meets more than ASCII).
#[cfg(test)]
pub(crate) fn test_chain(org: &str, n: i64) -> Vec<AuditEvent> {
    let mut prev = GENESIS_HASH.to_owned();
    (1..=n)
        .map(|seq| {
            let mut e = AuditEvent {
                id: format!("evt_{org}_{seq}"),
                seq,
                timestamp: DateTime::<Utc>::default(),
                org_id: org.into(),
                actor: Actor {
                    key_id: Some("key_1".into()),
                    user: Some("é".into()),
                },
                action: "org.update".into(),
                target: Target {
                    kind: "org".into(),
                    id: org.into(),
                },
                changes: serde_json::json!({"before": {"name": seq - 1}, "after": {"name": seq}}),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(events: &[AuditEvent]) -> Verification {
        let mut v = ChainVerifier::default();
        events.iter().for_each(|e| v.push(e));
        v.finish()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = test_chain("acme", 5);
        let v = verify(&events);
        assert!(v.valid);
        assert_eq!(v.events, 5);
        assert_eq!(v.head, events[4].hash);
        assert_eq!(verify(&[]).head, GENESIS_HASH);
    }

    #[test]
    fn an_edited_event_is_found() {
        let mut events = test_chain("acme", 5);
        events[2].action = "org.delete".into();
        assert_eq!(verify(&events).first_bad_seq, Some(3));
    }

    #[test]
    fn a_removed_event_is_found() {
        let mut events = test_chain("acme", 5);
        events.remove(1);
        assert_eq!(verify(&events).first_bad_seq, Some(2));
    }

    fn checkpointed(events: &[AuditEvent], seq: i64) -> Option<Checkpointed> {
        Some(Checkpointed {
            checkpoint_id: "ckpt_1".into(),
            seq,
            hash: events[usize::try_from(seq - 1).unwrap()].hash.clone(),
        })
    }

    #[test]
    fn an_intact_chain_held_to_an_unverifiable_checkpoint_is_invalid() {
        let mut v = ChainVerifier::against_unverifiable("ckpt_1".into());
        test_chain("acme", 3).iter().for_each(|e| v.push(e));
        let v = v.finish();
        assert!(!v.valid && v.checkpoint_invalid && !v.truncated, "{v:?}");
        assert_eq!(v.first_bad_seq, None);
        assert_eq!(v.checkpoint_id.as_deref(), Some("ckpt_1"));
    }

    #[test]
    fn a_chain_cut_after_its_checkpoint_is_truncated() {
        let events = test_chain("acme", 5);
        let mut v = ChainVerifier::against(checkpointed(&events, 4));
        events[..3].iter().for_each(|e| v.push(e));
        let v = v.finish();
        assert!(v.truncated && !v.valid);
        assert_eq!(v.first_bad_seq, None);
        assert_eq!(v.checkpoint_id.as_deref(), Some("ckpt_1"));

        let mut v = ChainVerifier::against(checkpointed(&events, 4));
        events.iter().for_each(|e| v.push(e));
        let v = v.finish();
        assert!(v.valid && !v.truncated);
    }

    #[test]
    fn a_chain_rewritten_whole_differs_from_its_checkpoint() {
        let events = test_chain("acme", 5);
        let at = checkpointed(&events, 4);
        let mut rewritten = test_chain("acme", 5);
        rewritten[1].action = "org.delete".into();
        let mut prev = rewritten[0].hash.clone();
        for e in &mut rewritten[1..] {
            e.prev_hash = prev;
            e.hash = e.compute_hash();
            prev = e.hash.clone();
        }
        assert!(verify(&rewritten).valid, "consistent on its own");
        let mut v = ChainVerifier::against(at);
        rewritten.iter().for_each(|e| v.push(e));
        let v = v.finish();
        assert!(!v.valid && !v.truncated);
        assert_eq!(v.first_bad_seq, Some(4));
    }

    #[test]
    fn a_pruned_chain_verifies_from_its_anchor_and_only_from_it() {
        let events = test_chain("acme", 5);
        let walk = |v: ChainVerifier, from: usize| {
            let mut v = v;
            events[from..].iter().for_each(|e| v.push(e));
            v.finish()
        };
        let v = walk(
            ChainVerifier::against(checkpointed(&events, 5)).after_anchor(2, &events[1].hash, true),
            2,
        );
        assert!(v.valid, "{v:?}");
        assert_eq!((v.events, v.pruned_through_seq), (3, Some(2)));
        assert_eq!(v.head, events[4].hash);
        let v = walk(
            ChainVerifier::default().after_anchor(2, &events[1].hash, false),
            2,
        );
        assert_eq!(v.first_bad_seq, Some(2), "an anchor not signed");
        let v = walk(
            ChainVerifier::default().after_anchor(2, &events[0].hash, true),
            2,
        );
        assert_eq!(
            v.first_bad_seq,
            Some(3),
            "an anchor the chain does not follow"
        );
        let v = walk(
            ChainVerifier::default().after_anchor(2, &events[1].hash, true),
            3,
        );
        assert_eq!(
            v.first_bad_seq,
            Some(3),
            "an event removed after the anchor"
        );
        // Pruned whole, past the checkpointed head: nothing left to walk.
        let v = walk(
            ChainVerifier::against(checkpointed(&events, 4)).after_anchor(5, &events[4].hash, true),
            5,
        );
        assert!(v.valid && !v.truncated, "{v:?}");
        assert_eq!(v.head, events[4].hash);
    }

    /// An event read back from its stored JSON hashes as it did when it was
    /// written, whatever floats its changes hold: serde_json parses a
    /// float's shortest form back to the same f64 only with its
    /// `float_roundtrip` feature (without it, this one came back one ulp
    /// off, and a chain holding it stopped verifying).
    #[test]
    fn an_event_read_back_hashes_the_same_whatever_its_floats() {
        let mut e = test_chain("acme", 1).remove(0);
        for x in [
            -3.783_344_146_505_006_7e161,
            5.357_328_243_285_544e178,
            0.1,
            1e-300,
        ] {
            e.changes = serde_json::json!({"after": {"metadata": {"x": [x]}}});
            e.hash = e.compute_hash();
            let stored = serde_json::to_string(&e).unwrap();
            let read: AuditEvent = serde_json::from_str(&stored).unwrap();
            assert_eq!(read.compute_hash(), e.hash, "{x:e}");
        }
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link() {
        let mut events = test_chain("acme", 5);
        events[2].action = "org.delete".into();
        events[2].hash = events[2].compute_hash();
        assert_eq!(verify(&events).first_bad_seq, Some(4));
    }
}
