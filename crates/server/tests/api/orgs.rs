//! The organization tree: create, read, update, move, delete, list.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn create_get_update_and_delete_an_org() {
    let app = TestApp::spawn().await;
    let res = app
        .post(&app.root_key, "/orgs", json!({"id": "org-123", "name": "  Example Organization ", "customizations": {"theme": "dark"}}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], "/orgs/org-123");
    assert_eq!(res.headers()["etag"], "\"1\"");
    let org: Value = res.json().await.unwrap();
    assert_eq!(org["id"], "org-123");
    assert_eq!(org["name"], "Example Organization");
    assert_eq!(org["parent_id"], "root");
    assert_eq!(org["version"], 1);
    assert_eq!(org["customizations"], json!({"theme": "dark"}));
    assert!(org["created_at"].as_str().unwrap().ends_with('Z'));

    let got: Value = app.get_json(&app.root_key, "/orgs/org-123").await;
    assert_eq!(got, org);

    let res = app
        .patch(
            &app.root_key,
            "/orgs/org-123",
            json!({"name": "Updated Organization Name"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["name"], "Updated Organization Name");
    assert_eq!(updated["version"], 2);

    let res = app.delete(&app.root_key, "/orgs/org-123").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"message": "Organization deleted successfully"})
    );
    problem(
        app.get(&app.root_key, "/orgs/org-123").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.delete(&app.root_key, "/orgs/org-123").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn server_made_ids_are_org_and_a_lowercase_ulid() {
    let app = TestApp::spawn().await;
    let res = app
        .post(&app.root_key, "/orgs", json!({"name": "Acme"}))
        .await;
    let org: Value = res.json().await.unwrap();
    let id = org["id"].as_str().unwrap();
    assert!(id.starts_with("org_") && id.len() == 30, "{id}");
    assert_eq!(id, id.to_lowercase());
}

#[tokio::test]
async fn ids_are_never_reused_even_after_deletion() {
    let app = TestApp::spawn().await;
    app.org("root", "acme").await;
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "acme", "name": "again"}),
        )
        .await;
    problem(res, StatusCode::CONFLICT).await;
    app.delete(&app.root_key, "/orgs/acme").await;
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "acme", "name": "again"}),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/duplicate-id");
}

#[tokio::test]
async fn invalid_fields_are_all_named() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "-bad", "name": "  ", "customizations": [1], "colour": "red"}),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    let fields: Vec<_> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, vec!["colour"], "unknown fields are refused first");

    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "-bad", "name": "  ", "customizations": [1]}),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    let fields: Vec<_> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, vec!["id", "name", "customizations"]);
}

#[tokio::test]
async fn moving_an_org_under_itself_or_a_descendant_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.org("a", "a1").await;
    app.org("a1", "a2").await;
    for target in ["a", "a1", "a2"] {
        // Its own id as parent is a cycle too.
        let res = app
            .patch(&app.root_key, "/orgs/a", json!({"parent_id": target}))
            .await;
        let p = problem(res, StatusCode::CONFLICT).await;
        assert_eq!(p["type"], "/problems/move-cycle", "moving a under {target}");
    }
    let org: Value = app.get_json(&app.root_key, "/orgs/a").await;
    assert_eq!(org["parent_id"], "root");
    assert_eq!(org["version"], 1);
}

