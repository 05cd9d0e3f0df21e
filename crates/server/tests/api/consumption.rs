//! Monthly consumption: usage ingestion, counters, gauges, subtree sums.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json_body, problem};

/// Posts `events` as usage of `org` with the root key: the receipt.
async fn post_usage(app: &TestApp, org: &str, events: Value) -> Value {
    let res = app
        .post(&app.root_key, &format!("/orgs/{org}/usage"), events)
        .await;
    json_body(res, StatusCode::ACCEPTED).await
}

#[tokio::test]
async fn usage_with_one_idempotency_key_counts_once_even_across_a_restart() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let batch = json!([
        {"metric": "storage.gb_hours", "quantity": 10, "idempotency_key": "evt-1"},
        {"metric": "storage.gb_hours", "quantity": 5}
    ]);
    assert_eq!(
        post_usage(&app, "a", batch).await,
        json!({"accepted": 2, "duplicates": 0})
    );
    let again = json!([{"metric": "storage.gb_hours", "quantity": 10, "idempotency_key": "evt-1"}]);
    assert_eq!(
        post_usage(&app, "a", again.clone()).await,
        json!({"accepted": 0, "duplicates": 1})
    );

    let app = app.restart().await;
    assert_eq!(
        post_usage(&app, "a", again).await,
        json!({"accepted": 0, "duplicates": 1})
    );
    let c: Value = app.get_json(&app.root_key, "/orgs/a/consumption").await;
    assert_eq!(c["metrics"]["storage.gb_hours"], 15);
    // Another org may use the same key.
    let other = json!([{"metric": "storage.gb_hours", "quantity": 1, "idempotency_key": "evt-1"}]);
    assert_eq!(
        post_usage(&app, "root", other).await,
        json!({"accepted": 1, "duplicates": 0})
    );
}

