//! Limited resources and every limit: exact under concurrency, inherited
//! down the tree, lowered without losing anything, released on deletion.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json_body, problem, strs};

const KINDS: [&str; 3] = ["applications", "workspaces", "usergroups"];

async fn set_configs(app: &TestApp, org: &str, configs: Value) {
    let res = app
        .patch(&app.root_key, &format!("/orgs/{org}/configs"), configs)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "configs of {org}");
}

async fn create_item(app: &TestApp, org: &str, kind: &str, name: &str) -> reqwest::Response {
    app.post(
        &app.root_key,
        &format!("/orgs/{org}/{kind}"),
        json!({ "name": name }),
    )
    .await
}

/// Creates `name` of `kind` in `org`, which must succeed: the item.
async fn created_item(app: &TestApp, org: &str, kind: &str, name: &str) -> Value {
    json_body(create_item(app, org, kind, name).await, StatusCode::CREATED).await
}

/// Tries to create `name` of `kind` in `org`, which a limit must refuse: the problem.
async fn refused_item(app: &TestApp, org: &str, kind: &str, name: &str) -> Value {
    problem(
        create_item(app, org, kind, name).await,
        StatusCode::CONFLICT,
    )
    .await
}

async fn limits(app: &TestApp, org: &str) -> Value {
    app.get_json(&app.root_key, &format!("/orgs/{org}/limits"))
        .await
}

/// The request that creates the `n`th thing of `what` in org `a`.
fn create_request(what: &str, n: usize) -> (String, Value) {
    match what {
        "children" => (
            "/orgs".into(),
            json!({ "id": format!("child-{n}"), "name": "Child", "parent_id": "a" }),
        ),
        "api_keys" => (
            "/orgs/a/api_keys".into(),
            json!({ "name": format!("key {n}"), "permissions": ["read"] }),
        ),
        kind => (
            format!("/orgs/a/{kind}"),
            json!({ "name": format!("item {n}") }),
        ),
    }
}

/// How many of `what` org `a` holds, as its listings show.
async fn listed(app: &TestApp, what: &str) -> usize {
    let path = match what {
        "children" => "/orgs/a/children".to_owned(),
        other => format!("/orgs/a/{other}"),
    };
    app.all_pages(&app.root_key, &format!("{path}?limit=1000"), 1000)
        .await
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_creates_against_limit_five_leave_exactly_five() {
    for what in [
        "applications",
        "workspaces",
        "usergroups",
        "children",
        "api_keys",
    ] {
        let app = Arc::new(TestApp::spawn().await);
        app.org("root", "a").await;
        set_configs(&app, "a", json!({ format!("{what}.limit"): 5 })).await;

        // 32 client tasks, two creates each, all in flight at once.
        let mut clients = Vec::new();
        for t in 0..32 {
            let app = app.clone();
            clients.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                for n in [2 * t, 2 * t + 1] {
                    let (path, body) = create_request(what, n);
                    let res = app.post(&app.root_key, &path, body).await;
                    let status = res.status();
                    let body: Value = res.json().await.unwrap();
                    answers.push((status, body));
                }
                answers
            }));
        }
        let mut created = 0;
        let mut refused = 0;
        for c in clients {
            for (status, body) in c.await.unwrap() {
                match status {
                    StatusCode::CREATED => created += 1,
                    StatusCode::CONFLICT => {
                        assert_eq!(body["type"], "/problems/limit-exceeded", "{what}: {body}");
                        assert_eq!(body["code"], "limit_exceeded");
                        assert_eq!(body["resource"], what);
                        assert_eq!(body["limit"], 5);
                        assert_eq!(body["used"], 5);
                        assert_eq!(body["source"], "a");
                        refused += 1;
                    }
                    other => panic!("{what}: unexpected {other}: {body}"),
                }
            }
        }
        assert_eq!((created, refused), (5, 59), "{what}");
        assert_eq!(listed(&app, what).await, 5, "{what} stored");
        let l = limits(&app, "a").await;
        assert_eq!(
            l[what],
            json!({"limit": 5, "used": 5, "source": "a", "over_limit": false}),
            "{what}"
        );
        assert_eq!(app.verify("a").await["valid"], json!(true));
    }
}

