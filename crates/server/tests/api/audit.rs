//! The audit trail: events per change, children_audit, hash-chain verification.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawDb, TestApp, strs};

#[tokio::test]
async fn children_audit_of_a_grandparent_shows_a_deleted_grandchilds_history() {
    let app = TestApp::spawn().await;
    app.orgs("root/parent/child/grandchild").await;
    let k = &app.root_key;
    let renamed = json!({"name": "Renamed"});
    app.patch(k, "/orgs/grandchild", renamed).await;
    let res = app.delete(k, "/orgs/grandchild").await;
    assert_eq!(res.status(), StatusCode::OK);

    let events: Vec<Value> = app
        .get_json(k, "/orgs/parent/children_audit?org_id=grandchild")
        .await;
    assert_eq!(
        strs(&events, "action"),
        vec!["org.delete", "org.update", "org.create"]
    );
    assert_eq!(
        events[1]["changes"],
        json!({"before": {"name": "Org grandchild"}, "after": {"name": "Renamed"}})
    );
    let seqs: Vec<_> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 2, 1]);

    // Strict descendants only: parent's own events are not in its children_audit.
    let all: Vec<Value> = app.get_json(k, "/orgs/parent/children_audit").await;
    assert!(all.iter().all(|e| e["org_id"] != "parent"));
    assert_eq!(all.len(), 4);
}

#[tokio::test]
async fn children_audit_filters_by_action_key_and_time() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let (writer, writer_id) = app.key("root", &["read", "write"]).await;
    app.patch(&writer, "/orgs/a", json!({"name": "by writer"}))
        .await;

    let k = &app.root_key;
    let audit = |query: &str| format!("/orgs/root/children_audit?{query}");
    let by_key: Vec<Value> = app
        .get_json(k, &audit(&format!("key_id={writer_id}")))
        .await;
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0]["actor"]["key_id"], writer_id);
    for (query, found) in [
        ("action=org.create", 1),
        ("start=2999-01-01T00:00:00Z", 0),
        ("end=2000-01-01T00:00:00Z", 0),
    ] {
        let events: Vec<Value> = app.get_json(k, &audit(query)).await;
        assert_eq!(events.len(), found, "{query}");
    }
    app.get_problem(k, &audit("start=yesterday"), StatusCode::BAD_REQUEST)
        .await;
}

/// Renames org `a` `times` times, to `n0`, `n1`, ….
async fn rename_a(app: &TestApp, times: usize) {
    for i in 0..times {
        app.patch(&app.root_key, "/orgs/a", json!({"name": format!("n{i}")}))
            .await;
    }
}

#[tokio::test]
async fn every_event_links_to_the_previous_one() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    rename_a(&app, 5).await;
    let events: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/audit").await;
    assert_eq!(events.len(), 6);
    assert_eq!(events[5]["prev_hash"], "0".repeat(64));
    for pair in events.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"]);
    }
    let v = app.verify("a").await;
    assert_eq!(
        v,
        json!({"valid": true, "events": 6, "head": events[0]["hash"], "first_bad_seq": null,
               "truncated": false, "checkpoint_id": null, "checkpoint_invalid": false,
               "pruned_through_seq": null})
    );
}

#[tokio::test]
async fn editing_a_stored_audit_row_breaks_verification_at_that_seq() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    rename_a(&app, 4).await;
    assert_eq!(app.verify("a").await["valid"], true);

    // What someone with the database file could do: drop the guard trigger
    // and quietly rewrite what an event says.
    let mut conn = RawDb::connect(&app.database_url).await;
    conn.drop_audit_guard().await;
    let edited = conn
        .execute(
            "UPDATE audit_events SET changes = '{\"after\":{\"name\":\"forged\"},\"before\":{\"name\":\"n0\"}}' \
             WHERE org_id = 'a' AND seq = 3",
        )
        .await
        .unwrap();
    assert_eq!(edited, 1);
    drop(conn);

    let v = app.verify("a").await;
    assert_eq!(v["valid"], false);
    assert_eq!(v["first_bad_seq"], 3);
    assert_eq!(v["events"], 5);
}

#[tokio::test]
async fn the_audit_trail_refuses_updates_through_sql() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let mut conn = RawDb::connect(&app.database_url).await;
    let res = conn.execute("UPDATE audit_events SET action = 'x'").await;
    assert!(res.is_err());
}

#[tokio::test]
async fn key_changes_are_audited_without_secrets() {
    let app = TestApp::spawn().await;
    let (secret, id) = app.key("root", &["read"]).await;
    app.delete(&app.root_key, &format!("/orgs/root/api_keys/{id}"))
        .await;
    let events: Vec<Value> = app
        .get_json(&app.root_key, "/orgs/root/audit?action=api_key.delete")
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], json!({"type": "api_key", "id": id}));
    let all = app
        .get(&app.root_key, "/orgs/root/audit")
        .await
        .text()
        .await
        .unwrap();
    assert!(!all.contains(&secret));
    assert!(!all.contains("digest"));
}

#[tokio::test]
async fn audit_pages_walk_newest_first() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    rename_a(&app, 9).await;
    let res = app.get(&app.root_key, "/orgs/a/audit?limit=4").await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    let first: Vec<Value> = res.json().await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![10, 9, 8, 7]
    );
    let next = &link[1..link.find('>').unwrap()];
    let second: Vec<Value> = app.get_json(&app.root_key, next).await;
    assert_eq!(second[0]["seq"], 6);
}

/// Floats in a change (customizations, an item's metadata) are stored and
/// read back to the same value, so the chain that holds them verifies (it
/// broke when serde_json parsed some of them back one ulp off).
#[tokio::test]
async fn a_chain_holding_any_float_verifies() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let floats =
        "[-3.7833441465050067e161, 5.357328243285544e178, 0.1, 1e-300, 2.2250738585072014e-308]";
    let res = app
        .send_json_text(
            &app.root_key,
            reqwest::Method::PUT,
            "/orgs/a/customizations",
            &format!(r#"{{"floats": {floats}}}"#),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = app.verify("a").await;
    assert_eq!(v["valid"], true, "{v}");
}
