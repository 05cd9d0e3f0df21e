//! Someone holding the database, with the server stopped: a chain rewritten
//! with consistent hashes, a tail cut, and the checkpoint's stored leaves
//! changed to match. After the restart, the API, the CLI and an offline
//! `verify-export` each see it, and orgd signs no export of it (SPEC §12).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawDb, Storage, TestApp, problem, run_cli};
use orgd_core::audit::AuditEvent;
use orgd_core::checkpoints::SigningKey;
use orgd_core::audit_export::{ExportLink, ExportProof, LineDigest, Manifest};

/// The signing key's seed, given in a file so that the test can sign as
/// orgd does (the attacker who holds a database with the seed in it can
/// too: see docs/verifying-the-audit-trail.md).
const SEED: [u8; 32] = [9; 32];

struct Tampered {
    app: TestApp,
    dir: tempfile::TempDir,
    /// The export of `a`'s trail made before the tampering, as served.
    honest_export: Vec<u8>,
    public_key: String,
    /// `a`'s events, oldest first, before the tampering.
    events: Vec<AuditEvent>,
}

/// Orgs `a` (five events) and `b` under the root, a signed checkpoint of
/// them, an honest export of `a`; then the server stops, `tamper` changes
/// the database, and a new server starts on it.
async fn tampered(tamper: impl AsyncFnOnce(&mut RawDb, &[AuditEvent])) -> Tampered {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("audit.key");
    std::fs::write(&key_file, hex::encode(SEED)).unwrap();
    let file = key_file.clone();
    let app = TestApp::spawn_with(move |c| c.audit_signing_key_file = Some(file)).await;
    app.orgs("root/a root/b").await;
    for n in 2..=5 {
        app.patch(&app.root_key, "/orgs/a", json!({"name": format!("A {n}")}))
            .await;
    }
    app.service.make_checkpoint().await.unwrap();
    let mut events: Vec<AuditEvent> =
        serde_json::from_value(app.get_json::<Value>(&app.root_key, "/orgs/a/audit").await)
            .unwrap();
    events.reverse();
    assert_eq!(events.len(), 5);
    let honest_export = export(&app, "/orgs/a/audit/export").await;
    let public_key = app.active_audit_key().await;

    let root_key = app.root_key.clone();
    let storage: Storage = app.stop().await;
    let mut db = RawDb::connect(&storage.database_url).await;
    tamper(&mut db, &events).await;
    drop(db);
    let app = TestApp::start_on(storage, root_key, move |c| {
        c.audit_signing_key_file = Some(key_file);
    })
    .await;
    Tampered {
        app,
        dir,
        honest_export,
        public_key,
        events,
    }
}

async fn export(app: &TestApp, path: &str) -> Vec<u8> {
    let res = app.get(&app.root_key, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.bytes().await.unwrap().to_vec()
}

/// `a`'s events from seq 3 on rewritten with other changes, every hash
/// recomputed: a chain whose every link holds.
fn rewritten(events: &[AuditEvent]) -> Vec<AuditEvent> {
    let mut forged = events[..2].to_vec();
    for e in &events[2..] {
        let mut f = e.clone();
        f.prev_hash = forged.last().unwrap().hash.clone();
        f.changes =
            json!({"before": {"name": "Org a"}, "after": {"name": format!("Forged {}", e.seq)}});
        f.hash = f.compute_hash();
        forged.push(f);
    }
    forged
}

async fn write_events(db: &mut RawDb, events: &[AuditEvent]) {
    db.drop_audit_guard().await;
    for e in events {
        let changes = e.changes.to_string().replace('\'', "''");
        let n = db
            .execute(&format!(
                "UPDATE audit_events SET changes = '{changes}', prev_hash = '{}', hash = '{}' \
                 WHERE org_id = '{}' AND seq = {}",
                e.prev_hash, e.hash, e.org_id, e.seq
            ))
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}

/// What an orgd that signed whatever its database held would have served:
/// `export` with `a`'s event lines replaced by `events`, counted, hashed
/// and signed again with orgd's key, its checkpoint and proofs kept.
fn resigned(export: &[u8], events: &[AuditEvent]) -> Vec<u8> {
    let (mut out, mut digest) = (Vec::new(), LineDigest::default());
    let mut manifest: Option<Manifest> = None;
    let mut replaced = false;
    for line in export.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).unwrap();
        if let Some(m) = v.get("manifest") {
            manifest = Some(serde_json::from_value(m.clone()).unwrap());
        } else if let Some(p) = v.get("proof") {
            let p: ExportProof = serde_json::from_value(p.clone()).unwrap();
            digest.write_proof(p, &mut out);
        } else if let Some(l) = v.get("link") {
            let l: ExportLink = serde_json::from_value(l.clone()).unwrap();
            digest.write_link(l, &mut out);
        } else if v["org_id"] == "a" {
            if !replaced {
                events.iter().for_each(|e| digest.write(e, &mut out));
                replaced = true;
            }
        } else {
            let e: AuditEvent = serde_json::from_value(v).unwrap();
            digest.write(&e, &mut out);
        }
    }
    let mut m = manifest.unwrap();
    let d = digest.finish();
    (m.count, m.proofs, m.linked, m.sha256) = (d.count, d.proofs, d.linked, d.sha256);
    m.sign(&SigningKey::from_seed(&SEED));
    out.extend(m.line());
    out
}

