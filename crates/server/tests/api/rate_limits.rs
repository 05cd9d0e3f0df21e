//! Per-key rate limits: a token bucket per key, its size fixed at creation
//! (at most the creator's) or the server's default.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

async fn key_with(app: &TestApp, creator: &str, body: Value) -> reqwest::Response {
    app.post(creator, "/orgs/root/api_keys", body).await
}

async fn limited_key(app: &TestApp, per_minute: u32) -> String {
    let res = key_with(
        app,
        &app.root_key,
        json!({"name": "limited", "permissions": ["read", "admin"], "rate_limit_per_minute": per_minute}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["rate_limit_per_minute"], per_minute);
    body["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_limited_to_ten_a_minute_gets_ten_then_429_while_another_is_unaffected() {
    let app = TestApp::spawn().await;
    let limited = limited_key(&app, 10).await;
    for n in 0..10u32 {
        let res = app.get(&limited, "/me").await;
        assert_eq!(res.status(), StatusCode::OK, "request {n}");
        assert_eq!(res.headers()["ratelimit-limit"], "10");
        assert_eq!(
            res.headers()["ratelimit-remaining"],
            (9 - n).to_string().as_str()
        );
    }
    let res = app.get(&limited, "/me").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry), "one request every 6 s: {retry}");
    let p = problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(p["type"], "/problems/rate-limited");

    // The root key has no limit (and the server no default): unaffected.
    for _ in 0..30 {
        let res = app.get(&app.root_key, "/me").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("ratelimit-limit").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_bucket_exactly() {
    let app = Arc::new(TestApp::spawn().await);
    let limited = Arc::new(limited_key(&app, 20).await);
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (app, key) = (app.clone(), limited.clone());
        tasks.push(tokio::spawn(async move {
            app.get(&key, "/orgs/root").await.status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Twenty, or one more if the test ran across a 3 s refill.
    assert!((20..=21).contains(&ok), "{ok} requests passed");
}

#[tokio::test]
async fn a_key_cannot_mint_a_key_with_a_higher_or_no_limit() {
    let app = TestApp::spawn().await;
    let limited = limited_key(&app, 10).await;
    let res = key_with(
        &app,
        &limited,
        json!({"name": "wider", "permissions": ["read"], "rate_limit_per_minute": 11}),
    )
    .await;
    problem(res, StatusCode::FORBIDDEN).await;
    // Asking for none gives the creator's own limit, not an unlimited key.
    let res = key_with(
        &app,
        &limited,
        json!({"name": "child", "permissions": ["read"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["rate_limit_per_minute"], 10);
    let res = key_with(
        &app,
        &limited,
        json!({"name": "narrower", "permissions": ["read"], "rate_limit_per_minute": 3}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    for bad in [
        json!(0),
        json!(-1),
        json!(2_000_000),
        json!("ten"),
        json!(1.5),
    ] {
        let res = key_with(
            &app,
            &app.root_key,
            json!({"name": "bad", "permissions": ["read"], "rate_limit_per_minute": bad}),
        )
        .await;
        problem(res, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn the_server_default_limits_keys_without_their_own() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = Some(5)).await;
    app.org("root", "acme").await;
    let (acme, _) = app.key("acme", &["read"]).await;
    for _ in 0..5 {
        let res = app.get(&acme, "/me").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["ratelimit-limit"], "5");
    }
    problem(app.get(&acme, "/me").await, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn the_server_default_spares_root_keys_unless_rate_limit_root_is_given() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = Some(2)).await;
    for _ in 0..6 {
        let res = app.get(&app.root_key, "/me").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("ratelimit-limit").is_none());
    }
    // A root key with a limit of its own keeps it.
    let res = app
        .post(
            &app.root_key,
            "/orgs/root/api_keys",
            json!({"name": "limited", "permissions": ["read"], "rate_limit_per_minute": 1}),
        )
        .await;
    let limited = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get(&limited, "/me").await.status(), StatusCode::OK);
    problem(
        app.get(&limited, "/me").await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;

    let app = TestApp::spawn_with(|c| {
        c.rate_limit_per_minute = Some(2);
        c.rate_limit_root = true;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.get(&app.root_key, "/me").await.status(), StatusCode::OK);
    }
    problem(
        app.get(&app.root_key, "/me").await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}
