//! Reach and permission rules, walked over the server's own route table
//! (`helpers::routes::table`: every route of its OpenAPI document).

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::routes::{Items, Scope, table};
use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn sibling_org_key_gets_404_on_every_org_scoped_route() {
    let app = TestApp::spawn_with(|c| c.webhooks.workers = 0).await;
    app.orgs("root/a root/b/b-child").await;
    let (a_key, _) = app.key("a", &["read", "write", "delete", "admin"]).await;
    // Real items of `b`, so a refusal that came after the item's lookup shows.
    let items = Items::make(&app, "b").await;
    let before: Value = app.get_json(&app.root_key, "/orgs/b").await;
    let events = app.verify("b").await["events"].clone();

    let mut checked = 0;
    for route in table(&app).await {
        if !route.org_scoped() {
            continue;
        }
        for target in ["b", "b-child", "root", "does-not-exist"] {
            let body = route.body();
            let url = items.fill(&route.path, target);
            let res = app
                .send(Some(&a_key), route.method.clone(), &url, body.as_ref())
                .await;
            let p = problem(res, StatusCode::NOT_FOUND).await;
            assert_eq!(p["type"], "/problems/not-found", "{route} on {target}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} cases");
    let after: Value = app.get_json(&app.root_key, "/orgs/b").await;
    assert_eq!(before, after, "a refused request changed the org");
    assert_eq!(
        app.verify("b").await["events"],
        events,
        "a refused request wrote an audit event"
    );
}

#[tokio::test]
async fn read_only_key_gets_403_on_every_write() {
    let app = TestApp::spawn_with(|c| c.webhooks.workers = 0).await;
    app.org("root", "a").await;
    let items = Items::make(&app, "a").await;
    let events = app.verify("a").await["events"].clone();
    let (ro, _) = app.key("root", &["read"]).await;
    let mut checked = 0;
    for route in table(&app).await {
        if route.method == Method::GET {
            continue;
        }
        let body = route.body().map(|mut b| {
            if route.scope == Scope::Parent {
                b["parent_id"] = json!("a");
            }
            b
        });
        let url = items.fill(&route.path, "a");
        let res = app.send(Some(&ro), route.method, &url, body.as_ref()).await;
        problem(res, StatusCode::FORBIDDEN).await;
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} write routes");
    assert_eq!(
        app.verify("a").await["events"],
        events,
        "a refused write was audited as a change"
    );
}

#[tokio::test]
async fn every_route_but_health_docs_and_audit_keys_requires_a_key() {
    let app = TestApp::spawn().await;
    let items = Items::placeholders();
    for route in table(&app).await {
        let url = items.fill(&route.path, "root");
        if route.scope == Scope::Public {
            assert_eq!(
                app.send(None, route.method, &url, None).await.status(),
                StatusCode::OK
            );
            continue;
        }
        let body = route.body();
        for key in [
            None,
            Some("not a key"),
            Some("orgd_0000000000000000000000000000000000000000000"),
        ] {
            let res = app
                .send(key, route.method.clone(), &url, body.as_ref())
                .await;
            assert_eq!(res.headers()["www-authenticate"], "Bearer", "{route}");
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