async fn verify_export(t: &Tampered, body: &[u8]) -> (i32, String) {
    let file = t.dir.path().join(format!(
        "{}.ndjson",
        orgd_core::ids::prefixed_ulid("export")
    ));
    std::fs::write(&file, body).unwrap();
    let (code, out, err) = run_cli(&[
        "audit",
        "verify-export",
        file.to_str().unwrap(),
        "--public-key",
        &t.public_key,
    ])
    .await;
    (code, format!("{out}{err}"))
}

async fn cli_verify(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--database-url", &app.database_url]);
    let (code, out, err) = run_cli(&all).await;
    (code, format!("{out}{err}"))
}

/// orgd answers 409 `audit-chain-invalid` to an export of `a`'s trail, on
/// its own or in a subtree.
async fn no_export_is_signed_over_a(t: &Tampered) {
    for path in [
        "/orgs/a/audit/export",
        "/orgs/root/audit/export?scope=subtree",
    ] {
        let res = t.app.get(&t.app.root_key, path).await;
        let p = problem(res, StatusCode::CONFLICT).await;
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .ends_with("/audit-chain-invalid"),
            "{path}: {p}"
        );
        assert!(p["detail"].as_str().unwrap().contains("of a "), "{p}");
    }
}

/// `b`, untouched, still exports, and the export verifies offline.
async fn b_still_exports(t: &Tampered) {
    let b = export(&t.app, "/orgs/b/audit/export").await;
    let (code, out) = verify_export(t, &b).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 organization(s) proven"), "{out}");
}

#[tokio::test]
async fn a_chain_rewritten_while_stopped_is_found_and_never_exported_signed() {
    let t = tampered(async |db, events| write_events(db, &rewritten(events)[2..]).await).await;
    let v = t.app.verify("a").await;
    assert_eq!(
        (v["valid"].clone(), v["first_bad_seq"].clone()),
        (json!(false), json!(5)),
        "{v}"
    );
    let (code, out) = cli_verify(&t.app, &["--org", "a"]).await;
    assert_eq!(code, 1, "{out}");
    let (code, out) = cli_verify(&t.app, &["--all"]).await;
    assert_eq!(code, 1, "{out}");
    no_export_is_signed_over_a(&t).await;
    b_still_exports(&t).await;

    // The honest export made before still verifies; the same export of the
    // rewritten chain, signed with orgd's own key, does not: its checkpoint
    // holds the real head.
    let (code, out) = verify_export(&t, &t.honest_export).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 organization(s) proven"), "{out}");
    let forged = resigned(&t.honest_export, &rewritten(&t.events));
    let (code, out) = verify_export(&t, &forged).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is not the one the checkpoint signed"),
        "{out}"
    );
}

#[tokio::test]
async fn a_tail_cut_while_stopped_is_found_and_never_exported_signed() {
    let t = tampered(async |db, _| {
        let n = db
            .execute("DELETE FROM audit_events WHERE org_id = 'a' AND seq > 3")
            .await
            .unwrap();
        assert_eq!(n, 2);
    })
    .await;
    let v = t.app.verify("a").await;
    assert_eq!(
        (v["valid"].clone(), v["truncated"].clone()),
        (json!(false), json!(true)),
        "{v}"
    );
    let (code, out) = cli_verify(&t.app, &["--org", "a"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"truncated\": true"), "{out}");
    no_export_is_signed_over_a(&t).await;
    b_still_exports(&t).await;

    let cut = resigned(&t.honest_export, &t.events[..3]);
    let (code, out) = verify_export(&t, &cut).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ends at event 3, short of event 5"), "{out}");
}

#[tokio::test]
async fn events_deleted_with_their_checkpoint_leaves_are_found() {
    let t = tampered(async |db, _| {
        db.execute("DELETE FROM audit_events WHERE org_id = 'a' AND seq > 2")
            .await
            .unwrap();
        let n = db
            .execute("DELETE FROM checkpoint_leaves WHERE org_id = 'a'")
            .await
            .unwrap();
        assert!(n >= 1);
    })
    .await;
    let v = t.app.verify("a").await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["checkpoint_invalid"], true, "{v}");
    let (code, out) = cli_verify(&t.app, &["--all"]).await;
    assert_eq!(code, 1, "{out}");
    let res = t.app.get(&t.app.root_key, "/orgs/a/audit/proof").await;
    problem(res, StatusCode::CONFLICT).await;
    no_export_is_signed_over_a(&t).await;
}

