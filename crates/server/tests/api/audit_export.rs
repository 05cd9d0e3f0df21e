//! `GET /orgs/{id}/audit/export` and `orgd audit verify-export`: a signed
//! NDJSON export checked offline, and refused once a byte changes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, run_cli};

async fn export(app: &TestApp, key: &str, query: &str) -> Vec<u8> {
    let res = app.get(key, &format!("/orgs/a/audit/export{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    res.bytes().await.unwrap().to_vec()
}

fn lines(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

async fn verify_export(dir: &std::path::Path, body: &[u8], keys: &[&str]) -> (i32, String) {
    let file = dir.join(format!("export-{}.ndjson", rand_suffix()));
    std::fs::write(&file, body).unwrap();
    let mut args = vec!["audit", "verify-export", file.to_str().unwrap()];
    for k in keys {
        args.extend_from_slice(&["--public-key", k]);
    }
    let (code, out, err) = run_cli(&args).await;
    (code, format!("{out}{err}"))
}

/// The event lines among `rows` (not the proofs, links or manifest).
fn events(rows: &[Value]) -> Vec<&Value> {
    rows.iter().filter(|r| r.get("seq").is_some()).collect()
}

/// What each line is: `e<seq>` for an event, `proof`, `link<seqs>`,
/// `manifest`.
fn shape(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            if let Some(seq) = r.get("seq") {
                format!("e{seq}")
            } else if let Some(l) = r.get("link") {
                let seqs: Vec<String> = l["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["seq"].to_string())
                    .collect();
                format!("link{}", seqs.join(","))
            } else {
                r.as_object().unwrap().keys().next().unwrap().clone()
            }
        })
        .collect()
}

fn rand_suffix() -> String {
    orgd_core::ids::prefixed_ulid("f")
}

#[tokio::test]
async fn an_export_verifies_offline_and_one_byte_changed_is_refused() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1 root/a/a2 root/b").await;
    let k = &app.root_key;
    for n in 0..3 {
        app.patch(k, "/orgs/a1", json!({"name": format!("A1 {n}")}))
            .await;
    }
    app.delete(k, "/orgs/a2").await;
    app.service.make_checkpoint().await.unwrap();
    let key = app.active_audit_key().await;
    let dir = tempfile::tempdir().unwrap();

    let own = export(&app, k, "").await;
    let rows = lines(&own);
    let manifest = &rows.last().unwrap()["manifest"];
    assert_eq!(manifest["org_id"], "a");
    assert_eq!(manifest["scope"], "self");
    assert_eq!(manifest["count"], events(&rows).len());
    assert_eq!(manifest["proofs"], 1);
    assert_eq!(
        rows[0]["proof"]["leaf"]["org_id"], "a",
        "the proof comes first"
    );
    assert!(events(&rows).iter().all(|e| e["org_id"] == "a"));
    assert_eq!(manifest["checkpoint"]["tree_size"], 5, "{manifest}");
    let (code, out) = verify_export(dir.path(), &own, &[&key]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 organization(s) proven"), "{out}");

    // The subtree: a, a1 (four events) and the deleted a2, org by org.
    let subtree = export(&app, k, "?scope=subtree").await;
    let rows = lines(&subtree);
    let orgs: Vec<&str> = events(&rows)
        .iter()
        .map(|e| e["org_id"].as_str().unwrap())
        .collect();
    let mut sorted = orgs.clone();
    sorted.sort();
    assert_eq!(orgs, sorted, "org by org, in id order");
    assert_eq!(orgs.iter().filter(|o| **o == "a1").count(), 4);
    assert!(orgs.contains(&"a2") && !orgs.contains(&"b"));
    let (code, out) = verify_export(dir.path(), &subtree, &[&key]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("of 3 organization(s)"), "{out}");
    assert!(out.contains("3 organization(s) proven"), "{out}");

    // One byte changed, anywhere that matters: refused.
    let at = |needle: &str| {
        subtree
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap()
    };
    for (what, pos) in [
        ("an event's content", at("A1 1") + 3),
        ("a seq", at("\"seq\":2") + 6),
        ("the manifest's count", at("\"count\":") + 8),
        ("the manifest's signature", subtree.len() - 10),
    ] {
        let mut bent = subtree.clone();
        bent[pos] = if bent[pos] == b'1' { b'2' } else { b'1' };
        let (code, out) = verify_export(dir.path(), &bent, &[&key]).await;
        assert_eq!(code, 1, "{what}: {out}");
    }
    // A line removed from the middle of a chain: refused.
    let text = String::from_utf8(subtree.clone()).unwrap();
    let mut kept: Vec<&str> = text.lines().collect();
    let cut = kept.iter().position(|l| l.contains("A1 1")).unwrap();
    kept.remove(cut);
    let (code, out) = verify_export(dir.path(), (kept.join("\n") + "\n").as_bytes(), &[&key]).await;
    assert_eq!(code, 1, "{out}");
    // Another key: refused.
    let other = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            ed25519_dalek::SigningKey::from_bytes(&[5; 32])
                .verifying_key()
                .as_bytes(),
        )
    };
    let (code, out) = verify_export(dir.path(), &subtree, &[&other]).await;
    assert_eq!(code, 1, "{out}");
}

