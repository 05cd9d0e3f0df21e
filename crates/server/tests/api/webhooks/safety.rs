//! Safety: targets refused (private, special-purpose, non-HTTP), at creation
//! and again at delivery; no redirects, a time limit, nothing secret logged.

use super::*;

#[tokio::test]
async fn private_and_non_http_targets_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        // Other spellings of 127.0.0.1.
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "https://user:pw@93.184.216.34/",
        "not a url",
    ] {
        let res = app
            .post(&app.root_key, "/orgs/root/webhooks", json!({"url": url}))
            .await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&p), ["url"], "{url}: {p}");
    }
    let list: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/webhooks").await;
    assert!(list.is_empty(), "{list:?}");

    // A public address needs no resolving and is accepted.
    let hook = create_hook(&app, "root", json!({"url": "https://93.184.216.34/hook"})).await;
    assert_eq!(hook.created["url"], "https://93.184.216.34/hook");
    for url in [
        "http://127.0.0.1:9/x",
        "http://[::ffff:10.0.0.1]/",
        "gopher://93.184.216.34/",
    ] {
        let res = app
            .patch(&app.root_key, &hook.path(), json!({"url": url}))
            .await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&p), ["url"], "{url}: {p}");
    }
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert_eq!(webhook["url"], "https://93.184.216.34/hook");
}

