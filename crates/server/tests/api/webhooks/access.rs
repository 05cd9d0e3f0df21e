//! Access: who may manage and read webhooks, secrets shown once, and what
//! each endpoint receives.

use super::*;

#[tokio::test]
async fn webhooks_need_admin_and_reach_as_everywhere() {
    let app = TestApp::spawn().await;
    app.orgs("root/p/c").await;
    let url = "https://93.184.216.34/hook";
    let p_hook = create_hook(&app, "p", json!({"url": url})).await;
    let (c_admin, _) = app.key("c", &["read", "write", "delete", "admin"]).await;
    let (p_admin, _) = app.key("p", &["read", "admin"]).await;
    let (p_rw, _) = app.key("p", &["read", "write"]).await;

    // The parent's admin manages the child's endpoints.
    let c_hook = json_body(
        app.post(&p_admin, "/orgs/c/webhooks", json!({"url": url}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let c_path = format!("/orgs/c/webhooks/{}", c_hook["id"].as_str().unwrap());
    let c_list: Vec<Value> = app.get_json(&p_admin, "/orgs/c/webhooks").await;
    assert_eq!(ids(&c_list), [c_hook["id"].as_str().unwrap()]);
    let seen: Vec<Value> = app.get_json(&c_admin, "/orgs/c/webhooks").await;
    assert_eq!(seen, c_list, "the child's own admin sees them too");

    let p_path = p_hook.path();
    let p_deliveries = format!("{p_path}/deliveries");
    let some_delivery = format!("{p_deliveries}/dlv_01jd2x7q0r4b8s2c6v9w3x5y7z/retry");
    let p_routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/orgs/p/webhooks".into(), None),
        (
            Method::POST,
            "/orgs/p/webhooks".into(),
            Some(json!({"url": url})),
        ),
        (Method::GET, p_path.clone(), None),
        (
            Method::PATCH,
            p_path.clone(),
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, p_path.clone(), None),
        (Method::POST, format!("{p_path}/rotate_secret"), None),
        (Method::GET, p_deliveries.clone(), None),
        (Method::POST, some_delivery, None),
        (
            Method::POST,
            format!("{p_path}/replay"),
            Some(json!({"since": "2000-01-01T00:00:00Z"})),
        ),
    ];
    // The parent is out of the child's reach: as if it did not exist.
    for (method, path, body) in &p_routes {
        let res = app
            .send(Some(&c_admin), method.clone(), path, body.as_ref())
            .await;
        problem(res, StatusCode::NOT_FOUND).await;
    }
    // Reach and permission come before the body: a private or malformed URL
    // from a caller who may not manage the endpoints is no 400.
    for bad in ["http://127.0.0.1/x", "not a url"] {
        let body = json!({"url": bad});
        let res = app.post(&c_admin, "/orgs/p/webhooks", body.clone()).await;
        problem(res, StatusCode::NOT_FOUND).await;
        let res = app.patch(&c_admin, &p_path, body.clone()).await;
        problem(res, StatusCode::NOT_FOUND).await;
        let res = app.post(&p_rw, "/orgs/p/webhooks", body.clone()).await;
        problem(res, StatusCode::FORBIDDEN).await;
        let res = app.patch(&p_rw, &p_path, body).await;
        problem(res, StatusCode::FORBIDDEN).await;
    }
    // And the parent's endpoint is not the child's.
    problem(
        app.get(&p_admin, &format!("/orgs/c/webhooks/{}", p_hook.id))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Reachable without admin: forbidden.
    for (method, path, body) in &p_routes {
        let res = app
            .send(Some(&p_rw), method.clone(), path, body.as_ref())
            .await;
        problem(res, StatusCode::FORBIDDEN).await;
    }
    problem(
        app.get(&p_rw, "/orgs/c/webhooks").await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let res = app
        .patch(
            &p_admin,
            &c_path,
            json!({"description": "billing", "enabled": false}),
        )
        .await;
    let patched = json_body(res, StatusCode::OK).await;
    assert_eq!(patched["description"], "billing");
    assert_eq!(patched["enabled"], false);
    let res = app
        .post(&p_admin, &format!("{c_path}/rotate_secret"), json!({}))
        .await;
    json_body(res, StatusCode::OK).await;
    let res = app.delete(&p_admin, &c_path).await;
    assert_eq!(res.status(), StatusCode::OK);
    problem(app.get(&p_admin, &c_path).await, StatusCode::NOT_FOUND).await;
    // The parent's own endpoint is untouched by all of it.
    let p: Value = app.get_json(&p_admin, &p_path).await;
    assert_eq!(p["url"], url);
}

/// An `admin` key without `read` is refused the org and its feed; it must
/// not read them through a webhook either (SPEC §11): it can neither make
/// one that points at its own receiver, nor point, replay, retry or re-key
/// one that exists, nor read them. The same calls with `read` as well reach
/// the receiver, which shows what the refusals kept from it.
#[tokio::test]
async fn an_admin_key_without_read_reads_nothing_through_a_webhook() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let secret = json!({"sso": {"client_secret": "hunter2"}});
    let res = app
        .put(&app.root_key, "/orgs/a/customizations", secret)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hook = create_hook(
        &app,
        "a",
        json!({"url": "https://93.184.216.34/hook", "types": ["customizations.*"]}),
    )
    .await;
    let (admin_only, _) = app.key("a", &["admin", "write", "delete"]).await;
    let (read_admin, _) = app.key("a", &["read", "admin"]).await;

    // What it may not read directly.
    app.get_problem(&admin_only, "/orgs/a", StatusCode::FORBIDDEN)
        .await;
    app.get_problem(&admin_only, "/orgs/a/events", StatusCode::FORBIDDEN)
        .await;

    let path = hook.path();
    let retry = format!("{path}/deliveries/dlv_01jd2x7q0r4b8s2c6v9w3x5y7z/retry");
    let to_receiver = json!({"url": receiver.url});
    let since = json!({"since": "2000-01-01T00:00:00Z"});
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/orgs/a/webhooks".into(),
            Some(to_receiver.clone()),
        ),
        (Method::GET, "/orgs/a/webhooks".into(), None),
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(to_receiver.clone())),
        (Method::POST, format!("{path}/rotate_secret"), None),
        (Method::POST, format!("{path}/replay"), Some(since.clone())),
        (Method::GET, format!("{path}/deliveries"), None),
        (Method::POST, retry, None),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, route, body) in &routes {
        let res = app
            .send(Some(&admin_only), method.clone(), route, body.as_ref())
            .await;
        let p = problem(res, StatusCode::FORBIDDEN).await;
        assert_eq!(
            p["detail"], "this API key lacks the 'read' permission",
            "{method} {route}"
        );
    }
    // Nothing was made, pointed elsewhere, re-keyed or queued: nothing can
    // reach the receiver.
    let hooks: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/webhooks").await;
    assert_eq!(ids(&hooks), [hook.id.as_str()]);
    let after: Value = app.get_json(&app.root_key, &path).await;
    assert_eq!(after["url"], "https://93.184.216.34/hook");
    assert!(after["previous_secret_expires_at"].is_null(), "{after}");
    assert!(deliveries(&app, &hook, None).await.is_empty());

    // With `read` as well, the same calls reach the receiver.
    let res = app.patch(&read_admin, &path, to_receiver).await;
    json_body(res, StatusCode::OK).await;
    let res = app
        .post(&read_admin, &format!("{path}/replay"), since)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let got = receiver
        .until("the replayed customizations", |got| !got.is_empty())
        .await;
    assert_eq!(got[0].event()["type"], "customizations.replace");
    assert!(
        String::from_utf8_lossy(&got[0].body).contains("hunter2"),
        "a webhook delivers what the feed serves"
    );
}