#[tokio::test]
async fn usage_events_are_validated() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let now = app.clock_now();
    let old = orgd_core::time::format(now - chrono::Duration::days(36));
    let bad = json!([
        {"metric": "Bad-Metric", "quantity": 1},
        {"metric": "ok", "quantity": -1},
    ]);
    let res = app.post(k, "/orgs/root/usage", bad).await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let bad = json!([{"metric": "ok", "quantity": 1, "timestamp": old}, {"metric": "api_requests", "quantity": 1}]);
    let res = app.post(k, "/orgs/root/usage", bad).await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(error_fields(&p), vec!["[0].timestamp", "[1].metric"]);
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"metric": "x", "quantity": 1}))
        .collect();
    let res = app.post(k, "/orgs/root/usage", json!(many)).await;
    problem(res, StatusCode::BAD_REQUEST).await;
    for query in ["month=2024-13", "include_children=yes"] {
        let path = format!("/orgs/root/consumption?{query}");
        app.get_problem(k, &path, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn usage_lands_in_the_month_of_its_timestamp() {
    let app = TestApp::spawn().await;
    let now = app.clock_now();
    let earlier = now - chrono::Duration::days(33);
    let month = orgd_core::consumption::Month::of(earlier).to_string();
    let at = orgd_core::time::format(earlier);
    app.post(
        &app.root_key,
        "/orgs/root/usage",
        json!([{"metric": "seats", "quantity": 3, "timestamp": at}]),
    )
    .await;
    let path = format!("/orgs/root/consumption?month={month}");
    let c: Value = app.get_json(&app.root_key, &path).await;
    assert_eq!(c["month"], month);
    assert_eq!(c["metrics"]["seats"], 3);
}

#[tokio::test]
async fn a_three_level_subtree_sums_up() {
    let app = TestApp::spawn().await;
    app.orgs("root/reseller/customer-1 reseller/customer-2 customer-1/team")
        .await;
    for (org, n) in [
        ("reseller", 1),
        ("customer-1", 10),
        ("customer-2", 100),
        ("team", 1000),
    ] {
        app.usage(org, "seats", n).await;
    }
    app.delete(&app.root_key, "/orgs/customer-2").await;

    let c: Value = app
        .get_json(
            &app.root_key,
            "/orgs/reseller/consumption?include_children=true",
        )
        .await;
    assert_eq!(c["org_id"], "reseller");
    assert_eq!(c["metrics"]["seats"], 1);
    assert_eq!(
        c["subtree"]["seats"], 1111,
        "deleted orgs' consumption stays in the sums"
    );
    let children = c["children"].as_array().unwrap();
    let by_id = |id: &str| children.iter().find(|c| c["org_id"] == id).unwrap()["subtree"].clone();
    assert_eq!(by_id("customer-1")["seats"], 1010);
    assert_eq!(by_id("customer-2")["seats"], 100);
    assert_eq!(children.len(), 2);
    assert_eq!(c["metrics"]["children"], json!({"current": 1, "peak": 2}));
    let plain: Value = app
        .get_json(&app.root_key, "/orgs/reseller/consumption")
        .await;
    assert!(plain.get("subtree").is_none() && plain.get("children").is_none());
}

#[tokio::test]
async fn api_requests_count_authenticated_requests_that_reach_the_org() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b").await;
    let (a_key, _) = app.key("a", &["read"]).await;
    let (b_key, _) = app.key("b", &["read"]).await;
    for _ in 0..3 {
        app.get(&a_key, "/orgs/a").await;
    }
    let res = app.patch(&a_key, "/orgs/a", json!({"name": "x"})).await;
    problem(res, StatusCode::FORBIDDEN).await;
    app.get_problem(&b_key, "/orgs/a", StatusCode::NOT_FOUND)
        .await;
    let bad = "orgd_0000000000000000000000000000000000000000000";
    app.get_problem(bad, "/orgs/a", StatusCode::UNAUTHORIZED)
        .await;
    app.flush().await;
    let c: Value = app.get_json(&app.root_key, "/orgs/a/consumption").await;
    assert_eq!(
        c["metrics"]["api_requests"], 5,
        "minting a's key, three reads and the refused write; not the sibling's or the bad key's"
    );
    assert_eq!(
        c["metrics"]["applications"],
        json!({"current": 0, "peak": 0})
    );
}

/// The `children` gauge of `org` in the current month.
async fn children_gauge(app: &TestApp, org: &str) -> Value {
    let path = format!("/orgs/{org}/consumption");
    let c: Value = app.get_json(&app.root_key, &path).await;
    c["metrics"]["children"].clone()
}

#[tokio::test]
async fn the_children_gauge_follows_creates_moves_and_deletes() {
    let app = TestApp::spawn().await;
    app.orgs("root/p root/q").await;
    for i in 0..3 {
        app.org("p", &format!("c{i}")).await;
    }
    app.patch(&app.root_key, "/orgs/c0", json!({"parent_id": "q"}))
        .await;
    app.delete(&app.root_key, "/orgs/c1").await;
    let gauge = |current: i64, peak: i64| json!({"current": current, "peak": peak});
    assert_eq!(children_gauge(&app, "p").await, gauge(1, 3));
    assert_eq!(children_gauge(&app, "q").await, gauge(1, 1));

    // Next month: the gauge carries over, its peak starting from the carried value.
    app.clock.advance(chrono::Duration::days(32));
    assert_eq!(children_gauge(&app, "p").await, gauge(1, 1));
    app.delete(&app.root_key, "/orgs/c2").await;
    assert_eq!(children_gauge(&app, "p").await, gauge(0, 1));
}

#[tokio::test]
async fn huge_quantities_are_refused_and_a_full_counter_saturates() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    for quantity in [json!(1_000_000_000_000_001_u64), json!(i64::MAX)] {
        let events = json!([{"metric": "bytes", "quantity": quantity}]);
        let res = app.post(k, "/orgs/a/usage", events).await;
        problem(res, StatusCode::BAD_REQUEST).await;
    }

    // Ten calls of a thousand maximal events pass i64::MAX: the counter
    // stays at its largest value instead of failing.
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({"metric": "bytes", "quantity": 1_000_000_000_000_000_u64}))
        .collect();
    for _ in 0..10 {
        post_usage(&app, "a", Value::Array(batch.clone())).await;
    }
    let report: Value = app.get_json(k, "/orgs/a/consumption").await;
    assert_eq!(report["metrics"]["bytes"], json!(i64::MAX));
}

