//! The export format and its verifier, tested together: files written as
//! the server writes them, then changed the ways an attacker would.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::format::*;
use super::verifier::*;
use crate::audit::test_chain;

use chrono::{DateTime, Utc};

use crate::audit::AuditEvent;
use crate::checkpoints::{Checkpoint, Head, Heads, LeafSet, PruneAnchor, SigningKey};

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
