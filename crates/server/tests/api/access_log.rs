//! The access log: API traffic, external events, filters, durability.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    RawDb, Remote, Storage, TestApp, assert_fields, error_fields, json_body, problem, start_binary,
    strs,
};

#[tokio::test]
async fn the_seeds_access_log_example_is_ingested_and_read_back() {
    let app = TestApp::spawn().await;
    app.org("root", "org-123").await;
    let seed = json!([{
        "timestamp": "2023-11-01T12:00:00Z",
        "user": "john.doe@example.com",
        "action": "LOGIN",
        "status": "SUCCESS"
    }]);
    let k = &app.root_key;
    let res = app.post(k, "/orgs/org-123/access_log", seed).await;
    assert_eq!(
        json_body(res, StatusCode::ACCEPTED).await,
        json!({"accepted": 1})
    );

    let log: Vec<Value> = app
        .get_json(k, "/orgs/org-123/access_log?action=LOGIN")
        .await;
    assert_eq!(log.len(), 1);
    assert_fields(
        &log[0],
        json!({
            "timestamp": "2023-11-01T12:00:00.000Z",
            "user": "john.doe@example.com",
            "action": "LOGIN",
            "status": "SUCCESS",
            "source": "external",
            "org_id": "org-123",
        }),
    );
}

#[tokio::test]
async fn external_events_are_validated_all_at_once() {
    let app = TestApp::spawn().await;
    let bad = json!([
        {"user": "a", "action": "LOGIN", "status": "SUCCESS"},
        {"user": "b", "action": "LOGIN", "status": "MAYBE", "timestamp": "noon"}
    ]);
    let k = &app.root_key;
    let res = app.post(k, "/orgs/root/access_log", bad).await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(error_fields(&p), vec!["[1].timestamp", "[1].status"]);
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"action": "LOGIN", "status": "SUCCESS"}))
        .collect();
    for batch in [json!(many), json!([])] {
        let res = app.post(k, "/orgs/root/access_log", batch).await;
        problem(res, StatusCode::BAD_REQUEST).await;
    }
    let log: Vec<Value> = app.get_json(k, "/orgs/root/access_log?action=LOGIN").await;
    assert!(log.is_empty(), "a refused batch stores nothing");
}

