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
//! [`ExportVerifier`] checks a file line by line, in memory that grows with
//! the orgs it holds, not the events, with no server and no database.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::canonical::canonical_json;
use crate::checkpoints::{Checkpoint, Head, PruneAnchor, PublicKey, SigningKey};
use crate::merkle::Hash;

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
fn is_zero(n: &i64) -> bool {
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
struct ProofLine {
    proof: ExportProof,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkLine {
    link: ExportLink,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorLine {
    anchor: PruneAnchor,
}

/// How each kind of line begins, as orgd writes it.
const MANIFEST_PREFIX: &[u8] = b"{\"manifest\":";
const PROOF_PREFIX: &[u8] = b"{\"proof\":";
const LINK_PREFIX: &[u8] = b"{\"link\":";
const ANCHOR_PREFIX: &[u8] = b"{\"anchor\":";

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

#[derive(serde::Deserialize)]
struct ManifestLine {
    manifest: Manifest,
}

/// Checks an export line by line.
#[derive(Debug)]
pub struct ExportVerifier {
    /// The keys trusted for the manifest's, the checkpoint's and the prune
    /// anchors' signatures.
    keys: Vec<PublicKey>,
    /// Each org's last event so far (exported or linked): `(seq, hash)`.
    chains: HashMap<String, (i64, String)>,
    /// The org whose lines are being read, with what the checkpoint holds
    /// for it.
    current: Option<(String, Option<Held>)>,
    /// Each root the proofs lead to (with the tree size), and the first org
    /// whose proof led there: at the end, all must be the checkpoint's.
    roots: HashMap<(Hash, i64), String>,
    proven: usize,
    /// Orgs whose first line is neither their chain's first event nor
    /// follows a signed anchor or a checkpointed head: only a `start`
    /// excuses that (the first hundred).
    unrooted: Vec<(String, i64)>,
    hasher: Sha256,
    count: i64,
    proofs: i64,
    linked: i64,
    lines: u64,
    manifest: Option<Manifest>,
    problems: Vec<String>,
}

/// The head a proof line says the checkpoint holds for the current org.
#[derive(Debug)]
struct Held {
    seq: i64,
    hash: String,
    /// The org's lines reached that head (or a signed anchor past it).
    met: bool,
    /// Its inclusion path led to a root (the checkpoint's, checked at the
    /// end).
    proved: bool,
}

/// What [`ExportVerifier`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub events: i64,
    pub orgs: usize,
    /// Orgs whose exported events were proven to reach (or lead to) the
    /// head the checkpoint signed for them.
    pub proven: usize,
    /// One sentence per finding; empty when the export is whole and signed.
    pub problems: Vec<String>,
}

impl ExportVerifier {
    /// A verifier trusting `keys`.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        Self {
            keys,
            chains: HashMap::new(),
            current: None,
            roots: HashMap::new(),
            proven: 0,
            unrooted: Vec::new(),
            hasher: Sha256::default(),
            count: 0,
            proofs: 0,
            linked: 0,
            lines: 0,
            manifest: None,
            problems: Vec::new(),
        }
    }

    /// One line, without its `\n`.
    pub fn push_line(&mut self, line: &[u8]) {
        self.lines += 1;
        let n = self.lines;
        if self.manifest.is_some() {
            self.problem(format!("line {n}: a line after the manifest"));
            return;
        }
        if line.starts_with(MANIFEST_PREFIX) {
            match serde_json::from_slice::<ManifestLine>(line) {
                Ok(m) => {
                    // Only the form orgd writes: a key misspelt would
                    // otherwise read as a field left out, which the
                    // signature cannot see.
                    if m.manifest.line().strip_suffix(b"\n") != Some(line) {
                        self.problem(format!("line {n}: the manifest is not as orgd writes it"));
                    }
                    self.close_current();
                    self.manifest = Some(m.manifest);
                }
                Err(why) => self.problem(format!("line {n}: not a manifest ({why})")),
            }
            return;
        }
        self.hasher.update(line);
        self.hasher.update(b"\n");
        if line.starts_with(PROOF_PREFIX) {
            match serde_json::from_slice::<ProofLine>(line) {
                Ok(p) => self.proof(n, p.proof),
                Err(why) => self.problem(format!("line {n}: not a proof ({why})")),
            }
        } else if line.starts_with(ANCHOR_PREFIX) {
            match serde_json::from_slice::<AnchorLine>(line) {
                Ok(a) => self.anchor(n, a.anchor),
                Err(why) => self.problem(format!("line {n}: not an anchor ({why})")),
            }
        } else if line.starts_with(LINK_PREFIX) {
            match serde_json::from_slice::<LinkLine>(line) {
                Ok(l) => self.link(n, l.link),
                Err(why) => self.problem(format!("line {n}: not a link ({why})")),
            }
        } else {
            self.count += 1;
            match serde_json::from_slice::<AuditEvent>(line) {
                Ok(e) => {
                    self.enter(&e.org_id);
                    self.event(n, &e);
                }
                Err(why) => self.problem(format!("line {n}: not an audit event ({why})")),
            }
        }
    }

    /// A proof line: the org's lines start here.
    fn proof(&mut self, n: u64, p: ExportProof) {
        self.proofs += 1;
        let org = p.leaf.org_id.clone();
        self.close_current();
        if self.chains.contains_key(&org) {
            self.problem(format!("line {n}: a proof of {org} after its events"));
        }
        let path: Option<Vec<Hash>> = p
            .path
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
            .collect();
        let root = match (
            path,
            u64::try_from(p.leaf_index),
            u64::try_from(p.tree_size),
        ) {
            (Some(path), Ok(index), Ok(size)) => {
                crate::merkle::root_from_inclusion(index, size, &p.leaf.leaf_hash(), &path)
            }
            _ => None,
        };
        let mut held = Held {
            seq: p.leaf.seq,
            hash: p.leaf.hash,
            met: false,
            proved: true,
        };
        match root {
            Some(root) => {
                self.roots
                    .entry((root, p.tree_size))
                    .or_insert_with(|| org.clone());
            }
            None => {
                self.problem(format!(
                    "line {n}: the inclusion path of {org}'s leaf fits no tree of its size"
                ));
                held.proved = false;
            }
        }
        self.current = Some((org, Some(held)));
    }

    /// An anchor line: retention pruned the current org's chain up to it,
    /// and its next lines follow it.
    fn anchor(&mut self, n: u64, a: PruneAnchor) {
        self.enter(&a.org_id);
        if self.chains.contains_key(&a.org_id) {
            self.problem(format!(
                "line {n}: an anchor of {} after its events",
                a.org_id
            ));
            return;
        }
        if !self.keys.iter().any(|k| a.verify(k)) {
            self.problem(format!(
                "line {n}: the prune anchor of {} is not signed by a key given",
                a.org_id
            ));
            return;
        }
        let mut finding = None;
        if let Some((_, Some(held))) = &mut self.current
            && !held.met
            && a.seq >= held.seq
        {
            if a.seq > held.seq || a.hash == held.hash {
                // The anchor, signed when orgd pruned the chain, stands for
                // the events it removed, the checkpointed head among them.
                held.met = true;
            } else {
                held.met = true; // said once
                finding = Some(format!(
                    "line {n}: the prune anchor of {} is not the head the checkpoint signed",
                    a.org_id
                ));
            }
        }
        if let Some(f) = finding {
            self.problem(f);
        }
        self.chains.insert(a.org_id, (a.seq, a.hash));
    }

    /// A link line: more of the current org's chain, outside the window.
    fn link(&mut self, n: u64, l: ExportLink) {
        self.linked += i64::try_from(l.events.len()).unwrap_or(i64::MAX);
        if self
            .current
            .as_ref()
            .is_none_or(|(org, _)| *org != l.org_id)
        {
            self.problem(format!(
                "line {n}: a link of {} outside {}'s lines",
                l.org_id, l.org_id
            ));
            return;
        }
        for e in &l.events {
            if e.org_id != l.org_id {
                self.problem(format!(
                    "line {n}: a link of {} holds an event of {}",
                    l.org_id, e.org_id
                ));
                return;
            }
            self.event(n, e);
        }
    }

    /// Makes `org` the current org, closing the one before.
    fn enter(&mut self, org: &str) {
        if self.current.as_ref().is_some_and(|(o, _)| o == org) {
            return;
        }
        self.close_current();
        self.current = Some((org.to_owned(), None));
    }

    /// The current org's lines are over: they must have reached the head
    /// the checkpoint holds for it.
    fn close_current(&mut self) {
        let Some((org, Some(held))) = self.current.take() else {
            return;
        };
        if held.met {
            self.proven += usize::from(held.proved);
            return;
        }
        let reached = match self.chains.get(&org) {
            Some((seq, _)) => format!("ends at event {seq}"),
            None => "holds no event".to_owned(),
        };
        self.problem(format!(
            "{org}: the export {reached}, short of event {} that the checkpoint signed for it, \
             with nothing that links to it (events were cut, or the chain was rewritten)",
            held.seq
        ));
    }

    /// One event of the current org's chain, exported or linked.
    fn event(&mut self, n: u64, e: &AuditEvent) {
        if e.compute_hash() != e.hash {
            self.problem(format!(
                "line {n}: event {} of {} does not hash to its `hash`",
                e.seq, e.org_id
            ));
        }
        let previous = self.chains.get(&e.org_id).cloned();
        if let Some((seq, hash)) = &previous
            && (Some(e.seq) != seq.checked_add(1) || e.prev_hash != *hash)
        {
            self.problem(format!(
                "line {n}: event {} of {} does not follow event {seq} of its chain",
                e.seq, e.org_id
            ));
        }
        if previous.is_none() {
            let genesis = e.seq == 1 && e.prev_hash == crate::audit::GENESIS_HASH;
            let after_head = matches!(&self.current, Some((_, Some(h)))
                if Some(e.seq) == h.seq.checked_add(1) && e.prev_hash == h.hash);
            if !genesis && !after_head && self.unrooted.len() < 100 {
                self.unrooted.push((e.org_id.clone(), e.seq));
            }
        }
        let mut finding = None;
        if let Some((_, Some(held))) = &mut self.current
            && !held.met
        {
            if e.seq == held.seq {
                if e.hash == held.hash {
                    held.met = true;
                } else {
                    finding = Some(format!(
                        "line {n}: event {} of {} is not the one the checkpoint signed (the \
                         chain was rewritten)",
                        e.seq, e.org_id
                    ));
                }
            } else if e.seq > held.seq {
                // Past the head without meeting it: only the event right
                // after it, as the first of the org's lines, may follow it.
                if previous.is_none()
                    && Some(e.seq) == held.seq.checked_add(1)
                    && e.prev_hash == held.hash
                {
                    held.met = true;
                } else {
                    finding = Some(format!(
                        "line {n}: event {} of {} does not lead back to event {} that the \
                         checkpoint signed",
                        e.seq, e.org_id, held.seq
                    ));
                    held.met = true; // said once
                }
            }
        }
        if let Some(f) = finding {
            self.problem(f);
        }
        self.chains
            .insert(e.org_id.clone(), (e.seq, e.hash.clone()));
    }

    fn problem(&mut self, what: String) {
        // A file changed at its start would report every line; the first
        // hundred say enough.
        if self.problems.len() < 100 {
            self.problems.push(what);
        }
    }

    /// The verdict.
    pub fn finish(mut self) -> ExportReport {
        self.close_current();
        let keys = std::mem::take(&mut self.keys);
        let by_kid = |kid: &str| keys.iter().find(|k| k.kid == kid);
        match self.manifest.take() {
            None => self.problem("no manifest line: the export is incomplete".into()),
            Some(m) => {
                if (m.count, m.proofs, m.linked) != (self.count, self.proofs, self.linked) {
                    self.problem(format!(
                        "the manifest counts {} events, {} proofs and {} linked events; the \
                         file has {}, {} and {}",
                        m.count, m.proofs, m.linked, self.count, self.proofs, self.linked
                    ));
                }
                if m.start.is_none() {
                    for (org, seq) in std::mem::take(&mut self.unrooted) {
                        self.problem(format!(
                            "{org}: its lines start at event {seq}, with nothing they follow \
                             (not its first event, a signed prune anchor or a checkpointed \
                             head) though the export has no start: its oldest events are \
                             missing"
                        ));
                    }
                }
                let sha = hex::encode(std::mem::take(&mut self.hasher).finalize());
                if m.sha256 != sha {
                    self.problem("the lines do not hash to the manifest's sha256".into());
                }
                match by_kid(&m.kid) {
                    None => self.problem(format!(
                        "the manifest is signed by key {}, which is not one of the keys given",
                        m.kid
                    )),
                    Some(k) if !k.verify(&m.signed_bytes(), &m.signature) => {
                        self.problem("the manifest's signature does not verify".into());
                    }
                    Some(_) => {}
                }
                match &m.checkpoint {
                    Some(c) => {
                        match by_kid(&c.kid) {
                            None => self.problem(format!(
                                "the checkpoint is signed by key {}, which is not one of the \
                                 keys given",
                                c.kid
                            )),
                            Some(k) if !c.verify(k) => {
                                self.problem("the checkpoint's signature does not verify".into());
                            }
                            Some(_) => {}
                        }
                        let stray: Vec<String> = self
                            .roots
                            .iter()
                            .filter(|((root, size), _)| {
                                hex::encode(root) != c.root_hash || *size != c.tree_size
                            })
                            .map(|(_, org)| org.clone())
                            .collect();
                        for org in stray {
                            self.problem(format!(
                                "the proof of {org}'s head does not lead to the checkpoint's root"
                            ));
                        }
                    }
                    None if !self.roots.is_empty() => {
                        self.problem("proof lines, but no checkpoint to hold them to".into());
                    }
                    None => {}
                }
            }
        }
        ExportReport {
            events: self.count,
            orgs: self.chains.len(),
            proven: self.proven,
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::audit::test_chain;
    use crate::checkpoints::{Heads, LeafSet};

    fn manifest(digest: LineDigest, checkpoint: Option<Checkpoint>, key: &SigningKey) -> Vec<u8> {
        manifest_from(digest, checkpoint, None, key)
    }

    fn manifest_from(
        digest: LineDigest,
        checkpoint: Option<Checkpoint>,
        start: Option<DateTime<Utc>>,
        key: &SigningKey,
    ) -> Vec<u8> {
        let d = digest.finish();
        let mut m = Manifest {
            org_id: "a".into(),
            scope: "subtree".into(),
            start,
            end: None,
            count: d.count,
            proofs: d.proofs,
            linked: d.linked,
            sha256: d.sha256,
            checkpoint,
            kid: String::new(),
            signature: String::new(),
        };
        m.sign(key);
        m.line()
    }

    fn export(events: &[AuditEvent], key: &SigningKey) -> Vec<u8> {
        let mut out = Vec::new();
        let mut digest = LineDigest::default();
        events.iter().for_each(|e| digest.write(e, &mut out));
        out.extend(manifest(digest, None, key));
        out
    }

    fn verify(file: &[u8], key: &SigningKey) -> ExportReport {
        let mut v = ExportVerifier::new(vec![key.public.clone()]);
        for line in file.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            v.push_line(line);
        }
        v.finish()
    }

    /// A checkpoint signed by `key` over the heads `(org, seq, hash)`, in
    /// org order, and each org's proof in it.
    fn checkpoint(heads: &[(&str, i64, &str)], key: &SigningKey) -> (Checkpoint, Vec<ExportProof>) {
        let heads: Heads = heads
            .iter()
            .map(|(org, seq, hash)| Head {
                org_id: (*org).into(),
                seq: *seq,
                hash: (*hash).into(),
            })
            .collect();
        let leaves = LeafSet::new(&heads);
        let mut c = Checkpoint {
            id: "ckpt_1".into(),
            created_at: DateTime::<Utc>::default(),
            tree_size: i64::try_from(leaves.size()).unwrap(),
            root_hash: hex::encode(leaves.root()),
            prev_id: None,
            kid: key.public.kid.clone(),
            signature: String::new(),
        };
        c.signature = key.sign(&c.signed_bytes());
        let proofs = heads
            .iter()
            .enumerate()
            .map(|(i, h)| ExportProof {
                leaf: h.to_head(),
                leaf_index: i64::try_from(i).unwrap(),
                tree_size: c.tree_size,
                path: leaves
                    .inclusion_path(i)
                    .unwrap()
                    .iter()
                    .map(hex::encode)
                    .collect(),
            })
            .collect();
        (c, proofs)
    }

    /// How orgd writes one org: its proof, the events between the head and
    /// the window, the window's events, then those up to the head.
    fn write_org(
        digest: &mut LineDigest,
        out: &mut Vec<u8>,
        chain: &[AuditEvent],
        window: std::ops::RangeInclusive<i64>,
        proof: Option<ExportProof>,
    ) {
        let seqs = |r: std::ops::RangeInclusive<i64>| -> Vec<AuditEvent> {
            chain
                .iter()
                .filter(|e| r.contains(&e.seq))
                .cloned()
                .collect()
        };
        let head = proof.as_ref().map(|p| p.leaf.seq);
        let org_id = chain[0].org_id.clone();
        if let Some(p) = proof {
            digest.write_proof(p, out);
        }
        if let Some(h) = head
            && h + 1 < *window.start()
        {
            let events = seqs(h + 1..=window.start() - 1);
            digest.write_link(
                ExportLink {
                    org_id: org_id.clone(),
                    events,
                },
                out,
            );
        }
        seqs(window.clone())
            .iter()
            .for_each(|e| digest.write(e, out));
        if let Some(h) = head
            && h > *window.end()
        {
            let events = seqs(window.end() + 1..=h);
            digest.write_link(ExportLink { org_id, events }, out);
        }
    }

    #[test]
    fn an_export_verifies_and_any_byte_changed_is_refused() {
        let key = SigningKey::from_seed(&[3; 32]);
        let mut events = test_chain("a", 3);
        events.extend(test_chain("b", 2));
        let file = export(&events, &key);
        let report = verify(&file, &key);
        assert_eq!(report.problems, Vec::<String>::new());
        assert_eq!((report.events, report.orgs, report.proven), (5, 2, 0));
        for i in 0..file.len() {
            if file[i] == b'\n' {
                continue;
            }
            let mut bent = file.clone();
            bent[i] ^= 0x01;
            assert!(
                !verify(&bent, &key).problems.is_empty(),
                "byte {i}: {}",
                String::from_utf8_lossy(&bent[i.saturating_sub(40)..(i + 40).min(bent.len())])
            );
        }
        assert!(
            !verify(&file, &SigningKey::from_seed(&[4; 32]))
                .problems
                .is_empty()
        );
    }

    #[test]
    fn a_gap_in_a_chain_or_a_missing_manifest_is_refused() {
        let key = SigningKey::from_seed(&[3; 32]);
        let mut events = test_chain("a", 4);
        events.remove(2);
        let report = verify(&export(&events, &key), &key);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains("does not follow event 2"));

        let file = export(&test_chain("a", 2), &key);
        let cut = &file[..file.len() - 2];
        let cut = &cut[..cut.iter().rposition(|b| *b == b'\n').unwrap()];
        let report = verify(cut, &key);
        assert!(
            report.problems[0].contains("no manifest"),
            "{:?}",
            report.problems
        );
    }

    /// The export orgd makes of chains `a` (5 events) and `b` (3) against a
    /// checkpoint holding a at `a_head` and b at 3, with a's window.
    fn held_export(
        a: &[AuditEvent],
        a_head: &AuditEvent,
        a_window: std::ops::RangeInclusive<i64>,
        key: &SigningKey,
    ) -> Vec<u8> {
        let b = test_chain("b", 3);
        let (c, mut proofs) = checkpoint(
            &[("a", a_head.seq, &a_head.hash), ("b", 3, &b[2].hash)],
            key,
        );
        let (mut out, mut digest) = (Vec::new(), LineDigest::default());
        // A window that does not start at the chain's first event has a
        // start (any: the verifier does not read events' times).
        let start = (*a_window.start() > 1).then(DateTime::<Utc>::default);
        write_org(&mut digest, &mut out, a, a_window, Some(proofs.remove(0)));
        write_org(&mut digest, &mut out, &b, 1..=3, Some(proofs.remove(0)));
        out.extend(manifest_from(digest, Some(c), start, key));
        out
    }

    #[test]
    fn every_org_is_proven_to_reach_its_signed_head_whatever_the_window() {
        let key = SigningKey::from_seed(&[3; 32]);
        let a = test_chain("a", 5);
        for (head, window) in [
            (5, 1..=5),
            (3, 1..=5),
            (5, 1..=2),
            (2, 4..=5),
            (3, 4..=4),
            (3, 3..=3),
        ] {
            let file = held_export(&a, &a[head - 1], window.clone(), &key);
            let report = verify(&file, &key);
            assert_eq!(
                report.problems,
                Vec::<String>::new(),
                "head {head}, {window:?}"
            );
            assert_eq!(report.proven, 2, "head {head}, {window:?}");
        }
    }

    #[test]
    fn a_cut_tail_is_refused_offline_though_every_link_left_holds() {
        let key = SigningKey::from_seed(&[3; 32]);
        let a = test_chain("a", 5);
        // The checkpoint signed event 5; the chain exported ends at 3.
        let report = verify(&held_export(&a[..3], &a[4], 1..=3, &key), &key);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].contains("short of event 5"),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_consistently_rewritten_chain_is_refused_offline() {
        let key = SigningKey::from_seed(&[3; 32]);
        let honest = test_chain("a", 5);
        // From event 3 on, another history with every hash recomputed.
        let mut forged = honest[..2].to_vec();
        for seq in 3..=5 {
            let mut e = honest[usize::try_from(seq - 1).unwrap()].clone();
            e.prev_hash = forged.last().unwrap().hash.clone();
            e.changes = json!({"after": {"name": format!("forged {seq}")}});
            e.hash = e.compute_hash();
            forged.push(e);
        }
        assert_eq!(
            verify(&export(&forged, &key), &key).problems,
            Vec::<String>::new()
        );
        // (A history forged only after the checkpointed head is not the
        // checkpoint's to catch: that is what the next checkpoint is for.)
        for (head, window) in [(5, 1..=5), (4, 1..=5), (5, 1..=3), (3, 4..=5)] {
            let file = held_export(&forged, &honest[head - 1], window.clone(), &key);
            let report = verify(&file, &key);
            assert!(
                report
                    .problems
                    .iter()
                    .any(|p| p.contains("checkpoint signed") || p.contains("short of")),
                "head {head}, {window:?}: {:?}",
                report.problems
            );
        }
    }

    #[test]
    fn a_proof_that_leads_elsewhere_or_a_link_out_of_place_is_refused() {
        let key = SigningKey::from_seed(&[3; 32]);
        let a = test_chain("a", 5);
        let b = test_chain("b", 3);
        let (c, mut proofs) = checkpoint(&[("a", 5, &a[4].hash), ("b", 3, &b[2].hash)], &key);
        proofs[0].path[0] = hex::encode([7; 32]);
        let (mut out, mut digest) = (Vec::new(), LineDigest::default());
        write_org(&mut digest, &mut out, &a, 1..=5, Some(proofs.remove(0)));
        write_org(&mut digest, &mut out, &b, 1..=3, Some(proofs.remove(0)));
        out.extend(manifest(digest, Some(c.clone()), &key));
        let report = verify(&out, &key);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("does not lead to the checkpoint's root")),
            "{:?}",
            report.problems
        );

        // a's link after b's lines.
        let (_, mut proofs) = checkpoint(&[("a", 5, &a[4].hash), ("b", 3, &b[2].hash)], &key);
        let (mut out, mut digest) = (Vec::new(), LineDigest::default());
        digest.write_proof(proofs.remove(0), &mut out);
        a[..3].iter().for_each(|e| digest.write(e, &mut out));
        write_org(&mut digest, &mut out, &b, 1..=3, Some(proofs.remove(0)));
        digest.write_link(
            ExportLink {
                org_id: "a".into(),
                events: a[3..].to_vec(),
            },
            &mut out,
        );
        out.extend(manifest(digest, Some(c), &key));
        let report = verify(&out, &key);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("a link of a outside")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_signed_prune_anchor_past_the_head_stands_for_the_removed_events() {
        let key = SigningKey::from_seed(&[3; 32]);
        let a = test_chain("a", 6);
        let (c, proofs) = checkpoint(&[("a", 2, &a[1].hash)], &key);
        let anchor = |signer: &SigningKey, seq: usize| {
            let mut anchor = PruneAnchor {
                org_id: "a".into(),
                seq: i64::try_from(seq).unwrap(),
                hash: a[seq - 1].hash.clone(),
                pruned_at: DateTime::<Utc>::default(),
                kid: String::new(),
                signature: String::new(),
            };
            anchor.sign(signer);
            anchor
        };
        let pruned = |proof: Option<ExportProof>, anchor: Option<PruneAnchor>, from: usize| {
            let (mut out, mut digest) = (Vec::new(), LineDigest::default());
            if let Some(p) = proof {
                digest.write_proof(p, &mut out);
            }
            if let Some(x) = anchor {
                digest.write_anchor(x, &mut out);
            }
            a[from..].iter().for_each(|e| digest.write(e, &mut out));
            out.extend(manifest(digest, Some(c.clone()), &key));
            verify(&out, &key)
        };
        // Events 1-4 pruned; the checkpoint held 2.
        let report = pruned(Some(proofs[0].clone()), Some(anchor(&key, 4)), 4);
        assert_eq!(report.problems, Vec::<String>::new());
        assert_eq!(report.proven, 1);
        // An org the checkpoint does not hold, pruned: the anchor roots it.
        let report = pruned(None, Some(anchor(&key, 4)), 4);
        assert_eq!(report.problems, Vec::<String>::new());
        // Signed by a key not given (one added to the database, say): refused.
        let report = pruned(
            Some(proofs[0].clone()),
            Some(anchor(&SigningKey::from_seed(&[4; 32]), 4)),
            4,
        );
        assert!(
            report.problems[0].contains("prune anchor"),
            "{:?}",
            report.problems
        );
        // Without the anchor, events 5 and 6 lead back to nothing signed.
        let report = pruned(Some(proofs[0].clone()), None, 4);
        assert!(
            report.problems[0].contains("does not lead back to event 2"),
            "{:?}",
            report.problems
        );
        // The oldest events cut, with no window and no anchor: refused,
        // though the rest reaches the checkpointed head.
        let report = pruned(Some(proofs[0].clone()), None, 1);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].contains("its oldest events are missing"),
            "{:?}",
            report.problems
        );
        let report = pruned(None, None, 3);
        assert!(
            report.problems[0].contains("its oldest events are missing"),
            "{:?}",
            report.problems
        );
    }
}
