//! API keys: minting, listing, revocation, `/me`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json_body, problem};

#[tokio::test]
async fn a_new_key_shows_its_secret_once_and_never_a_digest() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let res = app
        .post(
            &app.root_key,
            "/orgs/a/api_keys",
            json!({"name": "billing", "user": "john.doe@example.com", "permissions": ["write", "read"]}),
        )
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created = json_body(res, StatusCode::CREATED).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("orgd_") && secret.len() >= 37);
    assert_eq!(created["permissions"], json!(["read", "write"]));
    assert_eq!(created["user"], "john.doe@example.com");
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let listed = app
        .get(&app.root_key, "/orgs/a/api_keys")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(secret));
    assert!(!listed.contains("digest"));
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    assert!(listed[0].get("secret").is_none());

    let me: Value = app.get_json(secret, "/me").await;
    assert_eq!(me["key"]["id"], created["id"]);
    assert_eq!(me["org"]["id"], "a");
    assert!(me["key"]["last_used_at"].is_string());
}

#[tokio::test]
async fn key_fields_are_validated() {
    let app = TestApp::spawn().await;
    let res = app
        .post(&app.root_key, "/orgs/root/api_keys", json!({"name": "", "permissions": ["read", "sudo"], "expires_at": "2001-01-01T00:00:00Z"}))
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(error_fields(&p), vec!["name", "permissions", "expires_at"]);
    let no_permissions = json!({"name": "x", "permissions": []});
    let res = app
        .post(&app.root_key, "/orgs/root/api_keys", no_permissions)
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn revoking_an_unknown_or_revoked_key_is_not_found() {
    let app = TestApp::spawn().await;
    let (_, id) = app.key("root", &["read"]).await;
    let k = &app.root_key;
    let path = format!("/orgs/root/api_keys/{id}");
    assert_eq!(app.delete(k, &path).await.status(), StatusCode::OK);
    for path in [path.as_str(), "/orgs/root/api_keys/key_nope"] {
        app.delete_problem(k, path, StatusCode::NOT_FOUND).await;
    }
}
