//! Organization configs, at the seed's paths and at /orgs/{org_id}/configs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

const SEED: &str = "/passportsvc/api/v1/organizations";

#[tokio::test]
async fn the_seeds_examples_get_the_seeds_statuses() {
    let app = TestApp::spawn().await;
    app.org("root", "org-123").await;
    let k = &app.root_key;
    let org = format!("{SEED}/org-123/configs");

    // GET on an org with nothing set, and on one that does not exist.
    let res = app.get(k, &org).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({}));
    problem(
        app.get(k, &format!("{SEED}/nope/configs")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The seed's response body, sent as a PUT (values as strings): stored, returned as integers.
    let body = r#"{    "applications.limit": "5",    "workspaces.limit": "3",    "usergroups.limit": "30"}"#;
    let res = app.send_json_text(k, Method::PUT, &org, body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let stored = json!({"applications.limit": 5, "workspaces.limit": 3, "usergroups.limit": 30});
    assert_eq!(res.json::<Value>().await.unwrap(), stored);

    // The seed's PUT example, typos and all: 400 naming both, nothing changed.
    let body =
        r#"{    "applications.limit": 1,    "workspaces1.limit": 2,    "usergrouos.limit":30}"#;
    let p = problem(
        app.send_json_text(k, Method::PUT, &org, body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut fields: Vec<_> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, vec!["usergrouos.limit", "workspaces1.limit"]);
    assert_eq!(
        app.get_json::<Value>(k, &org).await,
        stored
    );

    // The seed's PATCH example: 400 for its typo; its response body as a PATCH: merged.
    let body = r#"{    "applications.limit": 1,    "workspaces1.limit": 2}"#;
    let p = problem(
        app.send_json_text(k, Method::PATCH, &org, body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "workspaces1.limit");
    let body = r#"{    "applications.limit": 1,    "workspaces.limit": 2}"#;
    let res = app.send_json_text(k, Method::PATCH, &org, body).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"applications.limit": 1, "workspaces.limit": 2, "usergroups.limit": 30})
    );

    // DELETE: 204, then nothing is set; 404 for an unknown org.
    let res = app.delete(k, &org).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_json::<Value>(k, &org).await,
        json!({})
    );
    problem(
        app.delete(k, &format!("{SEED}/nope/configs")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.send_json_text(k, Method::PUT, &format!("{SEED}/nope/configs"), "{}")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The list of available configs.
    let res = app.get(k, &format!("{SEED}/configs")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let known: Vec<Value> = res.json().await.unwrap();
    assert_eq!(known[0]["key"], "applications.limit");
    assert_eq!(
        known[0]["displayText"],
        "Max number of applications allowed"
    );
    assert_eq!(known[1]["key"], "workspaces.limit");
    let keys: Vec<_> = known.iter().map(|k| k["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        vec![
            "applications.limit",
            "workspaces.limit",
            "usergroups.limit",
            "children.limit",
            "api_keys.limit"
        ]
    );
}

#[tokio::test]
async fn both_paths_share_one_set_of_configs() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let res = app
        .patch(
            &app.root_key,
            "/orgs/a/configs",
            json!({"workspaces.limit": "7"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let seed: Value = app.get_json(&app.root_key, &format!("{SEED}/a/configs")).await;
    assert_eq!(seed, json!({"workspaces.limit": 7}));
    let res = app
        .patch(
            &app.root_key,
            &format!("{SEED}/a/configs"),
            json!({"workspaces.limit": null}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!({}));
}

#[tokio::test]
async fn an_org_cannot_change_its_own_configs_but_can_change_its_childs() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.org("a", "a1").await;
    let (a_key, _) = app.key("a", &["read", "write", "delete"]).await;
    for method in [Method::PUT, Method::PATCH] {
        let res = app
            .send(
                Some(&a_key),
                method.clone(),
                "/orgs/a/configs",
                Some(&json!({"applications.limit": 99})),
            )
            .await;
        problem(res, StatusCode::FORBIDDEN).await;
        let res = app
            .send(
                Some(&a_key),
                method,
                "/orgs/a1/configs",
                Some(&json!({"applications.limit": 3})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    problem(
        app.delete(&a_key, "/orgs/a/configs").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.delete(&a_key, "/orgs/a1/configs").await.status(),
        StatusCode::NO_CONTENT
    );
    // It may read its own.
    assert_eq!(
        app.get(&a_key, "/orgs/a/configs").await.status(),
        StatusCode::OK
    );
    // The root's keys govern the root's own configs.
    let res = app
        .put(
            &app.root_key,
            "/orgs/root/configs",
            json!({"children.limit": 100}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn effective_configs_name_the_nearest_source() {
    let app = TestApp::spawn().await;
    app.org("root", "reseller").await;
    app.org("reseller", "customer").await;
    app.org("customer", "team").await;
    app.put(
        &app.root_key,
        "/orgs/reseller/configs",
        json!({"applications.limit": 10, "workspaces.limit": 4}),
    )
    .await;
    app.put(
        &app.root_key,
        "/orgs/customer/configs",
        json!({"applications.limit": 5}),
    )
    .await;
    let eff: Value = app.get_json(&app.root_key, "/orgs/team/configs/effective").await;
    assert_eq!(
        eff["applications.limit"],
        json!({"value": 5, "source": "customer"})
    );
    assert_eq!(
        eff["workspaces.limit"],
        json!({"value": 4, "source": "reseller"})
    );
    assert_eq!(
        eff["usergroups.limit"],
        json!({"value": null, "source": null})
    );
    assert_eq!(eff.as_object().unwrap().len(), 5);
    app.put(
        &app.root_key,
        "/orgs/team/configs",
        json!({"workspaces.limit": 1}),
    )
    .await;
    let eff: Value = app.get_json(&app.root_key, "/orgs/team/configs/effective").await;
    assert_eq!(
        eff["workspaces.limit"],
        json!({"value": 1, "source": "team"})
    );
}

#[tokio::test]
async fn bad_values_are_each_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.put(
        &app.root_key,
        "/orgs/a/configs",
        json!({"applications.limit": 2}),
    )
    .await;
    let bad = [
        json!(-1),
        json!(1.5),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!(1_000_000_000_000i64),
        json!("1e3"),
    ];
    for v in bad {
        for method in [Method::PUT, Method::PATCH] {
            let res = app
                .send(
                    Some(&app.root_key),
                    method,
                    "/orgs/a/configs",
                    Some(&json!({"applications.limit": v})),
                )
                .await;
            let p = problem(res, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["errors"][0]["field"], "applications.limit", "{v}");
        }
    }
    // Every bad key and value in one answer.
    let res = app
        .put(
            &app.root_key,
            "/orgs/a/configs",
            json!({"applications.limit": -1, "workspaces.limit": "x", "nope": 1}),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 3);
    let now: Value = app.get_json(&app.root_key, "/orgs/a/configs").await;
    assert_eq!(now, json!({"applications.limit": 2}));
    problem(
        app.put(&app.root_key, "/orgs/a/configs", json!([1])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn configs_carry_the_org_etag_and_are_audited() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let res = app.get(&app.root_key, "/orgs/a/configs").await;
    assert_eq!(res.headers()["etag"], "\"1\"");
    let res = app
        .client
        .put(app.url("/orgs/a/configs"))
        .bearer_auth(&app.root_key)
        .header("if-match", "\"5\"")
        .json(&json!({"applications.limit": 1}))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::PRECONDITION_FAILED).await;
    let res = app
        .client
        .put(app.url("/orgs/a/configs"))
        .bearer_auth(&app.root_key)
        .header("if-match", "\"1\"")
        .json(&json!({"applications.limit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["etag"], "\"2\"");
    app.patch(
        &app.root_key,
        "/orgs/a/configs",
        json!({"workspaces.limit": 2}),
    )
    .await;
    app.delete(&app.root_key, "/orgs/a/configs").await;
    let events: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/audit").await;
    let actions: Vec<_> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
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
    let org: Value = app.get_json(&app.root_key, "/orgs/a").await;
    assert_eq!(org["version"], 4);
}

#[tokio::test]
async fn a_new_org_may_come_with_configs() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "a", "name": "A", "configs": {"applications.limit": "3"}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let c: Value = app.get_json(&app.root_key, "/orgs/a/configs").await;
    assert_eq!(c, json!({"applications.limit": 3}));
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "b", "name": "B", "configs": {"apps": 3}}),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["errors"][0]["field"], "configs.apps");
}
