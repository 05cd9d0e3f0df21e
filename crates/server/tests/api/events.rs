//! The outbox and the pull feed (SPEC §11): every audited change has its
//! event, committed with it, readable from a cursor exactly once.

use std::collections::{BTreeMap, HashSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, held_feed_read, next_after, problem};

/// One page of the feed from `after` (`None`: the start): the events and
/// the cursor to read on from.
async fn read(
    app: &TestApp,
    key: &str,
    org: &str,
    after: Option<&str>,
    extra: &str,
) -> (Vec<Value>, String) {
    let mut path = format!("/orgs/{org}/events?{extra}");
    if let Some(after) = after {
        path.push_str(&format!("&after={after}"));
    }
    let res = app.get(key, &path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let after = next_after(&res);
    (res.json().await.unwrap(), after)
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_audited_change_is_an_event_that_points_into_its_chain() {
    let app = TestApp::spawn().await;
    let (_, start) = read(&app, &app.root_key, "root", None, "").await;
    app.org("root", "a").await;
    let res = app
        .patch(
            &app.root_key,
            "/orgs/a/configs",
            json!({"workspaces.limit": "7"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, key_id) = app.key("a", &["read"]).await;
    let res = app
        .delete(&app.root_key, &format!("/orgs/a/api_keys/{key_id}"))
        .await;
    assert!(res.status().is_success());

    let (events, _) = read(&app, &app.root_key, "root", Some(&start), "").await;
    assert_eq!(
        types(&events),
        [
            "org.create",
            "configs.update",
            "api_key.create",
            "api_key.delete"
        ]
    );
    let audit: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/audit").await;
    for event in &events {
        assert_eq!(event["org_id"], "a");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        let seq = event["audit"]["seq"].as_i64().unwrap();
        let audited = audit.iter().find(|e| e["seq"] == seq).unwrap();
        assert_eq!(event["id"], audited["id"], "one id for the change");
        assert_eq!(event["audit"]["hash"], audited["hash"]);
        assert_eq!(event["audit"]["org_id"], "a");
        assert_eq!(event["occurred_at"], audited["timestamp"]);
        assert_eq!(event["data"]["target"], audited["target"]);
        assert_eq!(event["data"]["changes"], audited["changes"]);
    }
    assert_eq!(
        events[1]["data"]["changes"]["after"],
        json!({"workspaces.limit": 7})
    );
    assert!(
        !events[2].to_string().contains("secret"),
        "no secret in an event"
    );
}

#[tokio::test]
async fn the_feed_filters_by_type_and_scope_and_a_key_sees_only_its_subtree() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1 root/b").await;
    app.patch(
        &app.root_key,
        "/orgs/a1/configs",
        json!({"workspaces.limit": "3"}),
    )
    .await;
    app.post(&app.root_key, "/orgs/a/tags", json!({"name": "gold"}))
        .await;
    let (a_key, _) = app.key("a", &["read"]).await;

    let (all, _) = read(&app, &a_key, "a", None, "").await;
    let orgs: HashSet<&str> = all.iter().map(|e| e["org_id"].as_str().unwrap()).collect();
    assert_eq!(
        orgs,
        HashSet::from(["a", "a1"]),
        "a's subtree, and nothing of root's or b's"
    );

    let (own, _) = read(&app, &a_key, "a", None, "scope=self").await;
    assert!(own.iter().all(|e| e["org_id"] == "a"));
    assert_eq!(types(&own), ["org.create", "tag.create", "api_key.create"]);

    let (some, _) = read(&app, &a_key, "a", None, "types=org.*,configs.update").await;
    assert_eq!(types(&some), ["org.create", "org.create", "configs.update"]);
    let (exact, _) = read(&app, &a_key, "a", None, "types=tag.create").await;
    assert_eq!(types(&exact), ["tag.create"]);

    problem(
        app.get(&a_key, "/orgs/root/events").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(&a_key, "/orgs/b/events").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let (no_read, _) = app.key("a", &["write"]).await;
    problem(
        app.get(&no_read, "/orgs/a/events").await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn bad_feed_parameters_are_named() {
    let app = TestApp::spawn().await;
    let p = problem(
        app.get(
            &app.root_key,
            "/orgs/root/events?types=Org.*&scope=all&wait=31&after=nope&limit=0",
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error_fields(&p),
        ["types", "scope", "wait", "after", "limit"]
    );
    // A cursor of another list is no feed cursor.
    let res = app.get(&app.root_key, "/orgs/root/audit?limit=1").await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    problem(
        app.get(&app.root_key, &format!("/orgs/root/events?after={cursor}"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn crossing_80_and_100_percent_of_a_limit_is_an_event_once_each() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let res = app
        .patch(
            &app.root_key,
            "/orgs/a/configs",
            json!({"children.limit": "5"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, start) = read(&app, &app.root_key, "a", None, "").await;
    for n in 1..=5 {
        app.org("a", &format!("c{n}")).await;
    }
    let (thresholds, _) = read(
        &app,
        &app.root_key,
        "a",
        Some(&start),
        "types=limit.threshold&scope=self",
    )
    .await;
    let data: Vec<&Value> = thresholds.iter().map(|e| &e["data"]).collect();
    assert_eq!(
        data,
        [
            &json!({"resource": "children", "limit": 5, "used": 4, "threshold": 80}),
            &json!({"resource": "children", "limit": 5, "used": 5, "threshold": 100}),
        ]
    );
    assert!(
        thresholds
            .iter()
            .all(|e| e["audit"].is_null() && e["org_id"] == "a")
    );
    // Down and up again is a new crossing of 100 %, not of 80 % (never left).
    app.delete(&app.root_key, "/orgs/c5").await;
    app.org("a", "c6").await;
    let (again, _) = read(
        &app,
        &app.root_key,
        "a",
        Some(&start),
        "types=limit.threshold&scope=self",
    )
    .await;
    assert_eq!(again.len(), 3);
    assert_eq!(again[2]["data"]["threshold"], 100);
}

#[tokio::test]
async fn a_waiting_read_is_answered_when_an_event_commits() {
    let app = TestApp::spawn().await;
    let (_, start) = read(&app, &app.root_key, "root", None, "").await;
    // Nothing new within the wait: an empty page, and the same cursor.
    let (none, same) = read(&app, &app.root_key, "root", Some(&start), "wait=1").await;
    assert!(none.is_empty());
    assert_eq!(same, start);

    let held = held_feed_read(&app.url(""), &app.root_key, &start).await;
    app.org("root", "late").await;
    let (events, _) = held.await.unwrap();
    assert_eq!(types(&events), ["org.create"]);
    assert_eq!(events[0]["org_id"], "late");
}

#[tokio::test]
async fn a_consumer_following_cursors_sees_every_event_once_in_order_per_org() {
    let app = TestApp::spawn().await;
    const WRITERS: usize = 6;
    const CHANGES: usize = 15;
    for w in 0..WRITERS {
        app.org("root", &format!("w{w}")).await;
    }
    let (_, start) = read(&app, &app.root_key, "root", None, "").await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = app.url(&format!("/orgs/w{w}/configs"));
            let key = app.root_key.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for n in 0..CHANGES {
                    let res = client
                        .patch(&url)
                        .bearer_auth(&key)
                        .json(&json!({"workspaces.limit": (n + 1).to_string()}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                }
            })
        })
        .collect();

    // Read while they write, in small pages, until they are done and a page
    // comes back empty: a lost event fails the count below, never hangs.
    let mut seen: Vec<Value> = Vec::new();
    let mut after = start;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let (page, next) = read(&app, &app.root_key, "root", Some(&after), "limit=7&wait=1").await;
        after = next;
        if page.is_empty() && done {
            break;
        }
        seen.extend(page);
    }
    for w in writers {
        w.await.unwrap();
    }

    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), WRITERS * CHANGES, "each event once");
    let mut by_org: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in &seen {
        by_org
            .entry(e["org_id"].as_str().unwrap())
            .or_default()
            .push(e["audit"]["seq"].as_i64().unwrap());
    }
    assert_eq!(by_org.len(), WRITERS);
    for (org, seqs) in by_org {
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{org}: {seqs:?}");
    }
}
