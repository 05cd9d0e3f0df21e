//! Tags on organizations.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn tags_are_created_listed_shown_on_the_org_and_deleted() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let res = app
        .post(
            &app.root_key,
            "/orgs/a/tags",
            json!({"name": "confidential"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let tag: Value = res.json().await.unwrap();
    assert!(tag["id"].as_str().unwrap().starts_with("tag_"));
    assert_eq!(tag["name"], "confidential");
    assert!(tag["created_at"].is_string());
    app.post(&app.root_key, "/orgs/a/tags", json!({"name": "beta"}))
        .await;

    let list: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/tags").await;
    let names: Vec<_> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["beta", "confidential"]);
    let org: Value = app.get_json(&app.root_key, "/orgs/a").await;
    assert_eq!(org["tags"], json!(["beta", "confidential"]));
    assert_eq!(org["version"], 3);

    let p = problem(
        app.post(&app.root_key, "/orgs/a/tags", json!({"name": "beta"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["type"], "/problems/duplicate-name");
    problem(
        app.post(&app.root_key, "/orgs/a/tags", json!({"name": "has space"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let id = tag["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&app.root_key, &format!("/orgs/a/tags/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
    problem(
        app.delete(&app.root_key, &format!("/orgs/a/tags/{id}"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let org: Value = app.get_json(&app.root_key, "/orgs/a").await;
    assert_eq!(org["tags"], json!(["beta"]));

    let events: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/audit").await;
    let actions: Vec<_> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["tag.delete", "tag.create", "tag.create", "org.create"]
    );
    assert_eq!(app.verify("a").await["valid"], true);
}

#[tokio::test]
async fn orgs_are_listed_by_every_tag_asked_for() {
    let app = TestApp::spawn().await;
    for (id, tags) in [
        ("a", vec!["eu", "gold"]),
        ("b", vec!["eu"]),
        ("c", vec!["gold"]),
        ("d", vec![]),
    ] {
        let res = app
            .post(
                &app.root_key,
                "/orgs",
                json!({"id": id, "name": id, "tags": tags}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let ids = |v: Vec<Value>| {
        v.iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let eu: Vec<Value> = app.get_json(&app.root_key, "/orgs?tag=eu").await;
    assert_eq!(ids(eu), vec!["a", "b"]);
    let both: Vec<Value> = app.get_json(&app.root_key, "/orgs?tag=eu&tag=gold").await;
    assert_eq!(ids(both), vec!["a"]);
    let none: Vec<Value> = app.get_json(&app.root_key, "/orgs?tag=silver").await;
    assert!(none.is_empty());
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"name": "x", "tags": ["ok", "ok"]}),
        )
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_org_holds_at_most_64_tags() {
    let app = TestApp::spawn().await;
    let tags: Vec<String> = (0..64).map(|i| format!("t{i}")).collect();
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "a", "name": "a", "tags": tags}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let p = problem(
        app.post(&app.root_key, "/orgs/a/tags", json!({"name": "one-more"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["type"], "/problems/too-many-tags");
    let too_many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"name": "b", "tags": too_many}),
        )
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}