#[tokio::test]
async fn a_grandparents_limit_governs_until_the_grandchild_sets_its_own() {
    let app = TestApp::spawn().await;
    app.orgs("root/gp/p/c").await;
    set_configs(
        &app,
        "gp",
        json!({"applications.limit": 2, "children.limit": 1}),
    )
    .await;

    let l = limits(&app, "c").await;
    assert_eq!(
        l["applications"],
        json!({"limit": 2, "used": 0, "source": "gp", "over_limit": false})
    );
    assert_eq!(
        l["workspaces"],
        json!({"limit": null, "used": 0, "source": null, "over_limit": false})
    );
    // gp's own children.limit of 1 is met by p; c inherits 1 and has none yet.
    assert_eq!(l["children"]["source"], "gp");
    assert_eq!(limits(&app, "gp").await["children"]["used"], 1);

    for n in 0..2 {
        created_item(&app, "c", "applications", &format!("app {n}")).await;
    }
    let p = refused_item(&app, "c", "applications", "one too many").await;
    assert_eq!(p["type"], "/problems/limit-exceeded");
    assert_eq!(
        (&p["limit"], &p["used"], &p["source"]),
        (&json!(2), &json!(2), &json!("gp"))
    );

    // The grandchild's own value overrides the inherited one.
    set_configs(&app, "c", json!({"applications.limit": 3})).await;
    assert_eq!(
        limits(&app, "c").await["applications"],
        json!({"limit": 3, "used": 2, "source": "c", "over_limit": false})
    );
    created_item(&app, "c", "applications", "third").await;
    // A smaller own value overrides a larger inherited one too.
    set_configs(&app, "c", json!({"applications.limit": 0})).await;
    let l = limits(&app, "c").await;
    assert_eq!(
        l["applications"],
        json!({"limit": 0, "used": 3, "source": "c", "over_limit": true})
    );
}

#[tokio::test]
async fn a_lowered_limit_refuses_creates_but_allows_deletes_until_under_it() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    for kind in KINDS {
        set_configs(&app, "a", json!({ format!("{kind}.limit"): 5 })).await;
        let mut ids = Vec::new();
        for n in 0..5 {
            let item = created_item(&app, "a", kind, &format!("item {n}")).await;
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        set_configs(&app, "a", json!({ format!("{kind}.limit"): 2 })).await;
        assert_eq!(
            limits(&app, "a").await[kind],
            json!({"limit": 2, "used": 5, "source": "a", "over_limit": true}),
            "{kind}"
        );
        // Nothing was removed.
        assert_eq!(listed(&app, kind).await, 5);
        let p = refused_item(&app, "a", kind, "refused").await;
        assert_eq!((&p["limit"], &p["used"]), (&json!(2), &json!(5)));

        // Deletes are allowed; at 2 (not over, but full) creates are still refused.
        for id in ids.drain(..3) {
            let res = app
                .delete(&app.root_key, &format!("/orgs/a/{kind}/{id}"))
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{kind}");
        }
        assert_eq!(
            limits(&app, "a").await[kind],
            json!({"limit": 2, "used": 2, "source": "a", "over_limit": false})
        );
        refused_item(&app, "a", kind, "still refused").await;
        let id = ids.pop().unwrap();
        let res = app
            .delete(&app.root_key, &format!("/orgs/a/{kind}/{id}"))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        created_item(&app, "a", kind, "allowed again").await;
        refused_item(&app, "a", kind, "full again").await;
    }
}

