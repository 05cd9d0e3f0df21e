//! Hot reads come from memory, and a node reads its own writes at once.

use std::time::Duration;

use orgd_core::service::CacheTtl;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawDb, TestApp};

async fn name_of(app: &TestApp, org: &str) -> String {
    let body: Value = app.get_json(&app.root_key, &format!("/orgs/{org}")).await;
    body["name"].as_str().unwrap().to_owned()
}

async fn effective(app: &TestApp, org: &str) -> Value {
    let path = format!("/orgs/{org}/configs/effective");
    app.get_json(&app.root_key, &path).await
}

/// Caches that trust what they hold for an hour: within a test, a read
/// that sees a change saw it because the change evicted it.
fn cache_for_an_hour(c: &mut orgd::Config) {
    c.cache_ttl = CacheTtl {
        orgs: Duration::from_secs(3600),
        keys: Duration::from_secs(3600),
    };
}

#[tokio::test]
async fn reads_are_served_from_memory_and_every_write_here_is_seen_at_once() {
    let app = TestApp::spawn_with(cache_for_an_hour).await;
    app.orgs("root/a/b").await;
    let k = &app.root_key;
    let before = name_of(&app, "a").await;

    // Behind orgd's back (as another process could): the cached record
    // still answers, so the read did not go to the database.
    let mut db = RawDb::connect(&app.database_url).await;
    db.execute("UPDATE orgs SET name = 'changed behind orgd' WHERE id = 'a'")
        .await
        .unwrap();
    assert_eq!(name_of(&app, "a").await, before);

    // Through orgd: the answer after the write is the write, for the record,
    // its tags, and what its descendants inherit.
    let res = app.patch(k, "/orgs/a", json!({"name": "Renamed"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(name_of(&app, "a").await, "Renamed");

    let before = effective(&app, "b").await;
    assert!(before["applications.limit"]["value"].is_null());
    let seven = json!({"applications.limit": 7});
    let res = app.patch(k, "/orgs/a/configs", seven).await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = effective(&app, "b").await;
    assert_eq!(after["applications.limit"]["value"], 7);
    assert_eq!(after["applications.limit"]["source"], "a");

    app.created(k, "/orgs/b/tags", json!({"name": "gold"}))
        .await;
    let org: Value = app.get_json(k, "/orgs/b").await;
    assert_eq!(org["tags"], json!(["gold"]));

    // A move rewrites the subtree's paths: a key of the old parent loses
    // reach to `b` at once.
    app.org("root", "c").await;
    let (a_key, _) = app.key("a", &["read"]).await;
    assert_eq!(app.get(&a_key, "/orgs/b").await.status(), StatusCode::OK);
    let res = app.patch(k, "/orgs/b", json!({"parent_id": "c"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get(&a_key, "/orgs/b").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A deleted org is gone at once, and so are its keys.
    let (c_key, _) = app.key("c", &["read"]).await;
    assert_eq!(app.get(&c_key, "/orgs/c").await.status(), StatusCode::OK);
    let res = app.delete(k, "/orgs/c?cascade=true").await;
    assert_eq!(res.status(), StatusCode::OK);
    for (key, status) in [
        (k, StatusCode::NOT_FOUND),
        (&c_key, StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(app.get(key, "/orgs/c").await.status(), status);
    }
}

/// The TTL is the safety net: a change no notification announced (here one
/// made behind orgd's back) is seen once it has passed. With a TTL of zero
/// it has always passed, so no test has to wait for it.
#[tokio::test]
async fn a_change_nothing_announced_is_seen_after_the_ttl() {
    let app = TestApp::spawn_with(|c| {
        c.cache_ttl = CacheTtl {
            orgs: Duration::ZERO,
            keys: Duration::ZERO,
        }
    })
    .await;
    app.org("root", "a").await;
    let (key, _) = app.key("a", &["read"]).await;
    assert_eq!(app.get(&key, "/orgs/a").await.status(), StatusCode::OK);
    assert_ne!(name_of(&app, "a").await, "changed behind orgd");

    let mut db = RawDb::connect(&app.database_url).await;
    db.execute("UPDATE orgs SET name = 'changed behind orgd' WHERE id = 'a'")
        .await
        .unwrap();
    db.execute("UPDATE api_keys SET revoked_at = created_at WHERE org_id = 'a'")
        .await
        .unwrap();
    assert_eq!(name_of(&app, "a").await, "changed behind orgd");
    assert_eq!(
        app.get(&key, "/orgs/a").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
