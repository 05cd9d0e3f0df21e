//! Retries by hand and replays.

use super::*;

#[tokio::test]
async fn a_succeeded_delivery_retried_by_hand_is_sent_again() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let event = tag(&app, "a", "gold").await;
    let event_id = event["id"].as_str().unwrap();
    let d = until_delivery(&app, &hook, event_id, "success", |d| {
        d["status"] == "succeeded"
    })
    .await;

    let res = app
        .post(
            &app.root_key,
            &format!(
                "{}/deliveries/{}/retry",
                hook.path(),
                d["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    let retried = json_body(res, StatusCode::ACCEPTED).await;
    assert_eq!(retried["id"], d["id"]);
    assert_eq!(retried["status"], "pending");
    until("the second delivery", || async {
        (receiver.of_event(event_id).len() == 2).then_some(())
    })
    .await;
    let d = until_delivery(&app, &hook, event_id, "success again", |d| {
        d["status"] == "succeeded" && d["attempts"] == 2
    })
    .await;
    assert_eq!(d["last_status_code"], 200);
    for r in receiver.of_event(event_id) {
        r.verify(&hook.secret).unwrap();
        assert_eq!(r.event(), event);
    }
    problem(
        app.post(
            &app.root_key,
            &format!(
                "{}/deliveries/dlv_01jd2x7q0r4b8s2c6v9w3x5y7z/retry",
                hook.path()
            ),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn after_three_days_of_failures_a_delivery_fails_its_endpoint_is_disabled_and_both_recover() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    receiver.fail_next(usize::MAX);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    // Another endpoint of the org hears of the disabling.
    let watcher = Receiver::start().await;
    create_hook(
        &app,
        "a",
        json!({"url": watcher.url, "types": ["webhook.disabled"]}),
    )
    .await;
    let event = tag(&app, "a", "gold").await;
    let event_id = event["id"].as_str().unwrap();

    // Each attempt fails; the clock moves past the next retry (at most
    // 12 h + 20 %) once each is written down, until the delivery gives up.
    let mut attempts = 0;
    let failed = loop {
        attempts += 1;
        assert!(attempts < 20, "still retried after {attempts} attempts");
        let d = until_delivery(&app, &hook, event_id, &format!("attempt {attempts}"), |d| {
            d["attempts"] == attempts
        })
        .await;
        if d["status"] == "failed" {
            break d;
        }
        assert_eq!(d["status"], "pending", "{d}");
        app.clock.advance(chrono::TimeDelta::hours(15));
    };
    let retried_for = timestamp(&failed["last_attempt_at"]) - timestamp(&failed["created_at"]);
    assert!(
        retried_for > chrono::TimeDelta::days(2) && retried_for <= chrono::TimeDelta::days(4),
        "{failed}"
    );
    assert!(failed["next_attempt_at"].is_null(), "{failed}");
    assert_eq!(receiver.of_event(event_id).len(), attempts as usize);

    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert_eq!(webhook["enabled"], false, "{webhook}");
    assert!(webhook["disabled_at"].is_string(), "{webhook}");
    assert!(webhook["failing_since"].is_string(), "{webhook}");
    let (disabled, _) = feed(&app, "a", "types=webhook.disabled", None).await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    let heard = watcher
        .until_event(disabled[0]["id"].as_str().unwrap())
        .await;
    assert_eq!(heard.event(), disabled[0]);
    assert!(
        disabled[0].to_string().contains(&hook.id),
        "{}",
        disabled[0]
    );

    // The receiver is fixed, the endpoint enabled again and the delivery
    // retried by hand: it arrives.
    receiver.fail_next(0);
    let res = app
        .patch(&app.root_key, &hook.path(), json!({"enabled": true}))
        .await;
    let enabled = json_body(res, StatusCode::OK).await;
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_at"].is_null(), "{enabled}");
    let res = app
        .post(
            &app.root_key,
            &format!(
                "{}/deliveries/{}/retry",
                hook.path(),
                failed["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    let retried = json_body(res, StatusCode::ACCEPTED).await;
    assert_eq!(retried["status"], "pending");
    let d = until_delivery(&app, &hook, event_id, "success after the retry", |d| {
        d["status"] == "succeeded"
    })
    .await;
    assert_eq!(d["attempts"], attempts + 1, "{d}");
    assert_eq!(d["last_status_code"], 200, "{d}");
    let last = receiver.of_event(event_id).pop().unwrap();
    last.verify_ahead(&hook.secret, ahead(&app)).unwrap();
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert!(webhook["failing_since"].is_null(), "{webhook}");
}

#[tokio::test]
async fn a_replay_sends_earlier_events_again_with_their_ids() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let before = tag(&app, "a", "before").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let one = tag(&app, "a", "one").await;
    let middle = feed_end(&app).await;
    let two = tag(&app, "a", "two").await;
    receiver.until("two deliveries", |got| got.len() == 2).await;
    assert_eq!(receiver.ids(), ids(&[one.clone(), two.clone()]));

    let res = app
        .post(
            &app.root_key,
            &format!("{}/replay", hook.path()),
            json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    let done = json_body(res, StatusCode::ACCEPTED).await;
    assert_eq!(done, json!({"queued": 3, "next_after": null}));
    let got = receiver.until("three more", |got| got.len() == 5).await;
    let all = [before.clone(), one.clone(), two.clone()];
    let again: Vec<&str> = got[2..].iter().map(Received::id).collect();
    assert_eq!(
        again,
        ids(&all),
        "earlier events, in order, with their own ids"
    );
    for (r, e) in got[2..].iter().zip(&all) {
        assert_eq!(&r.event(), e);
        r.verify(&hook.secret).unwrap();
    }

    let res = app
        .post(
            &app.root_key,
            &format!("{}/replay", hook.path()),
            json!({"after": middle}),
        )
        .await;
    let done = json_body(res, StatusCode::ACCEPTED).await;
    assert_eq!(done, json!({"queued": 1, "next_after": null}));
    let got = receiver.until("one more", |got| got.len() == 6).await;
    assert_eq!(got[5].id(), two["id"].as_str().unwrap());

    // Six deliveries in the log, newest first, paged.
    until("every delivery logged", || async {
        deliveries(&app, &hook, Some("pending"))
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let log = deliveries(&app, &hook, None).await;
    let logged: Vec<&str> = log
        .iter()
        .rev()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    // The two sent as they happened, the replay since 2000, the replay
    // after `one`.
    let expected: Vec<&str> = [&one, &two, &before, &one, &two, &two]
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(logged, expected);
    let paged = app
        .all_pages(
            &app.root_key,
            &format!("{}/deliveries?limit=2", hook.path()),
            2,
        )
        .await;
    assert_eq!(paged, log);

    for (body, field) in [
        (json!({}), None),
        (
            json!({"after": middle, "since": "2000-01-01T00:00:00Z"}),
            None,
        ),
        (json!({"after": "nope"}), Some("after")),
        (json!({"since": "yesterday"}), Some("since")),
        (json!({"since": 5}), None),
        (json!({"from": "2000-01-01T00:00:00Z"}), None),
    ] {
        let res = app
            .post(
                &app.root_key,
                &format!("{}/replay", hook.path()),
                body.clone(),
            )
            .await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        if let Some(field) = field {
            assert_eq!(error_fields(&p), [field], "{body}: {p}");
        }
    }
    // A cursor of another list is no feed cursor.
    let res = app.get(&app.root_key, "/orgs/root/audit?limit=1").await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let res = app
        .post(
            &app.root_key,
            &format!("{}/replay", hook.path()),
            json!({"after": cursor}),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(error_fields(&p), ["after"]);
    problem(
        app.post(
            &app.root_key,
            "/orgs/a/webhooks/whk_01jd2x6m4c8s5v0q3n7r9t1w2y/replay",
            json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
