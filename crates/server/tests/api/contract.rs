//! The server accepts exactly what the OpenAPI document's types say, at the
//! edges where the two once disagreed (schemathesis's schema-valid and
//! schema-invalid cases in CI found them; these pin each one down).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_body, problem};

#[tokio::test]
async fn a_json_number_with_no_fraction_is_an_integer() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    // JSON Schema counts `5.0` as the integer 5; so does orgd.
    let body = r#"{"applications.limit": 5.0}"#;
    let res = app
        .send_json_text(k, Method::PUT, "/orgs/a/configs", body)
        .await;
    assert_eq!(
        json_body(res, StatusCode::OK).await,
        json!({"applications.limit": 5})
    );
    let body = r#"{"name": "k", "permissions": ["read"], "rate_limit_per_minute": 600.0}"#;
    let res = app
        .send_json_text(k, Method::POST, "/orgs/a/api_keys", body)
        .await;
    let key = json_body(res, StatusCode::CREATED).await;
    assert_eq!(key["rate_limit_per_minute"], 600);
    let body = r#"[{"metric": "m", "quantity": 3.0}]"#;
    let res = app
        .send_json_text(k, Method::POST, "/orgs/a/usage", body)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // A fraction is not an integer.
    for (method, path, body) in [
        (
            Method::PUT,
            "/orgs/a/configs",
            r#"{"applications.limit": 5.5}"#,
        ),
        (
            Method::POST,
            "/orgs/a/api_keys",
            r#"{"name": "k", "permissions": ["read"], "rate_limit_per_minute": 1.5}"#,
        ),
        (
            Method::POST,
            "/orgs/a/usage",
            r#"[{"metric": "m", "quantity": 0.5}]"#,
        ),
    ] {
        let res = app.send_json_text(k, method, path, body).await;
        problem(res, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn configs_text_values_are_canonical_numbers() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    for ok in ["0", "5", "1000000000"] {
        let res = app
            .put(k, "/orgs/a/configs", json!({"applications.limit": ok}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{ok}");
    }
    // The document's pattern refuses these; so does the server.
    for bad in ["05", "00", "+5", " 5", "1000000001", ""] {
        let res = app
            .put(k, "/orgs/a/configs", json!({"applications.limit": bad}))
            .await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["errors"][0]["field"], "applications.limit", "{bad}");
    }
}

#[tokio::test]
async fn lengths_count_characters_and_names_count_before_trimming() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let event = |action: String| json!([{"action": action, "status": "SUCCESS"}]);
    let usage = |key: String| json!([{"metric": "m", "quantity": 1, "idempotency_key": key}]);
    // The longest that fits, then one character more.
    for (path, longest, too_long, created) in [
        // 200 characters of two bytes each: a name of the maximum length;
        // 199 characters inside two blanks: 201 as sent, which `maxLength` refuses.
        (
            "/orgs",
            json!({"id": "b", "name": "é".repeat(200)}),
            json!({"id": "c", "name": format!(" {} ", "x".repeat(199))}),
            StatusCode::CREATED,
        ),
        // An external event's action: 64 characters, whatever their bytes.
        (
            "/orgs/a/access_log",
            event("é".repeat(64)),
            event("é".repeat(65)),
            StatusCode::ACCEPTED,
        ),
        // A usage idempotency key: 255 characters.
        (
            "/orgs/a/usage",
            usage("é".repeat(255)),
            usage("é".repeat(256)),
            StatusCode::ACCEPTED,
        ),
    ] {
        let res = app.post(k, path, longest).await;
        assert_eq!(res.status(), created, "{path}");
        problem(app.post(k, path, too_long).await, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn permissions_are_matched_exactly() {
    let app = TestApp::spawn().await;
    for bad in [" read", "read ", "READ"] {
        let body = json!({"name": "k", "permissions": [bad]});
        let res = app.post(&app.root_key, "/orgs/root/api_keys", body).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["errors"][0]["field"], "permissions", "{bad:?}");
    }
}

#[tokio::test]
async fn an_empty_typed_query_parameter_is_refused_not_ignored() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    for path in [
        "/orgs?limit=",
        "/orgs?cursor=",
        "/orgs/root/children?depth=",
        "/orgs/a/access_log?status=",
        "/orgs/a/access_log?start=",
        "/orgs/a/audit?end=",
        "/orgs/a/consumption?month=",
        "/orgs/a/consumption?include_children=",
    ] {
        app.get_problem(k, path, StatusCode::BAD_REQUEST).await;
    }
    app.delete_problem(k, "/orgs/a?cascade=", StatusCode::BAD_REQUEST)
        .await;
    // The same parameters with values of their types.
    for path in [
        "/orgs?limit=5",
        "/orgs/root/children?depth=all",
        "/orgs/a/access_log?status=SUCCESS&start=2020-01-01T00:00:00Z",
        "/orgs/a/consumption?month=2026-01&include_children=true",
    ] {
        assert_eq!(app.get(k, path).await.status(), StatusCode::OK, "{path}");
    }
    // A text filter takes the empty string as a value: it matches nothing.
    let orgs: Vec<Value> = app.get_json(k, "/orgs?tag=").await;
    assert!(orgs.is_empty());
}

#[tokio::test]
async fn every_keyed_post_declares_the_idempotency_key_and_its_conflict() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get_json(&app.root_key, "/openapi.json").await;
    let mut posts = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("post") else { continue };
        posts += 1;
        let header = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "Idempotency-Key");
        assert_eq!(
            header.map(|h| h["in"].clone()),
            Some(json!("header")),
            "POST {path}"
        );
        assert!(op["responses"].get("409").is_some(), "POST {path}");
    }
    assert!(posts >= 8, "{posts} POST operations");
    // A replayed key creation leaves the secret out: the schema allows it.
    let created = &doc["components"]["schemas"]["CreatedKeyBody"];
    let parts = created["allOf"].as_array().unwrap();
    assert!(
        parts
            .iter()
            .any(|p| p["properties"].get("secret").is_some()),
        "{created}"
    );
    for part in std::iter::once(created).chain(parts) {
        let required = part["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.contains(&json!("secret")), "{created}");
    }
}

#[tokio::test]
async fn a_nul_character_anywhere_is_never_a_server_error() {
    // SQLite stores NUL; PostgreSQL refuses it in text and JSON, which orgd
    // answers with a 400, never a 500.
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let responses = [
        app.get(k, "/orgs/a/applications/%00").await,
        app.delete(k, "/orgs/a/workspaces/x%00y").await,
        app.get(k, "/orgs?name_prefix=%00&tag=a%00").await,
        app.get(k, "/orgs/a/audit?action=%00").await,
        app.get(k, "/orgs/a/access_log?user=%00").await,
        app.post(
            k,
            "/orgs/a/usage",
            json!([{"metric": "m", "quantity": 1, "idempotency_key": "\u{0}"}]),
        )
        .await,
        app.put(k, "/orgs/a/customizations", json!({"x\u{0}": "\u{0}"}))
            .await,
        app.post(
            k,
            "/orgs/a/applications",
            json!({"name": "n", "metadata": {"k": "\u{0}"}}),
        )
        .await,
        app.post(
            k,
            "/orgs/a/access_log",
            json!([{"action": "a", "status": "SUCCESS", "details": "\u{0}"}]),
        )
        .await,
    ];
    for res in responses {
        let status = res.status();
        let url = res.url().to_string();
        assert!(
            status.is_success() || status.is_client_error(),
            "{url}: {status}"
        );
    }
}
