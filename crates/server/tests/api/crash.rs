//! The real binary killed with SIGKILL mid-write: every acknowledged write survives.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Remote, Storage, start_binary};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let key = orgd_core::api_keys::generate_secret();
    let client = reqwest::Client::new();

    let (mut child, base, _) = start_binary(&db, Some(&key)).await;
    let res = Remote::new(&base, &key)
        .post("/orgs", json!({"id": "hot", "name": "hot"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let patched = Arc::new(Mutex::new(0u32));
    let enough = Arc::new(tokio::sync::Notify::new());
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            let (created, patched, enough) = (created.clone(), patched.clone(), enough.clone());
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
                        let mut c = created.lock().unwrap();
                        c.push(id.clone());
                        if c.len() == 200 {
                            enough.notify_one();
                        }
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
    enough.notified().await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let created = created.lock().unwrap().clone();
    let patched = *patched.lock().unwrap();

    let (_child, base, _) = start_binary(&db, Some(&key)).await;
    let remote = Remote::new(&base, &key);
    for id in &created {
        let res = remote.get(&format!("/orgs/{id}")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "acknowledged org {id} was lost"
        );
    }
    let hot: Value = remote.get_json("/orgs/hot").await;
    assert!(
        hot["version"].as_u64().unwrap() > u64::from(patched),
        "acknowledged renames were lost"
    );
    let mut orgs = vec!["root".to_owned(), "hot".to_owned()];
    orgs.extend(created);
    for id in orgs {
        let v: Value = remote.get_json(&format!("/orgs/{id}/audit/verify")).await;
        assert_eq!(v["valid"], true, "chain of {id} broken: {v}");
    }
}