/// Every metric but `api_requests` (which the checking requests themselves
/// move) of `GET /orgs/{org}/consumption?month=…`, own or with children.
async fn metrics_of(app: &TestApp, org: &str, month: &str, children: bool) -> Value {
    let path = format!("/orgs/{org}/consumption?month={month}&include_children={children}");
    let mut v: Value = app.get_json(&app.root_key, &path).await;
    let strip = |m: &mut Value| {
        if let Some(o) = m.as_object_mut() {
            o.remove("api_requests");
        }
    };
    strip(&mut v["metrics"]);
    strip(&mut v["subtree"]);
    if let Some(cs) = v["children"].as_array_mut() {
        for c in cs {
            strip(&mut c["subtree"]);
        }
    }
    v
}

/// Adds `b` into `a`: numbers add, `{current, peak}` add field by field.
fn add(a: &mut Value, b: &Value) {
    for (k, v) in b.as_object().unwrap() {
        let slot = a
            .as_object_mut()
            .unwrap()
            .entry(k.clone())
            .or_insert(json!(0));
        match v {
            Value::Number(n) => *slot = json!(slot.as_i64().unwrap_or(0) + n.as_i64().unwrap()),
            Value::Object(g) => {
                if !slot.is_object() {
                    *slot = json!({"current": 0, "peak": 0});
                }
                for f in ["current", "peak"] {
                    slot[f] = json!(slot[f].as_i64().unwrap() + g[f].as_i64().unwrap());
                }
            }
            _ => panic!("unexpected metric {v}"),
        }
    }
}

/// The subtree sums and each child's, checked against the sum of every
/// org's own consumption (the definition), in `month`.
async fn check_sums(app: &TestApp, tree: &[(&str, &str)], month: &str) {
    let children_of = |p: &str| -> Vec<&str> {
        tree.iter()
            .filter(|(_, parent)| *parent == p)
            .map(|(id, _)| *id)
            .collect()
    };
    fn subtree<'a>(tree: &[(&'a str, &'a str)], root: &'a str) -> Vec<&'a str> {
        let mut out = vec![root];
        for (id, parent) in tree {
            if *parent == root {
                out.extend(subtree(tree, id));
            }
        }
        out
    }
    let mut own = std::collections::HashMap::new();
    for id in subtree(tree, "root") {
        own.insert(
            id,
            metrics_of(app, id, month, false).await["metrics"].clone(),
        );
    }
    let expected = |root: &str| {
        let mut sum = json!({});
        for id in subtree(tree, root) {
            add(&mut sum, &own[id]);
        }
        sum
    };
    let nonzero = |v: &Value| -> Value {
        // Gauges the API reports at zero when unset: compare only what is set.
        let mut out = serde_json::Map::new();
        for (k, m) in v.as_object().unwrap() {
            if m != &json!(0) && m != &json!({"current": 0, "peak": 0}) {
                out.insert(k.clone(), m.clone());
            }
        }
        Value::Object(out)
    };
    for (id, _) in tree.iter().chain([("root", "")].iter()) {
        let report = metrics_of(app, id, month, true).await;
        assert_eq!(
            nonzero(&report["subtree"]),
            nonzero(&expected(id)),
            "subtree of {id} in {month}"
        );
        for child in children_of(id) {
            let got = report["children"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["org_id"] == child)
                .unwrap_or_else(|| panic!("{child} missing under {id}"))["subtree"]
                .clone();
            assert_eq!(
                nonzero(&got),
                nonzero(&expected(child)),
                "{child} under {id} in {month}"
            );
        }
    }
}