#[tokio::test]
async fn children_and_keys_limits_apply_to_creates_and_moves() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b a/a1 b/b1").await;
    set_configs(&app, "a", json!({"children.limit": 1, "api_keys.limit": 1})).await;
    let k = &app.root_key;

    // Creating or moving a second child under a is refused.
    let a2 = json!({"id": "a2", "name": "A2", "parent_id": "a"});
    let p = problem(app.post(k, "/orgs", a2).await, StatusCode::CONFLICT).await;
    assert_eq!(p["resource"], "children");
    let under_a = json!({"parent_id": "a"});
    let res = app.patch(k, "/orgs/b1", under_a.clone()).await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/limit-exceeded");
    let b1: Value = app.get_json(k, "/orgs/b1").await;
    assert_eq!(b1["parent_id"], "b", "a refused move changed nothing");
    // A rename of a child already there is not a new child.
    let res = app.patch(k, "/orgs/a1", json!({"name": "renamed"})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Keys: revoked and expired ones do not count.
    let (_, first) = app.key("a", &["read"]).await;
    let second = json!({"name": "second", "permissions": ["read"]});
    let res = app.post(k, "/orgs/a/api_keys", second).await;
    problem(res, StatusCode::CONFLICT).await;
    let res = app.delete(k, &format!("/orgs/a/api_keys/{first}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let soon = (app.clock_now() + chrono::Duration::minutes(5)).to_rfc3339();
    let short_lived = json!({"name": "short-lived", "permissions": ["read"], "expires_at": soon});
    app.created(k, "/orgs/a/api_keys", short_lived).await;
    assert_eq!(limits(&app, "a").await["api_keys"]["used"], 1);
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(limits(&app, "a").await["api_keys"]["used"], 0);
    let after = json!({"name": "after expiry", "permissions": ["read"]});
    app.created(k, "/orgs/a/api_keys", after).await;

    // Once a's child is deleted, the move goes through.
    assert_eq!(app.delete(k, "/orgs/a1").await.status(), StatusCode::OK);
    let res = app.patch(k, "/orgs/b1", under_a).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_org_releases_its_items_which_stay_in_its_audit_trail() {
    let app = TestApp::spawn().await;
    app.orgs("root/p/x").await;
    for kind in KINDS {
        for n in 0..2 {
            created_item(&app, "x", kind, &format!("{kind} {n}")).await;
        }
    }
    let consumption: Value = app.get_json(&app.root_key, "/orgs/x/consumption").await;
    for kind in KINDS {
        assert_eq!(
            consumption["metrics"][kind],
            json!({"current": 2, "peak": 2}),
            "{kind}"
        );
    }

    let res = app.delete(&app.root_key, "/orgs/x").await;
    assert_eq!(res.status(), StatusCode::OK);

    // Its gauges drop to zero, their peak kept; the parent's subtree sums follow.
    let report: Value = app
        .get_json(&app.root_key, "/orgs/p/consumption?include_children=true")
        .await;
    for kind in KINDS {
        assert_eq!(report["subtree"][kind]["current"], 0, "{kind}");
    }
    // Its items' history stays in its audit trail.
    let events = app
        .all_pages(&app.root_key, "/orgs/p/children_audit?org_id=x", 100)
        .await;
    let actions = strs(&events, "action");
    for kind in ["application", "workspace", "usergroup"] {
        let created = format!("{kind}.create");
        assert_eq!(
            actions.iter().filter(|a| **a == created).count(),
            2,
            "{actions:?}"
        );
    }
    assert_eq!(actions[0], "org.delete");

    // A new org under p starts from nothing.
    app.org("p", "y").await;
    assert_eq!(limits(&app, "y").await["applications"]["used"], 0);
}

#[tokio::test]
async fn items_are_validated_named_uniquely_and_audited() {
    let app = TestApp::spawn().await;
    app.orgs("root/a root/b").await;
    let k = &app.root_key;

    let res = app
        .post(
            k,
            "/orgs/a/workspaces",
            json!({"name": "  Main  ", "metadata": {"region": "eu", "tiers": [1, 2]}}),
        )
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let ws = json_body(res, StatusCode::CREATED).await;
    assert!(ws["id"].as_str().unwrap().starts_with("ws_"));
    assert_eq!(ws["name"], "Main");
    assert_eq!(ws["metadata"], json!({"region": "eu", "tiers": [1, 2]}));
    assert_eq!(
        location,
        format!("/orgs/a/workspaces/{}", ws["id"].as_str().unwrap())
    );
    let read: Value = app.get_json(k, &location).await;
    assert_eq!(read, ws);
    let defaulted = created_item(&app, "a", "usergroups", "ops").await;
    assert_eq!(defaulted["metadata"], json!({}));

    // One name per org and kind; the same name elsewhere is fine.
    let p = refused_item(&app, "a", "workspaces", "Main").await;
    assert_eq!(p["type"], "/problems/duplicate-name");
    for (org, kind) in [("a", "applications"), ("b", "workspaces")] {
        created_item(&app, org, kind, "Main").await;
    }

    // Bad input: every invalid field named, nothing created.
    let cases = [
        json!({"name": ""}),
        json!({"name": "x", "metadata": []}),
        json!({"name": "x", "metadata": "x"}),
        json!({"name": "x", "metadata": {"big": "y".repeat(5000)}}),
        json!({"name": "x", "color": "red"}),
        json!({"metadata": {}}),
        json!({"name": 5}),
    ];
    for body in cases {
        let res = app.post(k, "/orgs/a/applications", body.clone()).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert!(p["detail"].is_string(), "{body}");
    }
    let bell = json!({"name": "\u{7}", "metadata": [1]});
    let res = app.post(k, "/orgs/a/applications", bell).await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(error_fields(&p), ["name", "metadata"]);
    assert_eq!(listed(&app, "applications").await, 1);

    // Unknown items, and an item asked for under another org or kind: 404.
    let id = ws["id"].as_str().unwrap();
    for path in [
        "/orgs/a/workspaces/ws_nope".to_owned(),
        format!("/orgs/b/workspaces/{id}"),
        format!("/orgs/a/applications/{id}"),
    ] {
        app.get_problem(k, &path, StatusCode::NOT_FOUND).await;
        app.delete_problem(k, &path, StatusCode::NOT_FOUND).await;
    }

    // Deletion needs the delete permission.
    let (writer, _) = app.key("a", &["read", "write"]).await;
    app.delete_problem(&writer, &location, StatusCode::FORBIDDEN)
        .await;
    let res = app.delete(k, &location).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.get_problem(k, &location, StatusCode::NOT_FOUND).await;

    // Both changes are on a's chain, with the item as target and before/after.
    let events = app
        .all_pages(k, "/orgs/a/audit?action=workspace.create", 100)
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], json!({"type": "workspace", "id": id}));
    assert_eq!(events[0]["changes"]["after"], ws);
    let events = app
        .all_pages(k, "/orgs/a/audit?action=workspace.delete", 100)
        .await;
    assert_eq!(events[0]["changes"], json!({"before": ws, "after": null}));
    assert_eq!(app.verify("a").await["valid"], json!(true));
}

#[tokio::test]
async fn item_lists_page_by_id() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    for n in 0..7 {
        created_item(&app, "a", "applications", &format!("app {n}")).await;
    }
    let rows = app
        .all_pages(&app.root_key, "/orgs/a/applications?limit=3", 3)
        .await;
    let ids = strs(&rows, "id");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids.len(), 7);
    assert_eq!(ids, sorted);
    let res = app
        .send(
            Some(&app.root_key),
            Method::GET,
            "/orgs/a/applications?cursor=forged",
            None,
        )
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}

