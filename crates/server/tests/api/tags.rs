//! Tags on organizations.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, strs};

#[tokio::test]
async fn tags_are_created_listed_shown_on_the_org_and_deleted() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let tag = app
        .created(k, "/orgs/a/tags", json!({"name": "confidential"}))
        .await;
    assert!(tag["id"].as_str().unwrap().starts_with("tag_"));
    assert_eq!(tag["name"], "confidential");
    assert!(tag["created_at"].is_string());
    app.post(k, "/orgs/a/tags", json!({"name": "beta"})).await;

    let list: Vec<Value> = app.get_json(k, "/orgs/a/tags").await;
    assert_eq!(strs(&list, "name"), vec!["beta", "confidential"]);
    let org: Value = app.get_json(k, "/orgs/a").await;
    assert_eq!(org["tags"], json!(["beta", "confidential"]));
    assert_eq!(org["version"], 3);

    let res = app.post(k, "/orgs/a/tags", json!({"name": "beta"})).await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/duplicate-name");
    let spaced = json!({"name": "has space"});
    let res = app.post(k, "/orgs/a/tags", spaced).await;
    problem(res, StatusCode::BAD_REQUEST).await;

    let path = format!("/orgs/a/tags/{}", tag["id"].as_str().unwrap());
    assert_eq!(app.delete(k, &path).await.status(), StatusCode::OK);
    app.delete_problem(k, &path, StatusCode::NOT_FOUND).await;
    let org: Value = app.get_json(k, "/orgs/a").await;
    assert_eq!(org["tags"], json!(["beta"]));

    let events: Vec<Value> = app.get_json(k, "/orgs/a/audit").await;
    assert_eq!(
        strs(&events, "action"),
        vec!["tag.delete", "tag.create", "tag.create", "org.create"]
    );
    assert_eq!(app.verify("a").await["valid"], true);
}

#[tokio::test]
async fn orgs_are_listed_by_every_tag_asked_for() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    for (id, tags) in [
        ("a", vec!["eu", "gold"]),
        ("b", vec!["eu"]),
        ("c", vec!["gold"]),
        ("d", vec![]),
    ] {
        let body = json!({"id": id, "name": id, "tags": tags});
        app.created(k, "/orgs", body).await;
    }
    for (query, ids) in [
        ("tag=eu", vec!["a", "b"]),
        ("tag=eu&tag=gold", vec!["a"]),
        ("tag=silver", vec![]),
    ] {
        let orgs: Vec<Value> = app.get_json(k, &format!("/orgs?{query}")).await;
        assert_eq!(strs(&orgs, "id"), ids, "{query}");
    }
    let twice = json!({"name": "x", "tags": ["ok", "ok"]});
    problem(app.post(k, "/orgs", twice).await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_org_holds_at_most_64_tags() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let tags: Vec<String> = (0..64).map(|i| format!("t{i}")).collect();
    app.created(k, "/orgs", json!({"id": "a", "name": "a", "tags": tags}))
        .await;
    let one_more = json!({"name": "one-more"});
    let p = problem(
        app.post(k, "/orgs/a/tags", one_more).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["type"], "/problems/too-many-tags");
    let too_many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    let res = app
        .post(k, "/orgs", json!({"name": "b", "tags": too_many}))
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}
