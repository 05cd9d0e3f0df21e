//! Organization configs, at the seed's paths and at /orgs/{org_id}/configs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json_body, problem, strs};

const SEED: &str = "/passportsvc/api/v1/organizations";

#[tokio::test]
async fn the_seeds_examples_get_the_seeds_statuses() {
    let app = TestApp::spawn().await;
    app.org("root", "org-123").await;
    let k = &app.root_key;
    let org = format!("{SEED}/org-123/configs");
    let nope = format!("{SEED}/nope/configs");

    // GET on an org with nothing set, and on one that does not exist.
    assert_eq!(app.get_json::<Value>(k, &org).await, json!({}));
    app.get_problem(k, &nope, StatusCode::NOT_FOUND).await;

    // The seed's response body, sent as a PUT (values as strings): stored, returned as integers.
    let body = r#"{    "applications.limit": "5",    "workspaces.limit": "3",    "usergroups.limit": "30"}"#;
    let res = app.send_json_text(k, Method::PUT, &org, body).await;
    let stored = json!({"applications.limit": 5, "workspaces.limit": 3, "usergroups.limit": 30});
    assert_eq!(json_body(res, StatusCode::OK).await, stored);

    // The seed's PUT example, typos and all: 400 naming both, nothing changed.
    let body =
        r#"{    "applications.limit": 1,    "workspaces1.limit": 2,    "usergrouos.limit":30}"#;
    let res = app.send_json_text(k, Method::PUT, &org, body).await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    let mut fields = error_fields(&p);
    fields.sort_unstable();
    assert_eq!(fields, vec!["usergrouos.limit", "workspaces1.limit"]);
    assert_eq!(app.get_json::<Value>(k, &org).await, stored);

    // The seed's PATCH example: 400 for its typo; its response body as a PATCH: merged.
    let body = r#"{    "applications.limit": 1,    "workspaces1.limit": 2}"#;
    let res = app.send_json_text(k, Method::PATCH, &org, body).await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "workspaces1.limit");
    let body = r#"{    "applications.limit": 1,    "workspaces.limit": 2}"#;
    let res = app.send_json_text(k, Method::PATCH, &org, body).await;
    assert_eq!(
        json_body(res, StatusCode::OK).await,
        json!({"applications.limit": 1, "workspaces.limit": 2, "usergroups.limit": 30})
    );

    // DELETE: 204, then nothing is set; 404 for an unknown org.
    let res = app.delete(k, &org).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json::<Value>(k, &org).await, json!({}));
    app.delete_problem(k, &nope, StatusCode::NOT_FOUND).await;
    let res = app.send_json_text(k, Method::PUT, &nope, "{}").await;
    problem(res, StatusCode::NOT_FOUND).await;

    // The list of available configs.
    let known: Vec<Value> = app.get_json(k, &format!("{SEED}/configs")).await;
    assert_eq!(known[0]["key"], "applications.limit");
    assert_eq!(
        known[0]["displayText"],
        "Max number of applications allowed"
    );
    assert_eq!(known[1]["key"], "workspaces.limit");
    assert_eq!(
        strs(&known, "key"),
        vec![
            "applications.limit",
            "workspaces.limit",
            "usergroups.limit",
            "children.limit",
            "api_keys.limit",
            "audit.retention_days",
            "audit.legal_hold"
        ]
    );
}

