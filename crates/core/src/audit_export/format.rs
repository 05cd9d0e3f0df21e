//! Signed exports of the audit trail (SPEC §12): NDJSON, org by org.
//!
//! - An **event line** is one audit event as the API serves it.
//! - Before an org's first event line, when the export's checkpoint holds
//!   the org, a **proof line** `{"proof": {…}}` gives the org's leaf in that
//!   checkpoint (`{org_id, seq, hash}`) with its inclusion path.
//! - Then, when retention pruned the org's chain and the lines that follow
//!   start right after what it removed, an **anchor line** `{"anchor":
//!   {…}}`: the signed prune anchor they follow.
//! - **Link lines** `{"link": {"org_id", "events": […]}}` carry the org's
//!   events outside the export's window that join its exported events to
//!   the checkpointed head: the ones between the head and the window's
//!   first event, or between the window's last event and the head.
//! - The last line, `{"manifest": {…}}`, counts the event lines, hashes
//!   every line before it, carries the checkpoint, and is signed.
//!
//! So the file alone proves that each org's exported events belong to the
//! chain whose head a signed checkpoint holds: a rewritten event, a cut
//! tail or a chain that never reached the signed head fails offline.
//! [`super::ExportVerifier`] checks a file line by line, in memory that grows with
//! the orgs it holds, not the events, with no server and no database.

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::canonical::canonical_json;
use crate::checkpoints::{Checkpoint, Head, PruneAnchor, SigningKey};

/// Which orgs' events an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportScope {
    /// The org's own events.
    Own,
    /// The org's and every descendant's, deleted ones included, org by org
    /// in id order.
    Subtree,
}

impl ExportScope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "self" => Some(Self::Own),
            "subtree" => Some(Self::Subtree),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "self",
            Self::Subtree => "subtree",
        }
    }
}

/// The last line of an export.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    pub org_id: String,
    /// `self` or `subtree`.
    pub scope: String,
    /// The window asked for (events at or after `start`, before `end`).
    #[serde(with = "crate::time::serde_ts::option")]
    pub start: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::serde_ts::option")]
    pub end: Option<DateTime<Utc>>,
    /// Event lines before the manifest.
    pub count: i64,
    /// Proof lines: the orgs held to the checkpoint. Left out when 0, as
    /// in exports made before proofs existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proofs: i64,
    /// Events carried in link lines (not counted in `count`). Left out
    /// when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub linked: i64,
    /// SHA-256 (hex) of every line before the manifest (events, proofs and
    /// links), each with its `\n`, in order.
    pub sha256: String,
    /// The checkpoint the export is held to: the first made at or after
    /// `end`, else the latest when the export began; `null` before the
    /// first.
    pub checkpoint: Option<Checkpoint>,
    /// The key that signed the manifest.
    pub kid: String,
    /// Ed25519 over [`Manifest::signed_bytes`], base64url without padding.
    pub signature: String,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
pub(super) fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Manifest {
    /// What is signed: the canonical JSON of every field but `signature`
    /// (`proofs` and `linked` only when not 0, so that an export made
    /// before they existed still verifies).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut signed = json!({
            "org_id": self.org_id,
            "scope": self.scope,
            "start": self.start.map(crate::time::format),
            "end": self.end.map(crate::time::format),
            "count": self.count,
            "sha256": self.sha256,
            "checkpoint": self.checkpoint,
            "kid": self.kid,
        });
        for (name, n) in [("proofs", self.proofs), ("linked", self.linked)] {
            if n != 0 {
                signed[name] = json!(n);
            }
        }
        canonical_json(&signed).into_bytes()
    }

    pub fn sign(&mut self, key: &SigningKey) {
        self.kid = key.public.kid.clone();
        self.signature = key.sign(&self.signed_bytes());
    }

    /// The manifest line, with its `\n`.
    pub fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(&json!({ "manifest": self })).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// An org's head in the export's checkpoint, proven by its inclusion path.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportProof {
    /// The org's leaf: `{org_id, seq, hash}`.
    pub leaf: Head,
    pub leaf_index: i64,
    pub tree_size: i64,
    /// The audit path (RFC 9162 §2.1.3.1), hex.
    pub path: Vec<String>,
}

/// Events of one org outside the export's window, joining its exported
/// events to its checkpointed head.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportLink {
    pub org_id: String,
    pub events: Vec<AuditEvent>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProofLine {
    pub(super) proof: ExportProof,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkLine {
    pub(super) link: ExportLink,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnchorLine {
    pub(super) anchor: PruneAnchor,
}

/// How each kind of line begins, as orgd writes it.
pub(super) const MANIFEST_PREFIX: &[u8] = b"{\"manifest\":";
pub(super) const PROOF_PREFIX: &[u8] = b"{\"proof\":";
pub(super) const LINK_PREFIX: &[u8] = b"{\"link\":";
pub(super) const ANCHOR_PREFIX: &[u8] = b"{\"anchor\":";

/// Hashes and counts the lines before the manifest as they are written.
#[derive(Debug, Default, Clone)]
pub struct LineDigest {
    hasher: Sha256,
    count: i64,
    proofs: i64,
    linked: i64,
}

/// What [`LineDigest::finish`] sums up, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub count: i64,
    pub proofs: i64,
    pub linked: i64,
    pub sha256: String,
}

impl LineDigest {
    /// Appends `event`'s line to `out`, and counts and hashes it.
    pub fn write(&mut self, event: &AuditEvent, out: &mut Vec<u8>) {
        if self.line(event, out) {
            self.count += 1;
        }
    }

    /// Appends a proof line.
    pub fn write_proof(&mut self, proof: ExportProof, out: &mut Vec<u8>) {
        if self.line(&ProofLine { proof }, out) {
            self.proofs += 1;
        }
    }

    /// Appends an anchor line (not counted: the signature covers it).
    pub fn write_anchor(&mut self, anchor: PruneAnchor, out: &mut Vec<u8>) {
        self.line(&AnchorLine { anchor }, out);
    }

    /// Appends a link line.
    pub fn write_link(&mut self, link: ExportLink, out: &mut Vec<u8>) {
        let n = i64::try_from(link.events.len()).unwrap_or(i64::MAX);
        if self.line(&LinkLine { link }, out) {
            self.linked += n;
        }
    }

    fn line(&mut self, value: &impl serde::Serialize, out: &mut Vec<u8>) -> bool {
        let from = out.len();
        // What orgd writes always serialises; were it not to, the line
        // would be missing and the counts and hash would say so.
        if serde_json::to_writer(&mut *out, value).is_ok() {
            out.push(b'\n');
            self.hasher.update(&out[from..]);
            true
        } else {
            out.truncate(from);
            false
        }
    }

    pub fn finish(self) -> Digested {
        Digested {
            count: self.count,
            proofs: self.proofs,
            linked: self.linked,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}
