//! Customizations: the object, merge patches through PATCH /orgs, effective values.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_body, problem};

#[tokio::test]
async fn put_replaces_and_get_returns_the_object_itself() {
    let app = TestApp::spawn().await;
    app.org("root", "org-123").await;
    let k = &app.root_key;
    let path = "/orgs/org-123/customizations";
    let body = json!({"theme": "dark", "logo_url": "https://example.com/logo.png"});
    let res = app.put(k, path, body.clone()).await;
    assert_eq!(res.headers()["etag"], "\"2\"");
    assert_eq!(json_body(res, StatusCode::OK).await, body);
    let got: Value = app.get_json(k, path).await;
    assert_eq!(got, body);

    // The seed's wording: a `customizations` parameter holding the object.
    let wrapped = json!({"customizations": {"theme": "light"}});
    let res = app.put(k, path, wrapped).await;
    assert_eq!(
        json_body(res, StatusCode::OK).await,
        json!({"theme": "light"})
    );
    let org: Value = app.get_json(k, "/orgs/org-123").await;
    assert_eq!(org["customizations"], json!({"theme": "light"}));
    problem(app.put(k, path, json!([1])).await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn patch_merges_customizations_as_rfc_7396() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    app.put(
        k,
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
            .patch(k, "/orgs/a", json!({"customizations": patch}))
            .await;
        let org = json_body(res, StatusCode::OK).await;
        assert_eq!(org["customizations"], expected);
    }
    // A non-object patch would replace the object with a non-object: refused.
    let res = app
        .patch(k, "/orgs/a", json!({"customizations": ["x"]}))
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let org: Value = app.get_json(k, "/orgs/a").await;
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
    let k = &app.root_key;
    let path = "/orgs/a/customizations";
    assert_eq!(app.put(k, path, nested(32)).await.status(), StatusCode::OK);
    for (body, status) in [
        (nested(33), StatusCode::BAD_REQUEST),
        (json!({"k": "x".repeat(65 * 1024)}), StatusCode::BAD_REQUEST),
        (
            json!({"k": "x".repeat(1100 * 1024)}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        problem(app.put(k, path, body).await, status).await;
    }
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = app
        .send_bytes(k, Method::PUT, path, "application/json", deep)
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .patch(k, "/orgs/a", json!({"customizations": nested(33)}))
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .post(
            k,
            "/orgs",
            json!({"name": "b", "customizations": nested(33)}),
        )
        .await;
    problem(res, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn effective_customizations_merge_down_the_tree_with_sources() {
    let app = TestApp::spawn().await;
    app.orgs("root/reseller/customer/team").await;
    let k = &app.root_key;
    for (org, customizations) in [
        (
            "root",
            json!({"support_email": "help@platform.example", "theme": {"color": "grey"}}),
        ),
        (
            "reseller",
            json!({"theme": {"color": "blue", "font": "serif"}, "logo_url": "r.png"}),
        ),
        ("team", json!({"theme": {"color": "red"}})),
    ] {
        let path = format!("/orgs/{org}/customizations");
        app.put(k, &path, customizations).await;
    }
    let eff: Value = app.get_json(k, "/orgs/team/customizations/effective").await;
    assert_eq!(
        eff["customizations"],
        json!({"support_email": "help@platform.example", "theme": {"color": "red", "font": "serif"}, "logo_url": "r.png"})
    );
    assert_eq!(
        eff["sources"],
        json!({"support_email": "root", "theme": "team", "logo_url": "reseller"})
    );
    let (customer_key, _) = app.key("customer", &["read"]).await;
    let eff: Value = app
        .get_json(&customer_key, "/orgs/customer/customizations/effective")
        .await;
    assert_eq!(eff["sources"]["theme"], "reseller");
}

#[tokio::test]
async fn customization_changes_are_audited_and_the_chain_verifies() {
    let app = TestApp::spawn().await;
    app.org("root", "a").await;
    let k = &app.root_key;
    let dark = json!({"theme": "dark"});
    app.put(k, "/orgs/a/customizations", dark).await;
    let light = json!({"customizations": {"theme": "light"}});
    app.patch(k, "/orgs/a", light).await;
    let events: Vec<Value> = app.get_json(k, "/orgs/a/audit").await;
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
