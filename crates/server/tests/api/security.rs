//! Reach and permission rules, walked over the server's own route table.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, routes, sample_body};

fn fill(path: &str, org: &str, key_id: &str) -> String {
    path.replace("{org_id}", org)
        .replace("{orgId}", org)
        .replace("{key_id}", key_id)
        .replace("{tag_id}", "tag_probe")
        .replace("{application_id}", "app_probe")
        .replace("{workspace_id}", "ws_probe")
        .replace("{usergroup_id}", "ug_probe")
        .replace("{webhook_id}", "whk_probe")
        .replace("{delivery_id}", "dlv_probe")
}

#[tokio::test]
async fn sibling_org_key_gets_404_on_every_org_scoped_route() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b/b-child").await;
    let (a_key, _) = app.key("a", &["read", "write", "delete", "admin"]).await;
    let (_, b_key_id) = app.key("b", &["read"]).await;
    let before: Value = app.get_json(&app.root_key, "/orgs/b").await;

    let mut checked = 0;
    for (method, path) in routes(&app).await {
        if !path.contains("{org_id}") && !path.contains("{orgId}") {
            continue;
        }
        for target in ["b", "b-child", "root", "does-not-exist"] {
            let body = sample_body(&method, &path);
            let url = fill(&path, target, &b_key_id);
            let res = app
                .send(Some(&a_key), method.clone(), &url, body.as_ref())
                .await;
            let p = problem(res, StatusCode::NOT_FOUND).await;
            assert_eq!(
                p["type"], "/problems/not-found",
                "{method} {path} on {target}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} cases");
    let after: Value = app.get_json(&app.root_key, "/orgs/b").await;
    assert_eq!(before, after, "a refused request changed the org");
    assert_eq!(
        app.verify("b").await["events"],
        2,
        "a refused request wrote an audit event"
    );
}

#[tokio::test]
async fn read_only_key_gets_403_on_every_write() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let (_, a_key_id) = app.key("a", &["read"]).await;
    let (ro, _) = app.key("root", &["read"]).await;
    let mut checked = 0;
    for (method, path) in routes(&app).await {
        if method == Method::GET {
            continue;
        }
        let body = sample_body(&method, &path).map(|mut b| {
            if path == "/orgs" {
                b["parent_id"] = json!("a");
            }
            b
        });
        let url = fill(&path, "a", &a_key_id);
        let res = app.send(Some(&ro), method, &url, body.as_ref()).await;
        problem(res, StatusCode::FORBIDDEN).await;
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} write routes");
    assert_eq!(
        app.verify("a").await["events"],
        2,
        "a refused write was audited as a change"
    );
}

#[tokio::test]
async fn every_route_but_health_docs_and_audit_keys_requires_a_key() {
    let app = TestApp::spawn().await;
    for (method, path) in routes(&app).await {
        let url = fill(&path, "root", "key_x");
        if matches!(path.as_str(), "/healthz" | "/readyz" | "/audit/keys") {
            assert_eq!(
                app.send(None, method, &url, None).await.status(),
                StatusCode::OK
            );
            continue;
        }
        let body = sample_body(&method, &path);
        for key in [
            None,
            Some("not a key"),
            Some("orgd_0000000000000000000000000000000000000000000"),
        ] {
            let res = app.send(key, method.clone(), &url, body.as_ref()).await;
            assert_eq!(
                res.headers()["www-authenticate"],
                "Bearer",
                "{method} {path}"
            );
            problem(res, StatusCode::UNAUTHORIZED).await;
        }
    }
}

#[tokio::test]
async fn revoked_and_expired_keys_get_401_at_once() {
    let app = TestApp::spawn().await;
    let (secret, id) = app.key("root", &["read"]).await;
    let k = &app.root_key;
    assert_eq!(app.get(&secret, "/me").await.status(), StatusCode::OK);
    let res = app.delete(k, &format!("/orgs/root/api_keys/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.get_problem(&secret, "/me", StatusCode::UNAUTHORIZED)
        .await;

    let expires = orgd_core::time::format(app.clock_now() + chrono::Duration::hours(1));
    let temp = json!({"name": "temp", "permissions": ["read"], "expires_at": expires});
    let res = app.post(k, "/orgs/root/api_keys", temp).await;
    let temp: Value = res.json().await.unwrap();
    let temp = temp["secret"].as_str().unwrap();
    assert_eq!(app.get(temp, "/me").await.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::hours(2));
    app.get_problem(temp, "/me", StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_deleted_orgs_keys_stop_working_at_once() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let (secret, _) = app.key("a", &["read"]).await;
    assert_eq!(app.get(&secret, "/orgs/a").await.status(), StatusCode::OK);
    let res = app.delete(&app.root_key, "/orgs/a").await;
    assert_eq!(res.status(), StatusCode::OK);
    app.get_problem(&secret, "/me", StatusCode::UNAUTHORIZED)
        .await;
}

#[tokio::test]
async fn a_key_cannot_mint_wider_permissions_or_keys_above_its_org() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1").await;
    let (admin_rw, _) = app.key("a", &["read", "write", "admin"]).await;

    let res = mint(&app, &admin_rw, "a1", &["read", "delete"]).await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert!(p["detail"].as_str().unwrap().contains("delete"));

    let res = mint(&app, &admin_rw, "root", &["read"]).await;
    problem(res, StatusCode::NOT_FOUND).await;

    let res = mint(&app, &admin_rw, "a1", &["read", "write"]).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let (no_admin, _) = app.key("a", &["read", "write"]).await;
    let res = mint(&app, &no_admin, "a1", &["read"]).await;
    problem(res, StatusCode::FORBIDDEN).await;
}

/// Asks, with `key`, for a key of `org` with `permissions`.
async fn mint(app: &TestApp, key: &str, org: &str, permissions: &[&str]) -> Response {
    let body = json!({"name": "x", "permissions": permissions});
    app.post(key, &format!("/orgs/{org}/api_keys"), body).await
}

#[tokio::test]
async fn governance_needs_a_strict_ancestor() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1 root/b").await;
    let (a_all, _) = app.key("a", &["read", "write", "delete", "admin"]).await;

    // An org cannot delete or move itself...
    app.delete_problem(&a_all, "/orgs/a", StatusCode::FORBIDDEN)
        .await;
    let res = app
        .patch(&a_all, "/orgs/a", json!({"parent_id": "b"}))
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    // ...but may rename itself, and govern its descendants.
    let res = app.patch(&a_all, "/orgs/a", json!({"name": "A"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&a_all, "/orgs/a1").await.status(),
        StatusCode::OK
    );
}
