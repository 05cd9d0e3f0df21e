//! The binary itself: bootstrap, `keys create`, `audit verify`, signals.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawDb, Remote, Storage, run_cli, start_binary};

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
    let me: Value = Remote::new(&base, &secret).get_json("/me").await;
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
    let res = Remote::new(&base, &secret).get("/me").await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// `orgd serve` on `db` with a new root key, which has made the org `acme`:
/// the process, and requests with that key.
async fn serving_acme(db: &str) -> (tokio::process::Child, Remote) {
    let root = orgd_core::api_keys::generate_secret();
    let (child, base, _) = start_binary(db, Some(&root)).await;
    let operator = Remote::new(&base, &root);
    let res = operator
        .post("/orgs", json!({"id": "acme", "name": "Acme"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (child, operator)
}

/// `orgd keys create` on the database at `url`: exit code, stdout, stderr.
async fn keys_create(url: &str, org: &str, permissions: &str, name: &str) -> (i32, String, String) {
    run_cli(&[
        "keys",
        "create",
        "--database-url",
        url,
        "--org",
        org,
        "--permissions",
        permissions,
        "--name",
        name,
    ])
    .await
}

#[tokio::test]
async fn keys_create_mints_a_working_key_straight_in_the_database() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let (code, _, err) = keys_create(&db, "root", "read", "x").await;
    // No database yet (SQLite: no file; PostgreSQL: an empty database).
    assert_eq!(code, 1, "no root yet: {err}");
    assert!(err.contains("`orgd serve` once"), "{err}");

    let (mut child, operator) = serving_acme(&db).await;
    // A limit binds API keys, never the operator's way back in.
    let res = operator
        .patch("/orgs/acme/configs", json!({"api_keys.limit": 0}))
        .await;
    assert_eq!(res.status(), 200);

    let (code, out, err) = keys_create(&db, "acme", "read,write", "recovery").await;
    assert_eq!(code, 0, "{err}");
    let key: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(key["permissions"], json!(["read", "write"]));
    let secret = key["secret"].as_str().unwrap();
    let me: Value = Remote::new(&operator.base, secret).get_json("/me").await;
    assert_eq!(me["org"]["id"], "acme");
    let over = json!({"name": "over the limit", "permissions": ["read"]});
    let res = operator.post("/orgs/acme/api_keys", over).await;
    assert_eq!(res.status(), 409);

    let (code, _, err) = keys_create(&db, "acme", "sudo", "x").await;
    assert_eq!(code, 1);
    assert!(err.contains("permissions"), "{err}");

    let events: Vec<Value> = operator
        .get_json("/orgs/acme/audit?action=api_key.create")
        .await;
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
    let (mut child, operator) = serving_acme(&db).await;
    operator
        .patch("/orgs/acme", json!({"name": "Acme 2"}))
        .await;
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
    let (mut child, _) = serving_acme(&db).await;
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
