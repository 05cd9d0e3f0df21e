//! Audit retention (SPEC §12): `audit.retention_days` prunes old events and
//! leaves a signed anchor, so a pruned chain still verifies and signed
//! checkpoints still hold; `audit.legal_hold` keeps a whole subtree.

use orgd_core::checkpoints::service::CheckpointMade;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawDb, TestApp, problem, run_cli};

async fn set_configs(app: &TestApp, org: &str, body: Value) {
    let res = app
        .patch(&app.root_key, &format!("/orgs/{org}/configs"), body)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "configs of {org}");
}

async fn events(app: &TestApp, org: &str) -> Vec<Value> {
    app.get_json(&app.root_key, &format!("/orgs/{org}/audit?limit=1000"))
        .await
}

#[tokio::test]
async fn a_pruned_chain_still_verifies_and_checkpoints_still_hold() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1 root/b").await;
    let k = &app.root_key;
    app.patch(k, "/orgs/a1", json!({"name": "old news"})).await;
    let old_checkpoint = app.service.make_checkpoint().await.unwrap();
    assert!(matches!(old_checkpoint, CheckpointMade::Made(_)));

    app.clock.advance(chrono::Duration::days(10));
    set_configs(&app, "a", json!({"audit.retention_days": 5})).await;
    for n in 0..3 {
        app.patch(k, "/orgs/a", json!({"name": format!("A {n}")}))
            .await;
    }
    let a_before = events(&app, "a").await;
    let a1_before = events(&app, "a1").await;
    let b_before = events(&app, "b").await;
    let a1_head = app.verify("a1").await["head"].clone();
    // Older than five days: every event of a1, and a's before the clock
    // moved (all but the configs change and the three renames).
    let a_old = a_before.len() - 4;
    assert!(a_old >= 1 && a1_before.len() >= 2);

    let removed = app.service.prune_audit().await.unwrap();
    assert_eq!(removed, u64::try_from(a_old + a1_before.len()).unwrap());
    assert_eq!(app.service.prune_audit().await.unwrap(), 0, "done at once");

    let a_after = events(&app, "a").await;
    assert_eq!(a_after, a_before[..4].to_vec(), "the newest four are left");
    assert_eq!(events(&app, "b").await, b_before);
    assert!(events(&app, "a1").await.is_empty());

    let v = app.verify("a").await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["pruned_through_seq"], a_old);
    assert_eq!(v["events"], 4);
    let v = app.verify("a1").await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["pruned_through_seq"], a1_before.len());
    assert_eq!(v["events"], 0);
    assert_eq!(v["head"], a1_head, "the anchor carries the head");

    // The next checkpoint extends the last one: a1's leaf is its anchor.
    app.patch(k, "/orgs/b", json!({"name": "B 2"})).await;
    let made = app.service.make_checkpoint().await.unwrap();
    assert!(matches!(made, CheckpointMade::Made(_)), "{made:?}");
    let proof: Value = app.get_json(k, "/orgs/a1/audit/proof").await;
    assert_eq!(proof["leaf"]["hash"], a1_head);
    let (code, out, err) = run_cli(&[
        "audit",
        "verify-checkpoints",
        "--database-url",
        &app.database_url,
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(&[
        "audit",
        "verify",
        "--all",
        "--database-url",
        &app.database_url,
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");

    // The export of what is left verifies offline.
    let res = app.get(k, "/orgs/a/audit/export?scope=subtree").await;
    let body = res.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.ndjson");
    std::fs::write(&file, &body).unwrap();
    let key = &app.active_audit_key().await;
    let (code, out, _) = run_cli(&[
        "audit",
        "verify-export",
        file.to_str().unwrap(),
        "--public-key",
        key,
    ])
    .await;
    assert_eq!(code, 0, "{out}");

    // An anchor edited by hand no longer carries a valid signature.
    let mut db = RawDb::connect(&app.database_url).await;
    db.execute("UPDATE audit_anchors SET seq = 0 WHERE org_id = 'a'")
        .await
        .unwrap();
    let v = app.verify("a").await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["first_bad_seq"], 0);
}

#[tokio::test]
async fn a_legal_hold_keeps_its_whole_subtree_and_cannot_be_lifted_below() {
    let app = TestApp::spawn().await;
    app.orgs("root/held/child root/free").await;
    set_configs(&app, "root", json!({"audit.retention_days": 1})).await;
    set_configs(&app, "held", json!({"audit.legal_hold": 1})).await;
    set_configs(&app, "child", json!({"audit.legal_hold": 0})).await;

    let effective: Value = app
        .get_json(&app.root_key, "/orgs/child/configs/effective")
        .await;
    assert_eq!(
        effective["audit.legal_hold"],
        json!({"value": 1, "source": "held"}),
        "{effective}"
    );
    assert_eq!(
        effective["audit.retention_days"],
        json!({"value": 1, "source": "root"})
    );

    let held = events(&app, "held").await;
    let child = events(&app, "child").await;
    app.clock.advance(chrono::Duration::days(3));
    let removed = app.service.prune_audit().await.unwrap();
    assert!(removed > 0);
    assert_eq!(events(&app, "held").await, held);
    assert_eq!(events(&app, "child").await, child);
    assert!(events(&app, "free").await.is_empty());
    assert_eq!(app.verify("free").await["valid"], true);

    // Lifted where it was set, the subtree follows the root's retention.
    set_configs(&app, "held", json!({"audit.legal_hold": null})).await;
    app.clock.advance(chrono::Duration::days(3));
    app.service.prune_audit().await.unwrap();
    assert!(events(&app, "child").await.is_empty());
    assert_eq!(app.verify("child").await["valid"], true);

    for bad in [
        json!({"audit.retention_days": 0}),
        json!({"audit.legal_hold": 2}),
    ] {
        let res = app
            .patch(&app.root_key, "/orgs/free/configs", bad.clone())
            .await;
        problem(res, StatusCode::BAD_REQUEST).await;
    }
    // A tenant cannot shorten its own retention or lift its own hold.
    let (own, _) = app.key("held", &["read", "write", "delete", "admin"]).await;
    let res = app
        .patch(&own, "/orgs/held/configs", json!({"audit.legal_hold": 0}))
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
}