/// Moves `id` under `parent`, on the server and in `tree`.
async fn move_org(
    app: &TestApp,
    tree: &mut Vec<(&'static str, &'static str)>,
    id: &'static str,
    parent: &'static str,
) {
    let body = json!({"parent_id": parent});
    let res = app.patch(&app.root_key, &format!("/orgs/{id}"), body).await;
    assert_eq!(res.status(), StatusCode::OK);
    tree.retain(|(org, _)| *org != id);
    tree.push((id, parent));
}

#[tokio::test]
async fn subtree_sums_follow_usage_gauges_and_moves_across_months() {
    let app = TestApp::spawn().await;
    let mut tree = vec![
        ("a", "root"),
        ("a1", "a"),
        ("a2", "a"),
        ("a21", "a2"),
        ("b", "root"),
    ];
    for (id, parent) in &tree {
        app.org(parent, id).await;
    }
    app.usage("a1", "seats", 5).await;
    app.usage("a21", "seats", 3).await;
    app.usage("b", "seats", 7).await;
    app.usage("a", "seats", 1).await;
    app.application("a1", "x").await;
    app.application("a1", "y").await;
    app.application("a21", "z").await;
    let first = app.clock_now().format("%Y-%m").to_string();
    check_sums(&app, &tree, &first).await;

    // a2 (with a21) moves under b: its history goes with it.
    move_org(&app, &mut tree, "a2", "b").await;
    check_sums(&app, &tree, &first).await;

    // The next month: gauges carry over, counters start again; then more.
    app.clock.advance(chrono::Duration::days(32));
    let second = app.clock_now().format("%Y-%m").to_string();
    check_sums(&app, &tree, &second).await;
    app.usage("a21", "seats", 4).await;
    app.application("a21", "w").await;
    app.application("b", "v").await;
    move_org(&app, &mut tree, "a21", "a").await;
    check_sums(&app, &tree, &second).await;
    check_sums(&app, &tree, &first).await;
}

/// A database written before the roll-ups existed gets them, complete, from
/// the migration that adds them.
#[tokio::test]
async fn the_migration_builds_the_rollups_of_an_existing_database() {
    let app = TestApp::spawn().await;
    let tree = vec![("a", "root"), ("a1", "a"), ("a2", "a"), ("b", "root")];
    for (id, parent) in &tree {
        app.org(parent, id).await;
    }
    for (org, n) in [("a1", 5), ("a2", 3), ("b", 7)] {
        app.usage(org, "seats", n).await;
    }
    for (org, name) in [("a1", "x"), ("a2", "y"), ("a2", "z")] {
        app.application(org, name).await;
    }
    app.flush().await;
    // As the database was before: no roll-up tables, their migration not run
    // (those after it stay applied: the migrator runs the one missing).
    let mut db = crate::helpers::RawDb::connect(&app.database_url).await;
    let rollups = db
        .scalar("SELECT version FROM _sqlx_migrations WHERE description = 'consumption rollups'")
        .await;
    for sql in [
        "DROP TABLE subtree_counters".to_owned(),
        "DROP TABLE subtree_gauges".to_owned(),
        format!("DELETE FROM _sqlx_migrations WHERE version = {rollups}"),
    ] {
        db.execute(&sql).await.unwrap();
    }
    drop(db);
    let app = app.restart().await;
    let month = app.clock_now().format("%Y-%m").to_string();
    check_sums(&app, &tree, &month).await;
    let report = metrics_of(&app, "root", &month, true).await;
    assert_eq!(report["subtree"]["seats"], 15);
    assert_eq!(
        report["subtree"]["applications"],
        json!({"current": 3, "peak": 3})
    );
}
