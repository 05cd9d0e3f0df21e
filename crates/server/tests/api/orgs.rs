//! The organization tree: create, read, update, move, delete, list.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, json_body, problem, strs};

#[tokio::test]
async fn create_get_update_and_delete_an_org() {
    let app = TestApp::spawn().await;
    let k = &app.root_key;
    let res = app
        .post(k, "/orgs", json!({"id": "org-123", "name": "  Example Organization ", "customizations": {"theme": "dark"}}))
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

    let got: Value = app.get_json(k, "/orgs/org-123").await;
    assert_eq!(got, org);

    let res = app
        .patch(
            k,
            "/orgs/org-123",
            json!({"name": "Updated Organization Name"}),
        )
        .await;
    let updated = json_body(res, StatusCode::OK).await;
    assert_eq!(updated["name"], "Updated Organization Name");
    assert_eq!(updated["version"], 2);

    let res = app.delete(k, "/orgs/org-123").await;
    assert_eq!(
        json_body(res, StatusCode::OK).await,
        json!({"message": "Organization deleted successfully"})
    );
    app.get_problem(k, "/orgs/org-123", StatusCode::NOT_FOUND)
        .await;
    app.delete_problem(k, "/orgs/org-123", StatusCode::NOT_FOUND)
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
    let again = || {
        app.post(
            &app.root_key,
            "/orgs",
            json!({"id": "acme", "name": "again"}),
        )
    };
    problem(again().await, StatusCode::CONFLICT).await;
    app.delete(&app.root_key, "/orgs/acme").await;
    let p = problem(again().await, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/duplicate-id");
}

/// Ids are one namespace (docs/decisions.md, "Org ids are one
/// namespace"): an id held out of the creator's reach is taken too, and
/// the 409 says nothing of where: the same body as for an id in reach.
#[tokio::test]
async fn a_taken_id_out_of_reach_conflicts_and_says_nothing_more() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/mine root/b/theirs").await;
    let (a_key, _) = app.key("a", &["read", "write"]).await;
    let mut bodies = Vec::new();
    for id in ["mine", "theirs"] {
        let res = app
            .post(
                &a_key,
                "/orgs",
                json!({"id": id, "name": "x", "parent_id": "a"}),
            )
            .await;
        let mut p = problem(res, StatusCode::CONFLICT).await;
        assert_eq!(p["type"], "/problems/duplicate-id", "{id}");
        p.as_object_mut().unwrap().remove("request_id");
        let detail = p["detail"].as_str().unwrap().replace(id, "ID");
        p["detail"] = json!(detail);
        bodies.push(p);
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn invalid_fields_are_all_named() {
    let app = TestApp::spawn().await;
    for (body, fields) in [
        // Unknown fields are refused first.
        (
            json!({"id": "-bad", "name": "  ", "customizations": [1], "colour": "red"}),
            vec!["colour"],
        ),
        (
            json!({"id": "-bad", "name": "  ", "customizations": [1]}),
            vec!["id", "name", "customizations"],
        ),
    ] {
        let res = app.post(&app.root_key, "/orgs", body).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&p), fields);
    }
}

#[tokio::test]
async fn moving_an_org_under_itself_or_a_descendant_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1/a2").await;
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

/// `"parent_id": null` would make an org a root: a 400 naming the field,
/// on any org, and nothing changes (it was read as "left out": a 200 that
/// did nothing, the rename beside it done).
#[tokio::test]
async fn a_null_parent_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1").await;
    let k = &app.root_key;
    for (org, body) in [
        ("a1", json!({"parent_id": null})),
        ("a1", json!({"parent_id": null, "name": "renamed"})),
        ("root", json!({"parent_id": null})),
    ] {
        let res = app.patch(k, &format!("/orgs/{org}"), body.clone()).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&p), ["parent_id"], "{org} {body}: {p}");
    }
    let org: Value = app.get_json(k, "/orgs/a1").await;
    assert_eq!(org["parent_id"], "a");
    assert_eq!(org["name"], "Org a1");
    assert_eq!(org["version"], 1);
    // Left out, it is no move; given, it moves.
    let res = app.patch(k, "/orgs/a1", json!({"name": "renamed"})).await;
    assert_eq!(json_body(res, StatusCode::OK).await["parent_id"], "a");
    let res = app.patch(k, "/orgs/a1", json!({"parent_id": "root"})).await;
    assert_eq!(json_body(res, StatusCode::OK).await["parent_id"], "root");
}

#[tokio::test]
async fn a_move_carries_the_subtree_and_is_audited() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1/a2 root/b").await;
    let res = app
        .patch(&app.root_key, "/orgs/a1", json!({"parent_id": "b"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (b_key, _) = app.key("b", &["read"]).await;
    assert_eq!(app.get(&b_key, "/orgs/a2").await.status(), StatusCode::OK);
    let (a_key, _) = app.key("a", &["read"]).await;
    app.get_problem(&a_key, "/orgs/a2", StatusCode::NOT_FOUND)
        .await;
    let subtree: Vec<Value> = app
        .get_json(&app.root_key, "/orgs/b/children?depth=all")
        .await;
    assert_eq!(strs(&subtree, "id"), vec!["a1", "a2"]);
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
    let k = &app.root_key;
    for path in ["/orgs/root", "/orgs/root?cascade=true"] {
        app.delete_problem(k, path, StatusCode::FORBIDDEN).await;
    }
    let res = app.patch(k, "/orgs/root", json!({"parent_id": "a"})).await;
    problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(app.get(k, "/orgs/root").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_org_with_children_needs_cascade() {
    let app = TestApp::spawn().await;
    app.orgs("root/a/a1/a2").await;
    let k = &app.root_key;
    let p = app.delete_problem(k, "/orgs/a", StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/has-children");
    app.delete_problem(k, "/orgs/a?cascade=maybe", StatusCode::BAD_REQUEST)
        .await;
    let res = app.delete(k, "/orgs/a?cascade=true").await;
    assert_eq!(res.status(), StatusCode::OK);
    for id in ["a", "a1", "a2"] {
        app.get_problem(k, &format!("/orgs/{id}"), StatusCode::NOT_FOUND)
            .await;
    }
    let events: Vec<Value> = app
        .get_json(k, "/orgs/root/children_audit?action=org.delete")
        .await;
    assert_eq!(
        strs(&events, "org_id"),
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
    app.orgs("root/m/m1").await;
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

    let seen = app.all_pages(&a_key, "/orgs?limit=3", 3).await;
    let mut expected: Vec<String> = (0..7).map(|i| format!("a-{i}")).collect();
    expected.insert(0, "a".into());
    assert_eq!(
        strs(&seen, "id"),
        expected,
        "a's key sees a and its subtree, never its sibling ab"
    );

    let k = &app.root_key;
    for (path, len) in [
        ("/orgs?parent_id=root", 2),
        ("/orgs?name_prefix=Org%20a-", 7),
        ("/orgs/root/children", 2),
    ] {
        let orgs: Vec<Value> = app.get_json(k, path).await;
        assert_eq!(orgs.len(), len, "{path}");
    }
    app.get_problem(k, "/orgs/root/children?depth=2", StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn etags_make_reads_conditional() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let conditional = |method: Method, header: &'static str, etag: &'static str| {
        app.client
            .request(method, app.url("/orgs/a"))
            .bearer_auth(&app.root_key)
            .header(header, etag)
            .send()
    };
    let res = conditional(Method::GET, "if-none-match", "\"1\"")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let res = conditional(Method::GET, "if-none-match", "\"7\"")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = conditional(Method::DELETE, "if-match", "\"9\"")
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
