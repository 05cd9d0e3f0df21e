//! Clients that hang up mid-request: the server must not care. A dropped
//! connection once cancelled the handler inside its database transaction and
//! left the single SQLite writer unusable until restart.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{RawDb, TestApp};

/// Sends one request on a fresh connection and closes it `after` later,
/// whether or not an answer came.
async fn send_and_hang_up(addr: String, request: String, after: Duration) {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return;
    };
    if stream.write_all(request.as_bytes()).await.is_ok() {
        tokio::time::sleep(after).await;
    }
    drop(stream);
}

fn request(method: &str, path: &str, key: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: orgd\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hanging_up_mid_request_leave_the_server_healthy() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Waves of writes and reads, each connection closed a few hundred
    // microseconds to a few milliseconds in: some before the handler starts,
    // many inside BEGIN, a statement or COMMIT.
    for wave in 0..12u64 {
        let mut tasks = Vec::new();
        for i in 0..48u64 {
            let n = wave * 48 + i;
            let req = match n % 4 {
                0 | 1 => request(
                    "PATCH",
                    "/orgs/a",
                    &app.root_key,
                    &format!(r#"{{"name":"name {n}"}}"#),
                ),
                2 => request(
                    "POST",
                    "/orgs/a/usage",
                    &app.root_key,
                    r#"[{"metric":"m","quantity":1}]"#,
                ),
                _ => request("GET", "/orgs/a", &app.root_key, ""),
            };
            let after = Duration::from_micros((n * 7919) % 4000);
            tasks.push(tokio::spawn(send_and_hang_up(addr.clone(), req, after)));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    // Every kind of work still succeeds, promptly and repeatedly.
    for n in 0..5 {
        let res = app
            .patch(
                &app.root_key,
                "/orgs/a",
                json!({ "name": format!("after {n}") }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "PATCH after hang-ups");
        let res = app.get(&app.root_key, "/orgs/a").await;
        assert_eq!(res.status(), StatusCode::OK, "GET after hang-ups");
        let res = app
            .post(
                &app.root_key,
                "/orgs/a/usage",
                json!([{ "metric": "m", "quantity": 1 }]),
            )
            .await;
        assert!(
            res.status().is_success(),
            "usage after hang-ups: {}",
            res.status()
        );
    }
    let res = app
        .post(&app.root_key, "/orgs", json!({ "id": "b", "name": "B" }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // The writes that ran did so whole: the org's version counts exactly its
    // audited updates, and the chain verifies.
    let org: serde_json::Value = app.get_json(&app.root_key, "/orgs/a").await;
    let updates = app
        .all_pages(&app.root_key, "/orgs/a/audit?action=org.update", 100)
        .await
        .len();
    assert_eq!(org["version"].as_u64().unwrap(), updates as u64 + 1);
    assert_eq!(app.verify("a").await["valid"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_client_hung_up_still_completes() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Another connection holds the org's write lock, so the PATCH below is
    // still waiting for it when its client goes away.
    let mut blocker = RawDb::connect(&app.database_url).await;
    blocker.lock_org_for_writes("a").await;
    send_and_hang_up(
        addr,
        request(
            "PATCH",
            "/orgs/a",
            &app.root_key,
            r#"{"name":"written after the hang-up"}"#,
        ),
        Duration::from_millis(100),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker.execute("ROLLBACK").await.unwrap();

    // The request was received whole: it runs to its end, as if the client
    // had stayed, and is audited.
    let mut name = serde_json::Value::Null;
    for _ in 0..100 {
        let org: serde_json::Value = app.get_json(&app.root_key, "/orgs/a").await;
        name = org["name"].clone();
        if name == json!("written after the hang-up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(name, json!("written after the hang-up"));
    assert_eq!(
        app.all_pages(&app.root_key, "/orgs/a/audit?action=org.update", 100)
            .await
            .len(),
        1
    );
    assert_eq!(app.verify("a").await["valid"], json!(true));
}
