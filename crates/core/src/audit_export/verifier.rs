//! [`ExportVerifier`]: checks an export file line by line, offline, with
//! the trusted public keys alone (what `orgd audit verify-export` runs).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::checkpoints::{PruneAnchor, PublicKey};
use crate::merkle::Hash;

use super::format::*;

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