#[tokio::test]
async fn a_move_carries_the_subtree_and_is_audited() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.org("a", "a1").await;
    app.org("a1", "a2").await;
    app.org("root", "b").await;
    let res = app
        .patch(&app.root_key, "/orgs/a1", json!({"parent_id": "b"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (b_key, _) = app.key("b", &["read"]).await;
    assert_eq!(app.get(&b_key, "/orgs/a2").await.status(), StatusCode::OK);
    let (a_key, _) = app.key("a", &["read"]).await;
    problem(app.get(&a_key, "/orgs/a2").await, StatusCode::NOT_FOUND).await;
    let subtree: Vec<Value> = app.get_json(&app.root_key, "/orgs/b/children?depth=all").await;
    let ids: Vec<_> = subtree.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["a1", "a2"]);
    let audit: Vec<Value> = app.get_json(&app.root_key, "/orgs/a1/audit").await;
    assert_eq!(audit[0]["action"], "org.move");
    assert_eq!(
        audit[0]["changes"],
        json!({"before": {"parent_id": "a"}, "after": {"parent_id": "b"}})
    );
}

#[tokio::test]
async fn the_root_cannot_be_deleted_or_moved() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    problem(
        app.delete(&app.root_key, "/orgs/root").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.delete(&app.root_key, "/orgs/root?cascade=true").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.patch(&app.root_key, "/orgs/root", json!({"parent_id": "a"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.get(&app.root_key, "/orgs/root").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn deleting_an_org_with_children_needs_cascade() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.org("a", "a1").await;
    app.org("a1", "a2").await;
    let p = problem(
        app.delete(&app.root_key, "/orgs/a").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["type"], "/problems/has-children");
    problem(
        app.delete(&app.root_key, "/orgs/a?cascade=maybe").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        app.delete(&app.root_key, "/orgs/a?cascade=true")
            .await
            .status(),
        StatusCode::OK
    );
    for id in ["a", "a1", "a2"] {
        problem(
            app.get(&app.root_key, &format!("/orgs/{id}")).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    let events: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/children_audit?action=org.delete").await;
    let ids: Vec<_> = events
        .iter()
        .map(|e| e["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["a", "a1", "a2"],
        "each deletion audited, deepest first"
    );
}

#[tokio::test]
async fn the_tree_depth_is_bounded() {
    let app = TestApp::spawn().await;
    let mut parent = "root".to_owned();
    for level in 2..=16 {
        let id = format!("l{level}");
        app.org(&parent, &id).await;
        parent = id;
    }
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"id": "l17", "name": "too deep", "parent_id": parent}),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/depth-exceeded");
    // Moving a two-level subtree under level 15 would make level 17 too.
    app.org("root", "m").await;
    app.org("m", "m1").await;
    let res = app
        .patch(&app.root_key, "/orgs/m", json!({"parent_id": "l15"}))
        .await;
    problem(res, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn lists_are_scoped_filtered_and_paged() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    for i in 0..7 {
        app.org("a", &format!("a-{i}")).await;
    }
    app.org("root", "ab").await;
    let (a_key, _) = app.key("a", &["read"]).await;

    let seen: Vec<String> = app
        .all_pages(&a_key, "/orgs?limit=3", 3)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = (0..7).map(|i| format!("a-{i}")).collect();
    expected.insert(0, "a".into());
    assert_eq!(
        seen, expected,
        "a's key sees a and its subtree, never its sibling ab"
    );

    let children: Vec<Value> = app.get_json(&app.root_key, "/orgs?parent_id=root").await;
    assert_eq!(children.len(), 2);
    let named: Vec<Value> = app.get_json(&app.root_key, "/orgs?name_prefix=Org%20a-").await;
    assert_eq!(named.len(), 7);
    let direct: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/children").await;
    assert_eq!(direct.len(), 2);
    problem(
        app.get(&app.root_key, "/orgs/root/children?depth=2").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn etags_make_reads_conditional() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let res = app
        .client
        .get(app.url("/orgs/a"))
        .bearer_auth(&app.root_key)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let res = app
        .client
        .get(app.url("/orgs/a"))
        .bearer_auth(&app.root_key)
        .header("if-none-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .delete(app.url("/orgs/a"))
        .bearer_auth(&app.root_key)
        .header("if-match", "\"9\"")
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::PRECONDITION_FAILED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_patches_with_one_if_match_let_exactly_one_through() {
    let app = Arc::new(TestApp::spawn().await);
    app.org("root", "a").await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.client
                    .patch(app.url("/orgs/a"))
                    .bearer_auth(&app.root_key)
                    .header("if-match", "\"1\"")
                    .json(&json!({"name": format!("writer {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut ok = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::PRECONDITION_FAILED => failed += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, failed), (1, 19));
    let org: Value = app.get_json(&app.root_key, "/orgs/a").await;
    assert_eq!(org["version"], 2);
    assert_eq!(app.verify("a").await["events"], 2);
}