#[tokio::test]
async fn checkpoint_leaves_replaced_with_shorter_heads_are_found() {
    let t = tampered(async |db, events| {
        db.execute("DELETE FROM audit_events WHERE org_id = 'a' AND seq > 2")
            .await
            .unwrap();
        let drop_trigger = match db {
            RawDb::Sqlite(_) => "DROP TRIGGER checkpoint_leaves_append_only",
            RawDb::Postgres(_) => "DROP TRIGGER checkpoint_leaves_append_only ON checkpoint_leaves",
        };
        db.execute(drop_trigger).await.unwrap();
        let n = db
            .execute(&format!(
                "UPDATE checkpoint_leaves SET seq = 2, hash = '{}' WHERE org_id = 'a'",
                events[1].hash
            ))
            .await
            .unwrap();
        assert!(n >= 1);
    })
    .await;
    let v = t.app.verify("a").await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["checkpoint_invalid"], true, "{v}");
    assert_eq!(v["truncated"], false, "{v}");
    let (code, out) = cli_verify(&t.app, &["--org", "a"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"checkpoint_invalid\": true"), "{out}");
    // b's chain is intact, but nothing signed vouches for it either.
    assert_eq!(t.app.verify("b").await["checkpoint_invalid"], true);
    no_export_is_signed_over_a(&t).await;
}

/// What a key kept in a file does not stop: someone with the database cuts
/// a chain's oldest events, lists a key of their own in it, and signs a
/// prune anchor with that key. The server trusts the keys its database
/// lists, and signs the export; the export fails offline under the key
/// the auditor kept.
#[tokio::test]
async fn oldest_events_cut_behind_an_anchor_signed_by_a_key_added_to_the_database_fail_offline() {
    use orgd_core::checkpoints::{AuditKeyRecord, PruneAnchor};
    let t = tampered(async |db, events| {
        let at = "2026-01-01T00:00:00.000Z";
        let forger = SigningKey::from_seed(&[66; 32]);
        let record = AuditKeyRecord::of(&forger, false, chrono::DateTime::default());
        db.execute(&format!(
            "INSERT INTO audit_keys (kid, public_key, seed, created_at, retired_at) \
             VALUES ('{}', '{}', NULL, '{at}', '{at}')",
            record.kid, record.public_key
        ))
        .await
        .unwrap();
        let mut anchor = PruneAnchor {
            org_id: "a".into(),
            seq: 2,
            hash: events[1].hash.clone(),
            pruned_at: orgd_core::time::parse(at).unwrap(),
            kid: String::new(),
            signature: String::new(),
        };
        anchor.sign(&forger);
        db.execute(&format!(
            "INSERT INTO audit_anchors (org_id, seq, hash, pruned_at, kid, signature) \
             VALUES ('a', 2, '{}', '{at}', '{}', '{}')",
            anchor.hash, anchor.kid, anchor.signature
        ))
        .await
        .unwrap();
        let n = db
            .execute("DELETE FROM audit_events WHERE org_id = 'a' AND seq <= 2")
            .await
            .unwrap();
        assert_eq!(n, 2);
    })
    .await;
    let body = export(&t.app, "/orgs/a/audit/export").await;
    let (code, out) = verify_export(&t, &body).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("prune anchor of a is not signed by a key given"),
        "{out}"
    );
    assert!(out.contains("its oldest events are missing"), "{out}");
}

/// The oldest events cut with no anchor at all: the server sees the chain
/// start past its first event, and signs nothing.
#[tokio::test]
async fn oldest_events_cut_are_found_and_never_exported_signed() {
    let t = tampered(async |db, _| {
        db.execute("DELETE FROM audit_events WHERE org_id = 'a' AND seq <= 2")
            .await
            .unwrap();
    })
    .await;
    let v = t.app.verify("a").await;
    assert_eq!(v["valid"], false, "{v}");
    // The head is as signed: the walk as the export streams finds it. In
    // the first chunk, that is a 409; further on, the stream ends with no
    // manifest.
    let res = t.app.get(&t.app.root_key, "/orgs/a/audit/export").await;
    problem(res, StatusCode::CONFLICT).await;
    t.app.org("root", "0first").await; // streamed before a, in id order
    for n in 0..1000 {
        t.app
            .patch(
                &t.app.root_key,
                "/orgs/0first",
                json!({"name": format!("{n}")}),
            )
            .await;
    }
    let res = t
        .app
        .get(&t.app.root_key, "/orgs/root/audit/export?scope=subtree")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.bytes().await.unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&body).contains("\"manifest\""),
        "a manifest was signed"
    );
    let (code, out) = verify_export(&t, &body).await;
    assert_eq!(code, 1, "{out}");
    b_still_exports(&t).await;
}
