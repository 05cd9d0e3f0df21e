//! The real binary killed with SIGKILL mid-write: every acknowledged write survives.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `orgd serve` on a free port; returns the process and its base URL.
async fn start(db: &Path, key: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgd"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ORGD_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("ORGD_BOOTSTRAP_KEY", key)
        .env("ORGD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("orgd exited before listening");
        if let Some(addr) = line.strip_prefix("orgd: listening on ") {
            break addr.to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orgd.db");
    let key = orgd_core::keys::generate_secret();
    let client = reqwest::Client::new();

    let (mut child, base) = start(&db, &key).await;
    let res = client
        .post(format!("{base}/orgs"))
        .bearer_auth(&key)
        .json(&json!({"id": "hot", "name": "hot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let patched = Arc::new(Mutex::new(0u32));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            let (created, patched) = (created.clone(), patched.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let id = format!("w{w}-{i}");
                    let Ok(res) = client
                        .post(format!("{base}/orgs"))
                        .bearer_auth(&key)
                        .json(&json!({"id": id, "name": id}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    if res.status() == StatusCode::CREATED {
                        created.lock().unwrap().push(id.clone());
                    }
                    let Ok(res) = client
                        .patch(format!("{base}/orgs/hot"))
                        .bearer_auth(&key)
                        .json(&json!({"name": id}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    if res.status() == StatusCode::OK {
                        *patched.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();

    // Let writes pile up, then pull the plug while they are in flight.
    while created.lock().unwrap().len() < 200 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let created = created.lock().unwrap().clone();
    let patched = *patched.lock().unwrap();

    let (_child, base) = start(&db, &key).await;
    for id in &created {
        let res = client
            .get(format!("{base}/orgs/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "acknowledged org {id} was lost"
        );
    }
    let hot: Value = client
        .get(format!("{base}/orgs/hot"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        hot["version"].as_u64().unwrap() > u64::from(patched),
        "acknowledged renames were lost"
    );
    let mut orgs = vec!["root".to_owned(), "hot".to_owned()];
    orgs.extend(created);
    for id in orgs {
        let v: Value = client
            .get(format!("{base}/orgs/{id}/audit/verify"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["valid"], true, "chain of {id} broken: {v}");
    }
}