/// Every address the IANA special-purpose registries do not count as
/// globally reachable is refused as a target, written as a literal in the
/// URL (no resolving involved), at creation and on a change; the
/// registry's globally reachable exceptions inside those ranges are not.
#[tokio::test]
async fn special_purpose_targets_are_refused() {
    // No deliverer: the accepted endpoints below are never posted to.
    let app = TestApp::spawn_with(|c| c.webhooks.workers = 0).await;
    let hook = create_hook(&app, "root", json!({"url": "https://93.184.216.34/hook"})).await;
    for host in [
        "192.0.0.1",
        "192.0.0.8",
        "192.0.0.170",
        "192.0.2.1",
        "198.18.0.1",
        "198.19.255.254",
        "198.51.100.7",
        "203.0.113.9",
        "192.88.99.1",
        "240.0.0.1",
        "[2001:db8::1]",
        "[2001::1]",
        "[2001:2::1]",
        "[2001:1ff::1]",
        "[100::1]",
        "[64:ff9b:1::1]",
        "[3fff::1]",
        "[fec0::1]",
        "[::ffff:192.0.2.1]",
        "[64:ff9b::c633:6407]",
    ] {
        let url = format!("https://{host}/hook");
        for res in [
            app.post(&app.root_key, "/orgs/root/webhooks", json!({"url": url}))
                .await,
            app.patch(&app.root_key, &hook.path(), json!({"url": url}))
                .await,
        ] {
            let p = problem(res, StatusCode::BAD_REQUEST).await;
            assert_eq!(error_fields(&p), ["url"], "{url}: {p}");
            let message = p["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("not globally reachable"), "{url}: {p}");
        }
    }
    let list: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/webhooks").await;
    assert_eq!(ids(&list), [hook.id.as_str()]);
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert_eq!(webhook["url"], "https://93.184.216.34/hook");
    // Anycast services the registry counts as globally reachable.
    for host in ["192.0.0.9", "192.0.0.10", "[2001:1::1]", "[2001:4:112::1]"] {
        let url = format!("https://{host}/hook");
        let res = app
            .post(&app.root_key, "/orgs/root/webhooks", json!({"url": url}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{url}");
    }
}

/// A special-purpose target is refused at delivery too: made while private
/// targets were allowed, it is not even tried once they are not (before,
/// an attempt to the documentation range ran into its timeout).
#[tokio::test]
async fn a_special_purpose_target_is_refused_again_at_delivery() {
    let app = private_app().await;
    app.org("root", "a").await;
    let url = "http://198.51.100.7/hook";
    let hook = create_hook(&app, "a", json!({"url": url, "types": ["tag.*"]})).await;
    let app = app.restart().await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert!(d["last_status_code"].is_null(), "{d}");
    let error = d["last_error"].as_str().unwrap();
    assert!(
        error.contains("198.51.100.7") && error.contains("documentation, TEST-NET-2"),
        "{d}"
    );
}

/// The delivery of a new tag event of `a` after its first attempt.
async fn first_attempt(app: &TestApp, hook: &Hook) -> Value {
    let event = tag(app, "a", "gold").await;
    let id = event["id"].as_str().unwrap();
    until_delivery(app, hook, id, "a first attempt", |d| d["attempts"] == 1).await
}

#[tokio::test]
async fn a_private_target_is_refused_again_at_delivery() {
    // Created while private targets were allowed; the server then restarts
    // without that allowance.
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let app = app.restart().await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert!(d["last_status_code"].is_null(), "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("loopback"),
        "{d}"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = private_app().await;
    let (receiver, elsewhere) = (Receiver::start().await, Receiver::start().await);
    receiver.redirect(&elsewhere.url);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "a redirect is no success: {d}");
    assert_eq!(d["last_status_code"], 307, "{d}");
    assert_eq!(receiver.received().len(), 1);
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn an_answer_that_takes_over_ten_seconds_is_a_failure() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    receiver.hang(true);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert!(d["last_status_code"].is_null(), "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("timed out"),
        "{d}"
    );
}

#[tokio::test]
async fn bad_webhook_fields_and_parameters_are_named() {
    let app = TestApp::spawn().await;
    let url = "https://93.184.216.34/hook";
    let create = |body: Value| app.post(&app.root_key, "/orgs/root/webhooks", body);
    let fields = |p: &Value| {
        let mut f: Vec<String> = error_fields(p).into_iter().map(str::to_owned).collect();
        f.sort();
        f
    };
    let p = problem(
        create(json!({
            "url": "ftp://x/",
            "types": [],
            "scope": "all",
            "description": "x".repeat(501),
        }))
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(fields(&p), ["description", "scope", "types", "url"], "{p}");
    for (body, field) in [
        (json!({"url": url, "types": ["Org.*"]}), "types"),
        (
            json!({"url": url, "types": ["org.create,org.update"]}),
            "types",
        ),
        (json!({"url": url, "scope": "SELF"}), "scope"),
        (
            json!({"url": format!("https://93.184.216.34/{}", "x".repeat(2048))}),
            "url",
        ),
        // A client does not choose its secret.
        (
            json!({"url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            "secret",
        ),
    ] {
        let p = problem(create(body.clone()).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(fields(&p), [field], "{body}: {p}");
    }
    problem(create(json!({})).await, StatusCode::BAD_REQUEST).await;

    let res = create(json!({"url": url, "types": null})).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created = json_body(res, StatusCode::CREATED).await;
    assert_eq!(created["types"], json!([]), "null: every type");
    let hook = Hook {
        id: created["id"].as_str().unwrap().to_owned(),
        org: "root".into(),
        secret: created["secret"].as_str().unwrap().to_owned(),
        created,
    };
    assert_eq!(location, hook.path());
    for (body, field) in [
        (json!({"scope": "everything"}), Some("scope")),
        (json!({"types": []}), Some("types")),
        (json!({"url": "not a url"}), Some("url")),
        (json!({"enabled": "yes"}), None),
        (
            json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            Some("secret"),
        ),
    ] {
        let res = app.patch(&app.root_key, &hook.path(), body.clone()).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        if let Some(field) = field {
            assert_eq!(fields(&p), [field], "{body}: {p}");
        }
    }
    let res = app
        .patch(&app.root_key, &hook.path(), json!({"types": null}))
        .await;
    assert_eq!(json_body(res, StatusCode::OK).await["types"], json!([]));

    let p = app
        .get_problem(
            &app.root_key,
            &format!("{}/deliveries?status=done", hook.path()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(fields(&p), ["status"]);
    let p = app
        .get_problem(
            &app.root_key,
            &format!("{}/deliveries?limit=0", hook.path()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(fields(&p), ["limit"]);
    let unknown = "/orgs/root/webhooks/whk_01jd2x6m4c8s5v0q3n7r9t1w2y";
    for path in [unknown.to_owned(), format!("{unknown}/deliveries")] {
        app.get_problem(&app.root_key, &path, StatusCode::NOT_FOUND)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_a_secret_nor_an_endpoints_url_reaches_the_log() {
    let storage = Storage::new().await;
    let key = orgd_core::api_keys::generate_secret();
    let receiver = Receiver::start().await;
    // One failed attempt, so that the failure's path is logged too.
    receiver.fail_next(1);
    let mut orgd = crate::helpers::OrgdProcess::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &storage.database_url,
            "--webhook-allow-private-targets",
        ],
        &[("ORGD_LOG", "debug"), ("ORGD_BOOTSTRAP_KEY", &key)],
    );
    let remote = Remote::new(&orgd.base().await, &key);
    let token = "tok-9f2c41d7e5";
    let res = remote
        .post(
            "/orgs/root/webhooks",
            json!({"url": format!("{}?token={token}", receiver.url), "types": ["tag.*"]}),
        )
        .await;
    let created = json_body(res, StatusCode::CREATED).await;
    let path = format!("/orgs/root/webhooks/{}", created["id"].as_str().unwrap());
    let res = remote
        .post(&format!("{path}/rotate_secret"), json!({}))
        .await;
    let rotated = json_body(res, StatusCode::OK).await;
    let res = remote.post("/orgs/root/tags", json!({"name": "x"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The retry comes about 5 s after the failure, by the real clock.
    receiver
        .until("the failure and the retry", |got| got.len() == 2)
        .await;
    let (_, lines) = orgd.stop().await;
    assert!(lines.len() > 3, "{lines:?}");
    let secrets = [&created["secret"], &rotated["secret"]].map(|s| {
        let s = s.as_str().unwrap();
        s["whsec_".len()..].to_owned()
    });
    for line in &lines {
        assert!(!line.contains(token), "the URL's token in the log: {line}");
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "a secret in the log: {line}");
        }
    }
}
