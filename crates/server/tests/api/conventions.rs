//! HTTP conventions: problem bodies for every kind of bad input, request ids,
//! methods, media types, body limits, idempotency.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RawDb, TestApp, openapi_document, problem};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.send_bytes(&app.root_key, method, path, content_type, body)
        .await
}

#[tokio::test]
async fn malformed_bodies_get_4xx_problems_never_500() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "application/json",
            b"{\"name\": ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", b"".to_vec(), StatusCode::BAD_REQUEST),
        (
            "application/json",
            b"[1, 2]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            vec![0xc3, 0x28, 0xa0, 0xa1],
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            b"{\"name\": 5}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            format!("{{\"name\": \"x\", \"id\": \"{}\"}}", "i".repeat(5000)).into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            b"{\"name\": \"x\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/json",
            vec![b' '; 2 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (ct, body, status) in cases {
        let res = raw(&app, Method::POST, "/orgs", ct, body).await;
        problem(res, status).await;
    }
    // No body at all, so no media type.
    let res = app
        .send(Some(&app.root_key), Method::POST, "/orgs", None)
        .await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // The server is still healthy and nothing was created.
    let orgs: Vec<Value> = app.get_json(&app.root_key, "/orgs").await;
    assert_eq!(orgs.len(), 1);
}

#[tokio::test]
async fn bad_paths_and_queries_get_4xx_problems() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let long = "x".repeat(5000);
    for path in [format!("/orgs/{long}"), format!("/orgs/{long}/children")] {
        app.get_problem(k, &path, StatusCode::NOT_FOUND).await;
    }
    // Not UTF-8 once percent-decoded.
    app.get_problem(k, "/orgs/%FF%FE", StatusCode::BAD_REQUEST)
        .await;
    for q in [
        "limit=-1",
        "limit=0",
        "limit=1001",
        "limit=99999999999999999999999",
        "limit=abc",
    ] {
        for list in ["/orgs", "/orgs/root/audit"] {
            let path = format!("{list}?{q}");
            app.get_problem(k, &path, StatusCode::BAD_REQUEST).await;
        }
    }
    // Garbage, oversized, and cursors of another list (`n:1` is an audit
    // cursor, `i:acme` an org-list cursor).
    let garbage = [
        "forged".to_owned(),
        "aTphY21l%00".to_owned(),
        "A".repeat(2000),
    ];
    for (list, foreign) in [("/orgs", "bjox"), ("/orgs/root/children_audit", "aTphY21l")] {
        for cursor in garbage.iter().map(String::as_str).chain([foreign]) {
            let path = format!("{list}?cursor={cursor}");
            let p = app.get_problem(k, &path, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["errors"][0]["field"], "cursor");
        }
    }
    app.get_problem(k, "/no/such/route", StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_allow() {
    let app = TestApp::spawn().await;
    let res = app
        .send(Some(&app.root_key), Method::PUT, "/orgs/root", None)
        .await;
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert!(
        allow.contains("GET") && allow.contains("PATCH") && allow.contains("DELETE"),
        "{allow}"
    );
    problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_sane_ones_are_kept() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let res = app
        .client
        .get(app.url("/orgs/nope"))
        .bearer_auth(&app.root_key)
        .header("x-request-id", "bad id\t!")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id\t!");
    let p = problem(res, StatusCode::NOT_FOUND).await;
    assert_eq!(p["request_id"], id);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let send = |body: Value| {
        app.client
            .post(app.url("/orgs"))
            .bearer_auth(&app.root_key)
            .header("idempotency-key", "create-acme-1")
            .json(&body)
            .send()
    };
    let first = send(json!({"name": "Acme"})).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let again = send(json!({"name": "Acme"})).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let orgs: Vec<Value> = app.get_json(&app.root_key, "/orgs?parent_id=root").await;
    assert_eq!(orgs.len(), 1, "the retry created nothing");

    let p = problem(
        send(json!({"name": "Other"})).await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["type"], "/problems/idempotency-key-reuse");
}

/// A retry is the same request when its body is the same JSON value: keys
/// in another order and other whitespace replay the first response; another
/// value is a conflict.
#[tokio::test]
async fn the_same_json_written_otherwise_is_the_same_request() {
    let app = TestApp::spawn().await;
    let send = |key: &'static str, body: &'static str| {
        app.client
            .post(app.url("/orgs"))
            .bearer_auth(&app.root_key)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let first = send(
        "acme-1",
        r#"{"name":"Acme","customizations":{"theme":"dark","sso":{"b":1,"a":[1,2]}}}"#,
    )
    .await
    .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(
        "acme-1",
        "{\n  \"customizations\": {\"sso\": {\"a\": [1, 2], \"b\": 1}, \"theme\": \"dark\"},\n  \"name\": \"Acme\"\n}",
    )
    .await
    .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let orgs: Vec<Value> = app.get_json(&app.root_key, "/orgs?parent_id=root").await;
    assert_eq!(orgs.len(), 1, "the retry created nothing");
    for other in [
        r#"{"name":"Acme","customizations":{"theme":"dark","sso":{"b":1,"a":[2,1]}}}"#,
        r#"{"name":"Acme","customizations":{"theme":"dark"}}"#,
    ] {
        let p = problem(send("acme-1", other).await.unwrap(), StatusCode::CONFLICT).await;
        assert_eq!(p["type"], "/problems/idempotency-key-reuse", "{other}");
    }
}

/// A key used before fingerprints compared JSON values holds the hash of
/// the bytes the first request sent: across the upgrade, a retry with those
/// bytes still replays the response (and a reordered body is refused, as it
/// was).
#[tokio::test]
async fn a_key_stored_before_the_upgrade_still_replays() {
    let app = TestApp::spawn().await;
    let body = r#"{"name": "Acme",  "id": "acme"}"#;
    let send = |app: &TestApp, body: &'static str| {
        app.client
            .post(app.url("/orgs"))
            .bearer_auth(&app.root_key)
            .header("idempotency-key", "acme-1")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let first = send(&app, body).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    // What the previous release stored: SHA-256 of method, URI and bytes.
    let legacy = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(format!("POST\n/orgs\n{body}")))
    };
    let key = app.root_key.clone();
    let storage = app.stop().await;
    let mut db = RawDb::connect(&storage.database_url).await;
    let n = db
        .execute(&format!(
            "UPDATE idempotency_keys SET fingerprint = '{legacy}' WHERE idempotency_key = 'acme-1'"
        ))
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let app = TestApp::start_on(storage, key, |_| {}).await;
    let again = send(&app, body).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let reordered = send(&app, r#"{"id": "acme", "name": "Acme"}"#)
        .await
        .unwrap();
    problem(reordered, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn a_replayed_key_creation_never_shows_the_secret_again() {
    let app = TestApp::spawn().await;
    let send = || {
        app.client
            .post(app.url("/orgs/root/api_keys"))
            .bearer_auth(&app.root_key)
            .header("idempotency-key", "mint-1")
            .json(&json!({"name": "k", "permissions": ["read"]}))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    assert!(first["secret"].is_string());
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert!(again.get("secret").is_none());
}

#[tokio::test]
async fn health_endpoints_need_no_key() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let doc = openapi_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

#[tokio::test]
async fn graceful_shutdown_finishes_and_the_data_stays() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let storage = app.stop().await;
    let mut conn = RawDb::connect(&storage.database_url).await;
    assert_eq!(conn.scalar("SELECT count(*) FROM orgs").await, 2);
}

#[tokio::test]
async fn docs_describe_every_route_with_nothing_from_elsewhere() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no key needed");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = res.text().await.unwrap();
    for (method, path) in crate::helpers::routes(&app).await {
        let escaped = path.replace('&', "&amp;");
        assert!(
            page.contains(&format!(
                "{}</span> <code>{escaped}</code>",
                method.as_str()
            )),
            "{method} {path} is not on /docs"
        );
    }
    // Self-contained: no scripts, styles or images fetched from anywhere.
    for needle in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!page.contains(needle), "/docs contains {needle}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_with_no_tenant_data() {
    let app = TestApp::spawn().await;
    app.org("root", "tenant-7f3a").await;
    for _ in 0..3 {
        let res = app.get(&app.root_key, "/orgs/tenant-7f3a").await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    app.get(&app.root_key, "/orgs/nobody-9c2e").await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no key needed");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            "orgd_http_requests_total{method=\"GET\",route=\"/orgs/{org_id}\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("route=\"/orgs/{org_id}\",status=\"404\"} 1"));
    assert!(text.contains("orgd_http_request_duration_seconds_bucket"));
    for tenant_data in ["tenant-7f3a", "nobody-9c2e", "Org tenant"] {
        assert!(!text.contains(tenant_data), "{tenant_data} in /metrics");
    }
}