#[tokio::test]
async fn an_export_keeps_to_its_window_and_its_reach() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b").await;
    let k = &app.root_key;
    let before = app.clock_now();
    app.clock.advance(chrono::Duration::seconds(10));
    app.patch(k, "/orgs/a", json!({"name": "later"})).await;
    let key = app.active_audit_key().await;
    let dir = tempfile::tempdir().unwrap();

    let mark = orgd_core::time::format(before + chrono::Duration::seconds(5));
    let late = export(&app, k, &format!("?start={mark}")).await;
    let rows = lines(&late);
    assert_eq!(rows.len(), 2, "one event and the manifest");
    assert_eq!(rows[0]["seq"], 2);
    assert_eq!(rows[1]["manifest"]["start"], mark);
    assert_eq!(rows[1]["manifest"]["checkpoint"], Value::Null);
    let (code, out) = verify_export(dir.path(), &late, &[&key]).await;
    assert_eq!(code, 0, "{out}");
    let early = export(&app, k, &format!("?end={mark}")).await;
    assert_eq!(lines(&early)[0]["seq"], 1);
    assert_eq!(lines(&early).len(), 2);

    let (b_key, _) = app.key("b", &["read"]).await;
    let res = app.get(&b_key, "/orgs/a/audit/export").await;
    problem(res, StatusCode::NOT_FOUND).await;
    for bad in ["?scope=everything", "?start=yesterday"] {
        let res = app.get(k, &format!("/orgs/a/audit/export{bad}")).await;
        problem(res, StatusCode::BAD_REQUEST).await;
    }
}

/// A window that stops before the signed heads, or starts after them, is
/// joined to them by link lines, so every org is still proven offline.
#[tokio::test]
async fn a_window_is_linked_to_the_signed_heads_and_verifies_offline() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let step = || app.clock.advance(chrono::Duration::seconds(10));
    let mark = || orgd_core::time::format(app.clock_now() + chrono::Duration::seconds(5));
    app.orgs("root/a").await;
    let after_1 = mark();
    step();
    for n in 2..=3 {
        app.patch(k, "/orgs/a", json!({"name": format!("A {n}")}))
            .await;
        step();
    }
    app.service.make_checkpoint().await.unwrap();
    step();
    app.patch(k, "/orgs/a", json!({"name": "A 4"})).await;
    let after_4 = mark();
    step();
    app.patch(k, "/orgs/a", json!({"name": "A 5"})).await;
    let key = app.active_audit_key().await;
    let dir = tempfile::tempdir().unwrap();

    for (query, expected) in [
        // Held to the checkpoint made after `end` (a at 3): 2 and 3 link.
        (format!("?end={after_1}"), "proof e1 link2,3 manifest"),
        // Held to the latest (a at 3): 4 follows it, 5 is after.
        (String::new(), "proof e1 e2 e3 e4 e5 manifest"),
        // Starting after the head: 4 links it to the window's 5.
        (format!("?start={after_4}"), "proof link4 e5 manifest"),
        // Both ends.
        (
            format!("?start={after_1}&end={after_4}"),
            "proof e2 e3 e4 manifest",
        ),
    ] {
        let body = export(&app, k, &query).await;
        let rows = lines(&body);
        assert_eq!(shape(&rows).join(" "), expected, "{query}");
        let (code, out) = verify_export(dir.path(), &body, &[&key]).await;
        assert_eq!(code, 0, "{query}: {out}");
        assert!(out.contains("1 organization(s) proven"), "{query}: {out}");
    }
}
