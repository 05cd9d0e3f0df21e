//! Signed exports of the audit trail (SPEC §12): NDJSON, one audit event a
//! line as the API serves it, then one manifest line
//! `{"manifest": {…}}` that counts and hashes the event lines, carries the
//! latest signed checkpoint, and is itself signed. [`ExportVerifier`] checks
//! such a file line by line, in memory that grows with the orgs it holds,
//! not the events, with no server and no database.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, canonical_json};
use crate::checkpoint::{Checkpoint, PublicKey, SigningKey};

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
    /// SHA-256 (hex) of every event line, each with its `\n`, in order.
    pub sha256: String,
    /// The latest signed checkpoint when the export began; `null` before
    /// the first.
    pub checkpoint: Option<Checkpoint>,
    /// The key that signed the manifest.
    pub kid: String,
    /// Ed25519 over [`Manifest::signed_bytes`], base64url without padding.
    pub signature: String,
}

impl Manifest {
    /// What is signed: the canonical JSON of every field but `signature`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        canonical_json(&json!({
            "org_id": self.org_id,
            "scope": self.scope,
            "start": self.start.map(crate::time::format),
            "end": self.end.map(crate::time::format),
            "count": self.count,
            "sha256": self.sha256,
            "checkpoint": self.checkpoint,
            "kid": self.kid,
        }))
        .into_bytes()
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

/// Hashes and counts event lines as they are written.
#[derive(Debug, Default, Clone)]
pub struct LineDigest {
    hasher: Sha256,
    count: i64,
}

impl LineDigest {
    /// Appends `event`'s line to `out`, and counts and hashes it.
    pub fn write(&mut self, event: &AuditEvent, out: &mut Vec<u8>) {
        let from = out.len();
        // An event always serialises; were it not to, the line would be
        // missing and the count and hash would say so.
        if serde_json::to_writer(&mut *out, event).is_ok() {
            out.push(b'\n');
            self.hasher.update(&out[from..]);
            self.count += 1;
        } else {
            out.truncate(from);
        }
    }

    /// `(count, sha256 hex)`.
    pub fn finish(self) -> (i64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

#[derive(serde::Deserialize)]
struct ManifestLine {
    manifest: Manifest,
}

/// Checks an export line by line.
#[derive(Debug, Default)]
pub struct ExportVerifier {
    /// Each org's last event so far: `(seq, hash)`.
    chains: HashMap<String, (i64, String)>,
    hasher: Sha256,
    count: i64,
    lines: u64,
    manifest: Option<Manifest>,
    problems: Vec<String>,
}

/// What [`ExportVerifier`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub events: i64,
    pub orgs: usize,
    /// One sentence per finding; empty when the export is whole and signed.
    pub problems: Vec<String>,
}

impl ExportVerifier {
    /// One line, without its `\n`.
    pub fn push_line(&mut self, line: &[u8]) {
        self.lines += 1;
        let n = self.lines;
        if self.manifest.is_some() {
            self.problem(format!("line {n}: a line after the manifest"));
            return;
        }
        if let Ok(m) = serde_json::from_slice::<ManifestLine>(line) {
            // Only the form orgd writes: a key misspelt would otherwise
            // read as a field left out, which the signature cannot see.
            if m.manifest.line().strip_suffix(b"\n") != Some(line) {
                self.problem(format!("line {n}: the manifest is not as orgd writes it"));
            }
            self.manifest = Some(m.manifest);
            return;
        }
        self.hasher.update(line);
        self.hasher.update(b"\n");
        self.count += 1;
        let e: AuditEvent = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(why) => {
                self.problem(format!("line {n}: not an audit event ({why})"));
                return;
            }
        };
        if e.compute_hash() != e.hash {
            self.problem(format!(
                "line {n}: event {} of {} does not hash to its `hash`",
                e.seq, e.org_id
            ));
        }
        if let Some((seq, hash)) = self.chains.get(&e.org_id)
            && (e.seq != seq + 1 || e.prev_hash != *hash)
        {
            self.problem(format!(
                "line {n}: event {} of {} does not follow event {seq} of its chain",
                e.seq, e.org_id
            ));
        }
        self.chains.insert(e.org_id.clone(), (e.seq, e.hash));
    }

    fn problem(&mut self, what: String) {
        // A file changed at its start would report every line; the first
        // hundred say enough.
        if self.problems.len() < 100 {
            self.problems.push(what);
        }
    }

    /// The verdict, trusting `keys` for the manifest's and the
    /// checkpoint's signatures.
    pub fn finish(mut self, keys: &[PublicKey]) -> ExportReport {
        let by_kid = |kid: &str| keys.iter().find(|k| k.kid == kid);
        match self.manifest.take() {
            None => self.problem("no manifest line: the export is incomplete".into()),
            Some(m) => {
                if m.count != self.count {
                    self.problem(format!(
                        "the manifest counts {} events; the file has {}",
                        m.count, self.count
                    ));
                }
                let sha = hex::encode(std::mem::take(&mut self.hasher).finalize());
                if m.sha256 != sha {
                    self.problem("the event lines do not hash to the manifest's sha256".into());
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
                if let Some(c) = &m.checkpoint {
                    match by_kid(&c.kid) {
                        None => self.problem(format!(
                            "the checkpoint is signed by key {}, which is not one of the keys \
                             given",
                            c.kid
                        )),
                        Some(k) if !c.verify(k) => {
                            self.problem("the checkpoint's signature does not verify".into());
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        ExportReport {
            events: self.count,
            orgs: self.chains.len(),
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::audit::test_chain;

    fn export(events: &[AuditEvent], key: &SigningKey) -> Vec<u8> {
        let mut out = Vec::new();
        let mut digest = LineDigest::default();
        events.iter().for_each(|e| digest.write(e, &mut out));
        let (count, sha256) = digest.finish();
        let mut m = Manifest {
            org_id: "a".into(),
            scope: "subtree".into(),
            start: None,
            end: None,
            count,
            sha256,
            checkpoint: None,
            kid: String::new(),
            signature: String::new(),
        };
        m.sign(key);
        out.extend(m.line());
        out
    }

    fn verify(file: &[u8], key: &SigningKey) -> ExportReport {
        let mut v = ExportVerifier::default();
        for line in file.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            v.push_line(line);
        }
        v.finish(std::slice::from_ref(&key.public))
    }

    #[test]
    fn an_export_verifies_and_any_byte_changed_is_refused() {
        let key = SigningKey::from_seed(&[3; 32]);
        let mut events = test_chain("a", 3);
        events.extend(test_chain("b", 2));
        let file = export(&events, &key);
        let report = verify(&file, &key);
        assert_eq!(report.problems, Vec::<String>::new());
        assert_eq!((report.events, report.orgs), (5, 2));
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
}
