//! The binary itself: bootstrap, `keys create`, `audit verify`, signals.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawDb, Storage, run_cli, start_binary};

#[tokio::test]
async fn first_start_prints_a_root_key_once_and_it_works() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let (mut child, base, printed) = start_binary(&db, None).await;
    let secret = printed
        .iter()
        .find_map(|l| l.split("(shown once, store it now): ").nth(1))
        .expect("the generated root key is printed")
        .to_owned();
    let client = reqwest::Client::new();
    let me: Value = client
        .get(format!("{base}/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["org"]["id"], "root");
    assert_eq!(
        me["key"]["permissions"],
        json!(["read", "write", "delete", "admin"])
    );
    child.kill().await.unwrap();

    let (_child, base, printed) = start_binary(&db, None).await;
    assert!(
        printed
            .iter()
            .all(|l| !l.contains(&secret) && !l.contains("shown once")),
        "{printed:?}"
    );
    let res = client
        .get(format!("{base}/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn keys_create_mints_a_working_key_straight_in_the_database() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let url = db.clone();
    let (code, _, err) = run_cli(&[
        "keys",
        "create",
        "--database-url",
        &url,
        "--org",
        "root",
        "--permissions",
        "read",
        "--name",
        "x",
    ])
    .await;
    // No database yet (SQLite: no file; PostgreSQL: an empty database).
    assert_eq!(code, 1, "no root yet: {err}");
    assert!(err.contains("`orgd serve` once"), "{err}");

    let root = orgd_core::keys::generate_secret();
    let (mut child, base, _) = start_binary(&db, Some(&root)).await;
    let client = reqwest::Client::new();
    client
        .post(format!("{base}/orgs"))
        .bearer_auth(&root)
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    // A limit binds API keys, never the operator's way back in.
    let res = client
        .patch(format!("{base}/orgs/acme/configs"))
        .bearer_auth(&root)
        .json(&json!({"api_keys.limit": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let (code, out, err) = run_cli(&[
        "keys",
        "create",
        "--database-url",
        &url,
        "--org",
        "acme",
        "--permissions",
        "read,write",
        "--name",
        "recovery",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let key: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(key["permissions"], json!(["read", "write"]));
    let secret = key["secret"].as_str().unwrap();
    let me: Value = client
        .get(format!("{base}/me"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["org"]["id"], "acme");
    let res = client
        .post(format!("{base}/orgs/acme/api_keys"))
        .bearer_auth(&root)
        .json(&json!({"name": "over the limit", "permissions": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    let (code, _, err) = run_cli(&[
        "keys",
        "create",
        "--database-url",
        &url,
        "--org",
        "acme",
        "--permissions",
        "sudo",
        "--name",
        "x",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("permissions"), "{err}");

    let events: Vec<Value> = client
        .get(format!("{base}/orgs/acme/audit?action=api_key.create"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        events[0]["actor"],
        json!({"key_id": null, "user": "orgd-cli"})
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn audit_verify_exits_nonzero_on_a_broken_chain() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let url = db.clone();
    let root = orgd_core::keys::generate_secret();
    let (mut child, base, _) = start_binary(&db, Some(&root)).await;
    let client = reqwest::Client::new();
    client
        .post(format!("{base}/orgs"))
        .bearer_auth(&root)
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    client
        .patch(format!("{base}/orgs/acme"))
        .bearer_auth(&root)
        .json(&json!({"name": "Acme 2"}))
        .send()
        .await
        .unwrap();
    child.kill().await.unwrap();

    let (code, out, _) =
        run_cli(&["audit", "verify", "--database-url", &url, "--org", "acme"]).await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["valid"], true);

    let mut conn = RawDb::connect(&url).await;
    conn.drop_audit_guard().await;
    conn.execute(
        "UPDATE audit_events SET actor_user = 'someone else' WHERE org_id = 'acme' AND seq = 1",
    )
    .await
    .unwrap();
    drop(conn);
    let (code, out, _) =
        run_cli(&["audit", "verify", "--database-url", &url, "--org", "acme"]).await;
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["valid"].clone(), v["first_bad_seq"].clone()),
        (json!(false), json!(1))
    );
}

#[tokio::test]
async fn sigterm_finishes_cleanly_with_exit_status_zero() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let root = orgd_core::keys::generate_secret();
    let (mut child, base, _) = start_binary(&db, Some(&root)).await;
    let res = reqwest::Client::new()
        .post(format!("{base}/orgs"))
        .bearer_auth(&root)
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn migrate_and_openapi_commands_work() {
    let storage = Storage::new().await;
    let url = storage.database_url.clone();
    let (code, _, err) = run_cli(&["migrate", "--database-url", &url]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run_cli(&["openapi"]).await;
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(doc["paths"]["/orgs/{org_id}"].is_object());
}