/// Deleting an org releases everything it held: every gauge of a limited
/// thing (`orgd_core::limits::gauges`, read from `LIMITS`) reads 0 for it
/// afterwards, as its parent's report of its children shows. A limited thing
/// added to `LIMITS` that deletion forgets to release fails here (and one
/// `create_request` cannot make fails here first).
#[tokio::test]
async fn deleting_an_org_releases_every_gauge() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    app.orgs("root/a").await;
    let gauges: Vec<&str> = orgd_core::limits::gauges().collect();
    for (n, what) in gauges.iter().enumerate() {
        let (path, body) = create_request(what, n);
        let res = app.post(k, &path, body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "making one of {what}");
    }
    let held: Value = app.get_json(k, "/orgs/a/consumption").await;
    for what in &gauges {
        assert_eq!(held["metrics"][what]["current"], 1, "a holds one of {what}");
    }
    let res = app.delete(k, "/orgs/a?cascade=true").await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = app
        .get_json(k, "/orgs/root/consumption?include_children=true")
        .await;
    let a = report["children"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["org_id"] == "a"))
        .unwrap_or_else(|| panic!("the deleted org is still among root's children: {report}"));
    for what in &gauges {
        assert_eq!(
            a["subtree"][what]["current"], 0,
            "deleting a released its {what}: {a}"
        );
    }
}