#[tokio::test]
async fn a_secret_is_shown_at_creation_and_rotation_only() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url})).await;
    let mut secrets = vec![hook.secret.clone()];
    let event = tag(&app, "a", "gold").await;
    receiver.until_event(event["id"].as_str().unwrap()).await;

    let res = app
        .patch(
            &app.root_key,
            &hook.path(),
            json!({"description": "billing"}),
        )
        .await;
    let patched = json_body(res, StatusCode::OK).await;
    let res = app
        .post(
            &app.root_key,
            &format!("{}/rotate_secret", hook.path()),
            json!({}),
        )
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let rotated = json_body(res, StatusCode::OK).await;
    secrets.push(rotated["secret"].as_str().unwrap().to_owned());

    // A retry of the creation with its Idempotency-Key replays it without
    // the secret.
    let create = || {
        app.client
            .post(app.url("/orgs/a/webhooks"))
            .bearer_auth(&app.root_key)
            .header("idempotency-key", "create-hook")
            .json(&json!({"url": receiver.url, "types": ["org.*"]}))
            .send()
    };
    let first = json_body(create().await.unwrap(), StatusCode::CREATED).await;
    let second_secret = first["secret"].as_str().unwrap().to_owned();
    secrets.push(second_secret);
    let again = create().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let list: Vec<Value> = app.get_json(&app.root_key, "/orgs/a/webhooks").await;
    assert_eq!(list.len(), 2);
    let paged = app
        .all_pages(&app.root_key, "/orgs/a/webhooks?limit=1", 1)
        .await;
    assert_eq!(paged, list);

    let mut later = vec![patched, again, json!(list)];
    later.push(app.get_json(&app.root_key, &hook.path()).await);
    later.push(json!(deliveries(&app, &hook, None).await));
    later.push(app.get_json(&app.root_key, "/orgs/a/audit").await);
    later.push(
        app.get_json(&app.root_key, "/orgs/root/children_audit")
            .await,
    );
    later.push(json!(feed(&app, "root", "", None).await.0));
    later.push(json!(
        receiver
            .received()
            .iter()
            .map(Received::event)
            .collect::<Vec<_>>()
    ));
    for body in &later {
        let text = body.to_string();
        assert!(!text.contains("\"secret\""), "a secret field in {text}");
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret in {text}");
            // Nor its key without the prefix.
            assert!(!text.contains(&s["whsec_".len()..]), "a secret in {text}");
        }
    }
}