#[tokio::test]
async fn both_paths_share_one_set_of_configs() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let res = app
        .patch(k, "/orgs/a/configs", json!({"workspaces.limit": "7"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let seed: Value = app.get_json(k, &format!("{SEED}/a/configs")).await;
    assert_eq!(seed, json!({"workspaces.limit": 7}));
    let unset = json!({"workspaces.limit": null});
    let res = app.patch(k, &format!("{SEED}/a/configs"), unset).await;
    assert_eq!(json_body(res, StatusCode::OK).await, json!({}));
}

#[tokio::test]
async fn an_org_cannot_change_its_own_configs_but_can_change_its_childs() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1").await;
    let (a_key, _) = app.key("a", &["read", "write", "delete"]).await;
    let limit = |n: i64| Some(json!({"applications.limit": n}));
    for method in [Method::PUT, Method::PATCH] {
        let own = limit(99);
        let res = app
            .send(
                Some(&a_key),
                method.clone(),
                "/orgs/a/configs",
                own.as_ref(),
            )
            .await;
        problem(res, StatusCode::FORBIDDEN).await;
        let childs = limit(3);
        let res = app
            .send(Some(&a_key), method, "/orgs/a1/configs", childs.as_ref())
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    app.delete_problem(&a_key, "/orgs/a/configs", StatusCode::FORBIDDEN)
        .await;
    let res = app.delete(&a_key, "/orgs/a1/configs").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // It may read its own.
    let res = app.get(&a_key, "/orgs/a/configs").await;
    assert_eq!(res.status(), StatusCode::OK);
    // The root's keys govern the root's own configs.
    let k = &app.root_key;
    let res = app
        .put(k, "/orgs/root/configs", json!({"children.limit": 100}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn effective_configs_name_the_nearest_source() {
    let app = TestApp::spawn().await;
    app.orgs("root/reseller/customer/team").await;
    let k = &app.root_key;
    app.put(
        k,
        "/orgs/reseller/configs",
        json!({"applications.limit": 10, "workspaces.limit": 4}),
    )
    .await;
    let five = json!({"applications.limit": 5});
    app.put(k, "/orgs/customer/configs", five).await;
    let eff: Value = app.get_json(k, "/orgs/team/configs/effective").await;
    let expected = json!({
        "applications.limit": {"value": 5, "source": "customer"},
        "workspaces.limit": {"value": 4, "source": "reseller"},
        "usergroups.limit": {"value": null, "source": null},
    });
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&eff[key], value, "{key}");
    }
    assert_eq!(eff.as_object().unwrap().len(), 7);
    let one = json!({"workspaces.limit": 1});
    app.put(k, "/orgs/team/configs", one).await;
    let eff: Value = app.get_json(k, "/orgs/team/configs/effective").await;
    assert_eq!(
        eff["workspaces.limit"],
        json!({"value": 1, "source": "team"})
    );
}

#[tokio::test]
async fn bad_values_are_each_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let two = json!({"applications.limit": 2});
    app.put(k, "/orgs/a/configs", two).await;
    let bad = json!([-1, 1.5, "x", true, [], {}, 1_000_000_000_000i64, "1e3"]);
    for v in bad.as_array().unwrap() {
        for method in [Method::PUT, Method::PATCH] {
            let body = json!({"applications.limit": v});
            let res = app
                .send(Some(k), method, "/orgs/a/configs", Some(&body))
                .await;
            let p = problem(res, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["errors"][0]["field"], "applications.limit", "{v}");
        }
    }
    // Every bad key and value in one answer.
    let res = app
        .put(
            k,
            "/orgs/a/configs",
            json!({"applications.limit": -1, "workspaces.limit": "x", "nope": 1}),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 3);
    let now: Value = app.get_json(k, "/orgs/a/configs").await;
    assert_eq!(now, json!({"applications.limit": 2}));
    let res = app.put(k, "/orgs/a/configs", json!([1])).await;
    problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn configs_carry_the_org_etag_and_are_audited() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let res = app.get(k, "/orgs/a/configs").await;
    assert_eq!(res.headers()["etag"], "\"1\"");
    let put_if_match = |etag: &'static str| {
        app.client
            .put(app.url("/orgs/a/configs"))
            .bearer_auth(k)
            .header("if-match", etag)
            .json(&json!({"applications.limit": 1}))
            .send()
    };
    let res = put_if_match("\"5\"").await.unwrap();
    problem(res, StatusCode::PRECONDITION_FAILED).await;
    let res = put_if_match("\"1\"").await.unwrap();
    assert_eq!(res.headers()["etag"], "\"2\"");
    let two = json!({"workspaces.limit": 2});
    app.patch(k, "/orgs/a/configs", two).await;
    app.delete(k, "/orgs/a/configs").await;
    let events: Vec<Value> = app.get_json(k, "/orgs/a/audit").await;
    assert_eq!(
        strs(&events, "action"),
        vec![
            "configs.delete",
            "configs.update",
            "configs.replace",
            "org.create"
        ]
    );
    assert_eq!(
        events[1]["changes"],
        json!({"before": {"applications.limit": 1}, "after": {"applications.limit": 1, "workspaces.limit": 2}})
    );
    assert_eq!(app.verify("a").await["valid"], true);
    let org: Value = app.get_json(k, "/orgs/a").await;
    assert_eq!(org["version"], 4);
}

#[tokio::test]
async fn a_new_org_may_come_with_configs() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let body = json!({"id": "a", "name": "A", "configs": {"applications.limit": "3"}});
    app.created(k, "/orgs", body).await;
    let c: Value = app.get_json(k, "/orgs/a/configs").await;
    assert_eq!(c, json!({"applications.limit": 3}));
    let body = json!({"id": "b", "name": "B", "configs": {"apps": 3}});
    let p = problem(app.post(k, "/orgs", body).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "configs.apps");
}