#[tokio::test]
async fn api_requests_are_logged_with_what_orgd_knows() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let (key, key_id) = app.key("a", &["read", "write"]).await;
    let res = app
        .client
        .patch(app.url("/orgs/a/configs"))
        .bearer_auth(&key)
        .header("user-agent", "billing/1.0")
        .header("x-request-id", "req-42")
        .json(&json!({"applications.limit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.get(&key, "/orgs/a").await;
    app.flush().await;

    let k = &app.root_key;
    let log: Vec<Value> = app
        .get_json(k, "/orgs/a/access_log?user=&action=configs.patch")
        .await;
    assert!(log.is_empty(), "no user is named ''");
    let log: Vec<Value> = app
        .get_json(k, "/orgs/a/access_log?action=configs.patch")
        .await;
    assert_eq!(log.len(), 1);
    let e = &log[0];
    assert_fields(
        e,
        json!({
            "status": "FAILURE",
            "http_status": 403,
            "method": "PATCH",
            "path": "/orgs/a/configs",
            "key_id": key_id,
            "request_id": "req-42",
            "user_agent": "billing/1.0",
            "ip": "127.0.0.1",
            "source": "api",
        }),
    );
    assert!(e["latency_ms"].is_i64());
    // `acc_` and a lowercase ULID whose time is the entry's own.
    let id = e["id"].as_str().unwrap();
    let ulid = ulid::Ulid::from_string(id.strip_prefix("acc_").unwrap()).unwrap();
    assert_eq!(id, format!("acc_{}", ulid.to_string().to_lowercase()));
    let at = chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(
        ulid.timestamp_ms(),
        u64::try_from(at.timestamp_millis()).unwrap()
    );

    let ok: Vec<Value> = app
        .get_json(k, "/orgs/a/access_log?status=SUCCESS&action=org.get")
        .await;
    assert_eq!(ok.len(), 1);
    app.get_problem(k, "/orgs/a/access_log?status=fine", StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn a_failed_probe_is_logged_under_the_probed_org() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b").await;
    let (b_key, _) = app.key("b", &["read"]).await;
    let bad = "orgd_0000000000000000000000000000000000000000000";
    for (key, path, status) in [
        (bad, "/orgs/a", StatusCode::UNAUTHORIZED),
        (&b_key, "/orgs/a/configs", StatusCode::NOT_FOUND),
        (bad, "/orgs/nowhere", StatusCode::UNAUTHORIZED),
    ] {
        app.get_problem(key, path, status).await;
    }
    app.flush().await;

    let log: Vec<Value> = app
        .get_json(&app.root_key, "/orgs/a/access_log?status=FAILURE")
        .await;
    assert_eq!(log.len(), 2);
    assert_fields(
        &log[1],
        json!({"http_status": 401, "user": null, "key_id": null, "action": "org.get"}),
    );
    assert_fields(
        &log[0],
        json!({"http_status": 404, "action": "configs.get"}),
    );
}

/// A key that does not reach an org leaves no name in the org's log: its
/// probes are there as an unknown caller's (`user` and `key_id` null), as a
/// bad key's are, whatever refused them (404 from reach, or a body or media
/// type refused before reach was decided), and they do not count as the
/// org's requests. In its own org a failure still names it.
#[tokio::test]
async fn a_key_out_of_reach_is_logged_as_an_unknown_caller() {
    let app = TestApp::spawn().await;
    app.orgs("root/a1 root/a2").await;
    let k = &app.root_key;
    let body = json!({"name": "probe", "permissions": ["read", "write", "delete", "admin"], "user": "alice"});
    let created = app.created(k, "/orgs/a1/api_keys", body).await;
    let alice = created["secret"].as_str().unwrap();
    let alice_id = created["id"].as_str().unwrap();

    app.get_problem(alice, "/orgs/a2", StatusCode::NOT_FOUND)
        .await;
    app.get_problem(alice, "/orgs/a2/configs", StatusCode::NOT_FOUND)
        .await;
    let res = app.patch(alice, "/orgs/a2", json!({"name": 5})).await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .send_bytes(alice, Method::POST, "/orgs/a2/tags", "text/plain", "gold")
        .await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let bad = "orgd_0000000000000000000000000000000000000000000";
    app.get_problem(bad, "/orgs/a2", StatusCode::UNAUTHORIZED)
        .await;
    // In its own org, a failure names it.
    let missing_key = format!("/orgs/a1/api_keys/key_{}", "0".repeat(26));
    app.get_problem(alice, &missing_key, StatusCode::NOT_FOUND)
        .await;
    app.flush().await;

    let c: Value = app.get_json(k, "/orgs/a2/consumption").await;
    assert_eq!(
        c["metrics"]["api_requests"].as_i64().unwrap_or(0),
        0,
        "a key of another org is not a2's traffic: {c}"
    );
    let log: Vec<Value> = app.get_json(k, "/orgs/a2/access_log?status=FAILURE").await;
    let seen: Vec<(i64, &str)> = log
        .iter()
        .map(|e| {
            (
                e["http_status"].as_i64().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (401, "org.get"),
            (415, "tags.post"),
            (400, "org.patch"),
            (404, "configs.get"),
            (404, "org.get"),
        ]
    );
    for e in &log {
        assert_fields(
            e,
            json!({"user": null, "key_id": null, "status": "FAILURE"}),
        );
    }
    let own: Vec<Value> = app
        .get_json(k, "/orgs/a1/access_log?action=api_keys.get")
        .await;
    assert_eq!(own.len(), 1);
    assert_fields(
        &own[0],
        json!({"http_status": 404, "user": "alice", "key_id": alice_id}),
    );
}

#[tokio::test]
async fn the_log_pages_newest_first() {
    let app = TestApp::spawn().await;
    let events: Vec<Value> = (0..7)
        .map(|i| json!({"timestamp": format!("2024-01-0{}T00:00:00Z", i + 1), "action": "LOGIN", "status": "SUCCESS", "user": format!("u{i}")}))
        .collect();
    app.post(&app.root_key, "/orgs/root/access_log", json!(events))
        .await;
    let k = &app.root_key;
    let log = app
        .all_pages(k, "/orgs/root/access_log?action=LOGIN&limit=3", 3)
        .await;
    assert_eq!(
        strs(&log, "user"),
        vec!["u6", "u5", "u4", "u3", "u2", "u1", "u0"]
    );
    let window: Vec<Value> = app
        .get_json(
            k,
            "/orgs/root/access_log?action=LOGIN&start=2024-01-02T00:00:00Z&end=2024-01-04T00:00:00Z",
        )
        .await;
    assert_eq!(window.len(), 2);
}

#[tokio::test]
async fn forwarded_for_is_used_only_behind_a_trusted_proxy() {
    for (trusted, expected) in [(true, "198.51.100.7"), (false, "127.0.0.1")] {
        let app = TestApp::spawn_with(|c| {
            if trusted {
                c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
        .await;
        app.client
            .get(app.url("/orgs/root"))
            .bearer_auth(&app.root_key)
            .header("x-forwarded-for", "198.51.100.7")
            .send()
            .await
            .unwrap();
        app.flush().await;
        let log: Vec<Value> = app
            .get_json(&app.root_key, "/orgs/root/access_log?action=org.get")
            .await;
        assert_eq!(log[0]["ip"], expected);
    }
}

#[tokio::test]
async fn turning_the_log_off_keeps_counting_requests() {
    let app = TestApp::spawn_with(|c| c.access_log = false).await;
    for _ in 0..3 {
        app.get(&app.root_key, "/orgs/root").await;
    }
    app.flush().await;
    let log: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/access_log").await;
    assert!(log.is_empty());
    app.flush().await;
    let c: Value = app.get_json(&app.root_key, "/orgs/root/consumption").await;
    assert_eq!(c["metrics"]["api_requests"], 4);
}

#[tokio::test]
async fn old_entries_are_pruned_after_the_retention() {
    let app = TestApp::spawn().await;
    app.post(
        &app.root_key,
        "/orgs/root/access_log",
        json!([{"action": "LOGIN", "status": "SUCCESS"}]),
    )
    .await;
    app.flush().await;
    let prune = || app.service.prune_traffic(chrono::Duration::days(90));
    let (removed, _) = prune().await.unwrap();
    assert_eq!(removed, 0);
    app.clock.advance(chrono::Duration::days(91));
    let (removed, _) = prune().await.unwrap();
    assert_eq!(
        removed, 2,
        "the external event and the API request that posted it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_right_after_ten_thousand_requests_keeps_every_entry() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let key = orgd_core::api_keys::generate_secret();
    let (mut child, base, _) = start_binary(&db, Some(&key)).await;
    let remote = Remote::new(&base, &key);
    let res = remote
        .post("/orgs", json!({"id": "acme", "name": "Acme"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let workers: Vec<_> = (0..16)
        .map(|_| {
            let remote = remote.clone();
            tokio::spawn(async move {
                for _ in 0..625 {
                    let res = remote.get("/orgs/acme").await;
                    assert_eq!(res.status(), StatusCode::OK);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().await.unwrap().success());

    let mut conn = RawDb::connect(&db).await;
    let entries = conn
        .scalar(match conn {
            // Blocks of entries; an entry's action is its sixth field.
            RawDb::Sqlite(_) => {
                "SELECT count(*) FROM access_blocks, json_each(access_blocks.data) AS e \
                 WHERE org_id = 'acme' AND json_extract(e.value, '$[5]') = 'org.get'"
            }
            RawDb::Postgres(_) => {
                "SELECT count(*) FROM access_log WHERE org_id = 'acme' AND action = 'org.get'"
            }
        })
        .await;
    assert_eq!(entries, 10_000);
    let counted = conn
        .scalar(
            "SELECT value FROM consumption_counters \
             WHERE org_id = 'acme' AND metric = 'api_requests'",
        )
        .await;
    assert_eq!(counted, 10_000);
}