#[tokio::test]
async fn subtree_self_and_type_filters_pick_the_events_an_endpoint_receives() {
    let app = private_app().await;
    app.orgs("root/a/a1 root/b").await;
    let (subtree, own, tags) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let changes = json!(["org.*", "tag.*"]);
    let hooks = [
        create_hook(&app, "a", json!({"url": subtree.url, "types": changes})).await,
        create_hook(
            &app,
            "a",
            json!({"url": own.url, "types": changes, "scope": "self"}),
        )
        .await,
        create_hook(&app, "a", json!({"url": tags.url, "types": ["tag.*"]})).await,
    ];
    let start = feed_end(&app).await;
    rename(&app, "a1", "A1").await;
    tag(&app, "a1", "one").await;
    tag(&app, "b", "two").await;
    rename(&app, "b", "B").await;
    rename(&app, "a", "A").await;
    let last = tag(&app, "a", "three").await;
    let (events, _) = feed(&app, "root", "", Some(&start)).await;

    let pick = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        events
            .iter()
            .filter(|e| keep(e))
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let expected = [
        pick(&|e| e["org_id"] == "a" || e["org_id"] == "a1"),
        pick(&|e| e["org_id"] == "a"),
        pick(&|e| (e["org_id"] == "a" || e["org_id"] == "a1") && e["type"] == "tag.create"),
    ];
    assert_eq!(expected.each_ref().map(Vec::len), [4, 2, 2], "{events:?}");

    for ((hook, receiver), expected) in hooks.iter().zip([&subtree, &own, &tags]).zip(expected) {
        // The last event (a's) is queued after every other, so once it has
        // arrived everything the endpoint is to get is in its log.
        receiver.until_event(last["id"].as_str().unwrap()).await;
        until("nothing pending", || async {
            deliveries(&app, hook, Some("pending"))
                .await
                .is_empty()
                .then_some(())
        })
        .await;
        let mut logged: Vec<String> = deliveries(&app, hook, None)
            .await
            .iter()
            .map(|d| d["event_id"].as_str().unwrap().to_owned())
            .collect();
        logged.reverse();
        let mut got = receiver.ids();
        got.sort();
        logged.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "{} ({})", hook.id, hook.created);
        assert_eq!(logged, want, "{} ({})", hook.id, hook.created);
    }
}
