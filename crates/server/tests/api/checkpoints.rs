//! Signed checkpoints of the audit trail (SPEC §12): keys, checkpoints,
//! inclusion proofs checked by a verifier written here from RFC 9162 and
//! RFC 8032 (not orgd's code), and what a checkpoint exposes: a cut tail, a
//! rewritten chain, edited checkpoints.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orgd_core::checkpoints::service::CheckpointMade;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{RawDb, TestApp, problem, run_cli};

// ---- An independent verifier: RFC 9162 §2.1.1 and §2.1.3.2, RFC 8032. ----

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 9162 §2.1.1: a leaf's hash is SHA-256(0x00 ‖ data); the leaf data is
/// SPEC §12's canonical JSON of the head, written out by hand.
fn leaf_hash(org_id: &str, seq: i64, hash: &str) -> [u8; 32] {
    let data = format!(r#"{{"hash":"{hash}","org_id":"{org_id}","seq":{seq}}}"#);
    sha256(&[&[0], data.as_bytes()])
}

/// RFC 9162 §2.1.3.2: the root an inclusion path leads to, or `None` when
/// the path cannot belong to a tree of `size` leaves.
fn root_from_path(index: u64, size: u64, leaf: [u8; 32], path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = sha256(&[&[1], p, &r]);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = sha256(&[&[1], &r, p]);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

fn unhex(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// Whether a checkpoint as served is signed by `public_key` (base64url):
/// Ed25519 over the canonical JSON of its five signed fields.
fn signed_by(c: &Value, public_key: &str) -> bool {
    let signed = format!(
        r#"{{"created_at":{},"id":{},"prev_id":{},"root_hash":{},"tree_size":{}}}"#,
        c["created_at"], c["id"], c["prev_id"], c["root_hash"], c["tree_size"]
    );
    let key: [u8; 32] = URL_SAFE_NO_PAD
        .decode(public_key)
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(c["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    key.verify_strict(
        signed.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .is_ok()
}

/// Whether `proof` (as served) shows its leaf in its checkpoint's tree.
fn proves(proof: &Value) -> bool {
    let leaf = &proof["leaf"];
    let path: Vec<[u8; 32]> = proof["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unhex(h.as_str().unwrap()))
        .collect();
    let root = root_from_path(
        proof["leaf_index"].as_u64().unwrap(),
        proof["checkpoint"]["tree_size"].as_u64().unwrap(),
        leaf_hash(
            leaf["org_id"].as_str().unwrap(),
            leaf["seq"].as_i64().unwrap(),
            leaf["hash"].as_str().unwrap(),
        ),
        &path,
    );
    root == Some(unhex(proof["checkpoint"]["root_hash"].as_str().unwrap()))
}

// ---- Helpers. ----

async fn checkpoint(app: &TestApp) -> Value {
    match app.service.make_checkpoint().await.unwrap() {
        CheckpointMade::Made(c) => serde_json::to_value(c).unwrap(),
        other => panic!("expected a checkpoint, got {other:?}"),
    }
}

/// The public key (base64url) of `kid`, from the unauthenticated list.
async fn public_key(app: &TestApp, kid: &str) -> String {
    let keys = app.audit_keys().await;
    keys.as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {keys}"))["public_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--database-url", &app.database_url]);
    let (code, out, err) = run_cli(&all).await;
    (code, format!("{out}{err}"))
}

// ---- Tests. ----

#[tokio::test]
async fn every_orgs_head_is_proven_in_the_signed_checkpoint_by_an_independent_verifier() {
    let app = TestApp::spawn().await;
    app.orgs("root/acme/team root/beta root/gamma").await;
    let k = &app.root_key;
    app.patch(k, "/orgs/acme", json!({"name": "Acme 2"})).await;
    let (child_key, _) = app.key("acme", &["read"]).await;
    let c = checkpoint(&app).await;
    assert_eq!(c["prev_id"], Value::Null);
    assert_eq!(c["tree_size"], 5, "root, acme, team, beta, gamma");

    let latest: Value = app.get_json(&child_key, "/audit/checkpoints/latest").await;
    assert_eq!(latest, c);
    assert!(signed_by(
        &latest,
        &public_key(&app, c["kid"].as_str().unwrap()).await
    ));

    for (key, org) in [
        (k, "root"),
        (k, "beta"),
        (&child_key, "acme"),
        (&child_key, "team"),
    ] {
        let proof: Value = app.get_json(key, &format!("/orgs/{org}/audit/proof")).await;
        assert_eq!(proof["checkpoint"], c, "{org}");
        assert_eq!(proof["leaf"]["org_id"], org);
        let head = app.verify(org).await["head"].clone();
        assert_eq!(
            proof["leaf"]["hash"], head,
            "{org}: the proof is of its head"
        );
        assert!(proves(&proof), "{org}: {proof}");

        let mut bent = proof.clone();
        bent["leaf"]["seq"] = json!(proof["leaf"]["seq"].as_i64().unwrap() + 1);
        assert!(!proves(&bent), "{org}: a leaf changed is not proven");
    }
    // The leaf index is the org's place by id.
    let proof: Value = app.get_json(k, "/orgs/gamma/audit/proof").await;
    assert_eq!(proof["leaf_index"], 2);

    // A tenant proves only what it reaches.
    let res = app.get(&child_key, "/orgs/beta/audit/proof").await;
    problem(res, StatusCode::NOT_FOUND).await;

    // An older checkpoint still proves the head it held.
    app.patch(k, "/orgs/beta", json!({"name": "Beta 2"})).await;
    let second = checkpoint(&app).await;
    assert_eq!(second["prev_id"], c["id"]);
    let old: Value = app
        .get_json(
            k,
            &format!(
                "/orgs/beta/audit/proof?checkpoint={}",
                c["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(old["checkpoint"], c);
    assert!(proves(&old));
    let new: Value = app.get_json(k, "/orgs/beta/audit/proof").await;
    assert_eq!(new["checkpoint"], second);
    assert_eq!(new["leaf"]["seq"], old["leaf"]["seq"].as_i64().unwrap() + 1);
    assert!(proves(&new));
    let res = app
        .get(k, "/orgs/beta/audit/proof?checkpoint=ckpt_nope")
        .await;
    problem(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_checkpoint_is_made_only_when_a_head_moved_and_chains_to_the_one_before() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let res = app.get(k, "/audit/checkpoints/latest").await;
    problem(res, StatusCode::NOT_FOUND).await;

    let first = checkpoint(&app).await;
    assert_eq!(
        app.service.make_checkpoint().await.unwrap(),
        CheckpointMade::Unchanged
    );
    app.org("root", "a").await;
    let second = checkpoint(&app).await;
    app.patch(k, "/orgs/a", json!({"name": "A 2"})).await;
    let third = checkpoint(&app).await;
    assert_eq!(second["prev_id"], first["id"]);
    assert_eq!(third["prev_id"], second["id"]);
    assert_eq!(third["tree_size"], 2);

    let all: Vec<Value> = app.get_json(k, "/audit/checkpoints").await;
    assert_eq!(all, vec![first.clone(), second.clone(), third.clone()]);
    let after = format!("/audit/checkpoints?after={}", first["id"].as_str().unwrap());
    let rest: Vec<Value> = app.get_json(k, &after).await;
    assert_eq!(rest, vec![second.clone(), third.clone()]);
    let pages = app.all_pages(k, "/audit/checkpoints?limit=2", 2).await;
    assert_eq!(pages, all);

    let res = app.get(k, "/audit/checkpoints?after=ckpt_unknown").await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "after", "{p}");
    let (child_key, _) = app.key("a", &["read", "write", "delete", "admin"]).await;
    let res = app.get(&child_key, "/audit/checkpoints").await;
    problem(res, StatusCode::FORBIDDEN).await;

    // Two checkpointers at once (two nodes): one signs, the other stands down.
    app.patch(k, "/orgs/a", json!({"name": "A 3"})).await;
    let (x, y) = tokio::join!(app.service.make_checkpoint(), app.service.make_checkpoint());
    let made = [x.unwrap(), y.unwrap()]
        .into_iter()
        .filter(|m| matches!(m, CheckpointMade::Made(_)))
        .count();
    assert_eq!(made, 1);
    let all: Vec<Value> = app.get_json(k, "/audit/checkpoints").await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[3]["prev_id"], third["id"]);
}

#[tokio::test]
async fn a_clean_shutdown_signs_the_last_changes() {
    let app = TestApp::spawn().await;
    app.org("root", "late").await;
    let app = app.restart().await;
    let latest: Value = app
        .get_json(&app.root_key, "/audit/checkpoints/latest")
        .await;
    assert_eq!(latest["tree_size"], 2);
    let proof: Value = app.get_json(&app.root_key, "/orgs/late/audit/proof").await;
    assert!(proves(&proof));
    assert_eq!(proof["leaf"]["hash"], app.verify("late").await["head"]);
}

#[tokio::test]
async fn a_chain_cut_after_a_checkpoint_is_reported_truncated() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    for n in 2..=4 {
        app.patch(&app.root_key, "/orgs/a", json!({"name": format!("A {n}")}))
            .await;
    }
    let c = checkpoint(&app).await;
    let before = app.verify("a").await;
    assert_eq!(before["valid"], true);
    assert_eq!(before["truncated"], false);
    assert_eq!(before["checkpoint_id"], c["id"]);

    // Someone with the database removes the last two events: every link
    // that is left is intact.
    let mut db = RawDb::connect(&app.database_url).await;
    let cut = db
        .execute("DELETE FROM audit_events WHERE org_id = 'a' AND seq > 2")
        .await
        .unwrap();
    assert_eq!(cut, 2);
    let after = app.verify("a").await;
    assert_eq!(after["valid"], false, "{after}");
    assert_eq!(after["truncated"], true);
    assert_eq!(after["first_bad_seq"], Value::Null);
    assert_eq!(after["events"], 2);

    let (code, out) = cli(&app, &["verify", "--org", "a"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"truncated\": true"), "{out}");
    let (code, out) = cli(&app, &["verify-checkpoints"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("org a: event 4") && out.contains("truncated"),
        "{out}"
    );

    // Nor will orgd sign over the cut chain.
    app.org("root", "b").await;
    let refused = app.service.make_checkpoint().await.unwrap_err();
    assert!(refused.to_string().contains("refusing"), "{refused}");
}

/// What someone with the database and no signing key can do: rewrite a
/// chain with every hash recomputed, then the checkpoint's leaves, then its
/// root. Each step is seen.
#[tokio::test]
async fn a_rewritten_chain_is_exposed_by_the_signed_checkpoint() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.patch(&app.root_key, "/orgs/a", json!({"name": "Honest"}))
        .await;
    let c = checkpoint(&app).await;
    let tenant_proof: Value = app.get_json(&app.root_key, "/orgs/a/audit/proof").await;
    let (code, out) = cli(&app, &["verify-checkpoints"]).await;
    assert_eq!(code, 0, "{out}");

    // Rewrite event 2 and recompute its hash: a consistent chain.
    let events: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/audit").await;
    let mut forged: orgd_core::audit::AuditEvent =
        serde_json::from_value(events[0].clone()).unwrap();
    assert_eq!(forged.seq, 2);
    forged.changes = json!({"before": {"name": "Org a"}, "after": {"name": "Forged"}});
    forged.hash = forged.compute_hash();
    let mut db = RawDb::connect(&app.database_url).await;
    db.drop_audit_guard().await;
    let changes = forged.changes.to_string().replace('\'', "''");
    db.execute(&format!(
        "UPDATE audit_events SET changes = '{changes}', hash = '{}' WHERE org_id = 'a' AND seq = 2",
        forged.hash
    ))
    .await
    .unwrap();
    let v = app.verify("a").await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["first_bad_seq"], 2, "the checkpoint holds the old head");

    // Then the checkpoint's stored leaf: the chain agrees with it again,
    // but the leaves no longer hash to the signed root.
    let drop_trigger = if app.database_url.starts_with("sqlite") {
        "DROP TRIGGER checkpoint_leaves_append_only"
    } else {
        "DROP TRIGGER checkpoint_leaves_append_only ON checkpoint_leaves"
    };
    db.execute(drop_trigger).await.unwrap();
    db.execute(&format!(
        "UPDATE checkpoint_leaves SET hash = '{}' WHERE org_id = 'a'",
        forged.hash
    ))
    .await
    .unwrap();
    // Verification reads the leaf through the signed tree, so it is not
    // fooled.
    let v = app.verify("a").await;
    assert_eq!(
        (v["valid"].clone(), v["checkpoint_invalid"].clone()),
        (json!(false), json!(true)),
        "{v}"
    );
    let (code, out) = cli(&app, &["verify-checkpoints"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("do not hash to its signed root"), "{out}");

    // Then the root: the signature gives it away.
    let mut leaves: Vec<Value> = Vec::new();
    for org in ["a", "root"] {
        let head = app.verify(org).await;
        leaves.push(json!({"org_id": org, "seq": head["events"], "hash": head["head"]}));
    }
    let root = {
        let l: Vec<[u8; 32]> = leaves
            .iter()
            .map(|h| {
                leaf_hash(
                    h["org_id"].as_str().unwrap(),
                    h["seq"].as_i64().unwrap(),
                    h["hash"].as_str().unwrap(),
                )
            })
            .collect();
        sha256(&[&[1], &l[0], &l[1]])
    };
    let drop_trigger = drop_trigger.replace("checkpoint_leaves", "audit_checkpoints");
    db.execute(&drop_trigger).await.unwrap();
    db.execute(&format!(
        "UPDATE audit_checkpoints SET root_hash = '{}'",
        hex::encode(root)
    ))
    .await
    .unwrap();
    let (code, out) = cli(&app, &["verify-checkpoints"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("its signature does not verify"), "{out}");
    assert!(
        !out.contains("do not hash"),
        "the leaves fit the new root: {out}"
    );
    let served: Value = app
        .get_json(&app.root_key, "/audit/checkpoints/latest")
        .await;
    let key = public_key(&app, c["kid"].as_str().unwrap()).await;
    assert!(!signed_by(&served, &key));

    // And the tenant's proof, kept from before, names a head the chain no
    // longer has.
    assert!(proves(&tenant_proof) && signed_by(&tenant_proof["checkpoint"], &key));
    assert_ne!(tenant_proof["leaf"]["hash"], app.verify("a").await["head"]);
}

#[tokio::test]
async fn keys_rotate_and_checkpoints_signed_before_still_verify() {
    let app = TestApp::spawn().await;
    let keys = app.audit_keys().await;
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["alg"], "Ed25519");
    assert_eq!(keys[0]["retired_at"], Value::Null);
    assert!(keys[0].get("seed").is_none());
    let first = checkpoint(&app).await;
    assert_eq!(first["kid"], keys[0]["kid"]);

    let (code, out) = cli(&app, &["rotate-key"]).await;
    assert_eq!(code, 0, "{out}");
    app.org("root", "a").await;
    let second = checkpoint(&app).await;
    let keys = app.audit_keys().await;
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys}");
    assert_ne!(keys[0]["retired_at"], Value::Null);
    assert_eq!(keys[1]["retired_at"], Value::Null);
    assert_eq!(second["kid"], keys[1]["kid"]);
    assert!(out.contains(keys[1]["kid"].as_str().unwrap()), "{out}");
    assert!(signed_by(&first, keys[0]["public_key"].as_str().unwrap()));
    assert!(signed_by(&second, keys[1]["public_key"].as_str().unwrap()));

    let (code, out) = cli(&app, &["verify-checkpoints"]).await;
    assert_eq!(code, 0, "{out}");
    // Trusting only the new key, the first checkpoint is not vouched for.
    let new_key = keys[1]["public_key"].as_str().unwrap();
    let (code, out) = cli(&app, &["verify-checkpoints", "--public-key", new_key]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not one of the keys given"), "{out}");
    let old_key = keys[0]["public_key"].as_str().unwrap();
    let (code, out) = cli(
        &app,
        &[
            "verify-checkpoints",
            "--public-key",
            new_key,
            "--public-key",
            old_key,
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_key_from_a_file_signs_and_its_seed_stays_out_of_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.key");
    let seed = [7u8; 32];
    std::fs::write(&file, hex::encode(seed)).unwrap();
    let expected = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let path = file.clone();
    let app = TestApp::spawn_with(move |c| c.audit_signing_key_file = Some(path)).await;

    let keys = app.audit_keys().await;
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(
        keys[0]["public_key"],
        URL_SAFE_NO_PAD.encode(expected.as_bytes())
    );
    let c = checkpoint(&app).await;
    assert!(signed_by(&c, keys[0]["public_key"].as_str().unwrap()));
    let mut db = RawDb::connect(&app.database_url).await;
    assert_eq!(
        db.scalar("SELECT count(*) FROM audit_keys WHERE seed IS NOT NULL")
            .await,
        0
    );
    let hex_seed = hex::encode(seed);

    // Restarted without the file, the server says what is missing.
    let storage = app.stop().await;
    let mut config = orgd::Config::new(
        "127.0.0.1:0".parse().unwrap(),
        orgd::config::DatabaseUrl::new(&storage.database_url),
    );
    config.bootstrap_key = None;
    let err = orgd::Application::build(config).await.err().unwrap();
    let err = format!("{err:#}");
    assert!(err.contains("--audit-signing-key-file"), "{err}");
    assert!(!err.contains(&hex_seed));
}

/// The auditor's page's Python and `orgd audit verify-proof` check a proof
/// saved from the API, with no server and no database; one byte changed,
/// neither does.
#[tokio::test]
async fn a_saved_proof_is_checked_offline_by_the_cli_and_the_documented_python() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b root/c").await;
    let c = checkpoint(&app).await;
    let key = public_key(&app, c["kid"].as_str().unwrap()).await;
    let proof: Value = app.get_json(&app.root_key, "/orgs/b/audit/proof").await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("proof.json");
    std::fs::write(&good, proof.to_string()).unwrap();
    let mut bent = proof.clone();
    let h = bent["path"][0].as_str().unwrap().to_owned();
    let flipped = if h.starts_with('0') { "1" } else { "0" };
    bent["path"][0] = json!(format!("{flipped}{}", &h[1..]));
    let bad = dir.path().join("bent.json");
    std::fs::write(&bad, bent.to_string()).unwrap();

    let good_path = good.to_str().unwrap();
    let (code, out, err) =
        run_cli(&["audit", "verify-proof", good_path, "--public-key", &key]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("proven: b at seq"), "{out}");
    let (code, out, _) = run_cli(&[
        "audit",
        "verify-proof",
        bad.to_str().unwrap(),
        "--public-key",
        &key,
    ])
    .await;
    assert_eq!(code, 1, "{out}");
    let other = URL_SAFE_NO_PAD.encode(
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .as_bytes(),
    );
    let (code, out, _) =
        run_cli(&["audit", "verify-proof", good_path, "--public-key", &other]).await;
    assert_eq!(code, 1, "another key: {out}");

    let page = include_str!("../../../../docs/verifying-the-audit-trail.md");
    let python = page
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the page's first Python block");
    let script = dir.path().join("prove.py");
    std::fs::write(&script, python).unwrap();
    let run = |file: std::path::PathBuf| {
        let script = script.clone();
        async move {
            tokio::process::Command::new("python3")
                .arg(script)
                .arg(file)
                .output()
                .await
                .expect("python3 runs the auditor's page's proof check")
        }
    };
    let out = run(good.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("proven: b seq"));
    let out = run(bad).await;
    assert!(!out.status.success());
}
