//! Customizations: the object, merge patches through PATCH /orgs, effective values.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn put_replaces_and_get_returns_the_object_itself() {
    let app = TestApp::spawn().await;
    app.org("root", "org-123").await;
    let body = json!({"theme": "dark", "logo_url": "https://example.com/logo.png"});
    let res = app
        .put(&app.root_key, "/orgs/org-123/customizations", body.clone())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], "\"2\"");
    assert_eq!(res.json::<Value>().await.unwrap(), body);
    let got: Value = app.get_json(&app.root_key, "/orgs/org-123/customizations").await;
    assert_eq!(got, body);

    // The seed's wording: a `customizations` parameter holding the object.
    let res = app
        .put(
            &app.root_key,
            "/orgs/org-123/customizations",
            json!({"customizations": {"theme": "light"}}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"theme": "light"})
    );
    let org: Value = app.get_json(&app.root_key, "/orgs/org-123").await;
    assert_eq!(org["customizations"], json!({"theme": "light"}));
    problem(
        app.put(&app.root_key, "/orgs/org-123/customizations", json!([1]))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn patch_merges_customizations_as_rfc_7396() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.put(
        &app.root_key,
        "/orgs/a/customizations",
        json!({"a": "b", "c": {"d": "e", "f": "g"}, "arr": [1, 2]}),
    )
    .await;
    let cases = [
        (
            json!({"c": {"f": null, "h": 1}}),
            json!({"a": "b", "c": {"d": "e", "h": 1}, "arr": [1, 2]}),
        ),
        (
            json!({"a": null}),
            json!({"c": {"d": "e", "h": 1}, "arr": [1, 2]}),
        ),
        (
            json!({"arr": [3]}),
            json!({"c": {"d": "e", "h": 1}, "arr": [3]}),
        ),
        (json!({"c": "flat"}), json!({"c": "flat", "arr": [3]})),
    ];
    for (patch, expected) in cases {
        let res = app
            .patch(&app.root_key, "/orgs/a", json!({"customizations": patch}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.json::<Value>().await.unwrap()["customizations"],
            expected
        );
    }
    // A non-object patch would replace the object with a non-object: refused.
    let res = app
        .patch(&app.root_key, "/orgs/a", json!({"customizations": ["x"]}))
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let org: Value = app.get_json(&app.root_key, "/orgs/a").await;
    assert_eq!(org["customizations"], json!({"c": "flat", "arr": [3]}));
}

fn nested(levels: usize) -> Value {
    let mut v = json!({});
    for _ in 1..levels {
        v = json!({ "a": v });
    }
    v
}

#[tokio::test]
async fn size_and_depth_are_bounded_with_4xx_never_500() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let path = "/orgs/a/customizations";
    assert_eq!(
        app.put(&app.root_key, path, nested(32)).await.status(),
        StatusCode::OK
    );
    problem(
        app.put(&app.root_key, path, nested(33)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        app.put(&app.root_key, path, json!({"k": "x".repeat(65 * 1024)}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        app.put(&app.root_key, path, json!({"k": "x".repeat(1100 * 1024)}))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = app
        .client
        .put(app.url(path))
        .bearer_auth(&app.root_key)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .patch(
            &app.root_key,
            "/orgs/a",
            json!({"customizations": nested(33)}),
        )
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            json!({"name": "b", "customizations": nested(33)}),
        )
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn effective_customizations_merge_down_the_tree_with_sources() {
    let app = TestApp::spawn().await;
    app.org("root", "reseller").await;
    app.org("reseller", "customer").await;
    app.org("customer", "team").await;
    app.put(
        &app.root_key,
        "/orgs/root/customizations",
        json!({"support_email": "help@platform.example", "theme": {"color": "grey"}}),
    )
    .await;
    app.put(
        &app.root_key,
        "/orgs/reseller/customizations",
        json!({"theme": {"color": "blue", "font": "serif"}, "logo_url": "r.png"}),
    )
    .await;
    app.put(
        &app.root_key,
        "/orgs/team/customizations",
        json!({"theme": {"color": "red"}}),
    )
    .await;
    let eff: Value = app.get_json(&app.root_key, "/orgs/team/customizations/effective").await;
    assert_eq!(
        eff["customizations"],
        json!({"support_email": "help@platform.example", "theme": {"color": "red", "font": "serif"}, "logo_url": "r.png"})
    );
    assert_eq!(
        eff["sources"],
        json!({"support_email": "root", "theme": "team", "logo_url": "reseller"})
    );
    let (customer_key, _) = app.key("customer", &["read"]).await;
    let eff: Value = app.get_json(&customer_key, "/orgs/customer/customizations/effective").await;
    assert_eq!(eff["sources"]["theme"], "reseller");
}

#[tokio::test]
async fn customization_changes_are_audited_and_the_chain_verifies() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    app.put(
        &app.root_key,
        "/orgs/a/customizations",
        json!({"theme": "dark"}),
    )
    .await;
    app.patch(
        &app.root_key,
        "/orgs/a",
        json!({"customizations": {"theme": "light"}}),
    )
    .await;
    let events: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/audit").await;
    assert_eq!(events[1]["action"], "customizations.replace");
    assert_eq!(
        events[1]["changes"],
        json!({"before": {}, "after": {"theme": "dark"}})
    );
    assert_eq!(events[0]["action"], "org.update");
    assert_eq!(
        events[0]["changes"],
        json!({"before": {"customizations": {"theme": "dark"}}, "after": {"customizations": {"theme": "light"}}})
    );
    assert_eq!(app.verify("a").await["valid"], true);
}
