//! Delivery: signed, in feed order per org, retried with the same id,
//! following its endpoint through pauses, moves, deletion and secret rotation.

use super::*;

#[tokio::test]
async fn a_delivery_is_the_feed_event_signed_as_the_reference_library_verifies() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url})).await;
    assert!(hook.id.starts_with("whk_"), "{}", hook.id);
    assert_secret_form(&hook.secret);
    assert_eq!(hook.created["types"], json!([]), "absent types: every type");
    assert_eq!(hook.created["scope"], "subtree");
    assert_eq!(hook.created["enabled"], true);

    let event = tag(&app, "a", "gold").await;
    let event_id = event["id"].as_str().unwrap();
    let got = receiver.until_event(event_id).await;

    got.verify(&hook.secret)
        .expect("the reference library verifies the delivery");
    assert_eq!(
        got.event(),
        event,
        "the body is the event as the feed has it"
    );
    assert_eq!(got.id(), event_id);
    assert_eq!(got.signatures().len(), 1);
    assert!(got.signatures()[0].starts_with("v1,"));
    assert!(
        got.header("content-type").starts_with("application/json"),
        "{:?}",
        got.headers
    );
    // The check means something: another secret, or another body, fails it.
    let other = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    assert!(got.verify(&other).is_err());
    let mut tampered = got.clone();
    tampered.body = Bytes::from(got.body.iter().copied().rev().collect::<Vec<u8>>());
    assert!(tampered.verify(&hook.secret).is_err());

    // What follows its creation, its own `webhook.create` first (a ping, as
    // docs/decisions.md says): each as the feed has it.
    let (all, _) = feed(&app, "a", "", None).await;
    let types: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["org.create", "webhook.create", "tag.create"]);
    let got = receiver.received();
    assert_eq!(
        got.iter().map(Received::event).collect::<Vec<_>>(),
        all[1..],
        "{:?}",
        receiver.ids()
    );
    assert!(all[1].to_string().contains(&hook.id), "{}", all[1]);
    for r in &got {
        r.verify(&hook.secret).unwrap();
    }

    let d = until_delivery(&app, &hook, event_id, "success logged", |d| {
        d["status"] == "succeeded"
    })
    .await;
    assert!(d["id"].as_str().unwrap().starts_with("dlv_"), "{d}");
    assert_eq!(d["webhook_id"], hook.id.as_str());
    assert_eq!(d["event_type"], "tag.create");
    assert_eq!(d["org_id"], "a");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_status_code"], 200);
    assert!(d["delivered_at"].is_string(), "{d}");
    assert!(d["next_attempt_at"].is_null(), "{d}");
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id_and_a_fresh_signature() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    receiver.fail_next(3);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let event = tag(&app, "a", "gold").await;
    let event_id = event["id"].as_str().unwrap();

    // The first retry about 5 s after the failure, then 30 s, then 2 min
    // (each ±20 %): the service's clock is moved past each once the
    // attempt is written down.
    let mut clock_ahead = vec![ahead(&app)];
    for (attempt, pause) in [(1, 5.0), (2, 30.0), (3, 120.0)] {
        let d = until_delivery(&app, &hook, event_id, &format!("attempt {attempt}"), |d| {
            d["attempts"] == attempt
        })
        .await;
        assert_eq!(d["status"], "pending", "{d}");
        assert_eq!(d["last_status_code"], 500, "{d}");
        assert!(d["last_error"].as_str().unwrap().contains("500"), "{d}");
        let waits = (timestamp(&d["next_attempt_at"]) - timestamp(&d["last_attempt_at"]))
            .num_milliseconds() as f64
            / 1000.0;
        assert!(
            (pause * 0.8 - 0.01..=pause * 1.2 + 0.01).contains(&waits),
            "retry {attempt} after {waits} s, not about {pause} s: {d}"
        );
        app.clock.advance(chrono::TimeDelta::hours(1));
        clock_ahead.push(ahead(&app));
    }
    let d = until_delivery(&app, &hook, event_id, "success logged", |d| {
        d["status"] == "succeeded"
    })
    .await;
    assert_eq!(d["attempts"], 4, "{d}");
    assert_eq!(d["last_status_code"], 200, "{d}");
    assert!(d["last_error"].is_null(), "{d}");

    let got = receiver.received();
    assert_eq!(got.len(), 4, "{:?}", receiver.ids());
    got[0]
        .verify(&hook.secret)
        .expect("the reference library verifies the first attempt");
    let mut last = 0;
    for (r, ahead) in got.iter().zip(clock_ahead) {
        assert_eq!(r.id(), event_id, "the same webhook-id on every attempt");
        assert_eq!(r.event(), event);
        r.verify_ahead(&hook.secret, ahead)
            .expect("every attempt is signed afresh, at its own time");
        assert!(r.timestamp() > last, "a fresh timestamp on every attempt");
        last = r.timestamp();
    }
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert!(webhook["failing_since"].is_null(), "{webhook}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_gets_each_orgs_events_in_feed_order_one_at_a_time() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(300));
    app.orgs("root/a/a1").await;
    let hook = create_hook(
        &app,
        "a",
        json!({"url": receiver.url, "types": ["org.update"]}),
    )
    .await;
    for n in 0..10 {
        rename(&app, "a", &format!("A {n}")).await;
        rename(&app, "a1", &format!("A1 {n}")).await;
    }
    let (events, _) = feed(&app, "a", "types=org.update", None).await;
    assert_eq!(events.len(), 20);

    receiver.until("20 deliveries", |got| got.len() >= 20).await;
    until("every delivery answered and logged", || async {
        deliveries(&app, &hook, Some("pending"))
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let got = receiver.received();
    assert_eq!(got.len(), 20, "{:?}", receiver.ids());
    for org in ["a", "a1"] {
        let expected: Vec<&str> = events
            .iter()
            .filter(|e| e["org_id"] == org)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let delivered: Vec<&str> = got
            .iter()
            .filter(|r| r.event()["org_id"] == org)
            .map(Received::id)
            .collect();
        assert_eq!(delivered, expected, "{org}'s events in the feed's order");
        // Each of the org's deliveries starts after the one before ended.
        let marks: Vec<(String, bool)> = receiver
            .state
            .timeline
            .lock()
            .unwrap()
            .iter()
            .filter(|(o, _, _)| o == org)
            .map(|(_, id, start)| (id.clone(), *start))
            .collect();
        for (i, pair) in marks.chunks(2).enumerate() {
            assert!(
                pair.len() == 2 && pair[0].1 && !pair[1].1 && pair[0].0 == pair[1].0,
                "{org}: delivery {i} overlapped another: {marks:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_failing_delivery_holds_back_its_orgs_later_events_but_not_other_orgs() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    receiver.fail_next(usize::MAX);
    app.orgs("root/a root/b").await;
    let hook = create_hook(
        &app,
        "root",
        json!({"url": receiver.url, "types": ["tag.*"]}),
    )
    .await;
    let first = tag(&app, "a", "one").await;
    let first = first["id"].as_str().unwrap();
    until_delivery(&app, &hook, first, "a failed attempt", |d| {
        d["attempts"] == 1
    })
    .await;
    let second = tag(&app, "a", "two").await;
    let second = second["id"].as_str().unwrap();
    let other = tag(&app, "b", "three").await;
    let other = other["id"].as_str().unwrap();

    // b's event goes out at once (and is answered 500 too); a's second
    // waits behind a's first, which keeps failing however often it is tried.
    receiver.until_event(other).await;
    let waiting = until_delivery(&app, &hook, second, "queued", |_| true).await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert_eq!(waiting["attempts"], 0, "{waiting}");
    assert!(receiver.of_event(second).is_empty());

    receiver.fail_next(0);
    app.clock.advance(chrono::TimeDelta::hours(1));
    receiver.until_event(second).await;
    let of_a: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.event()["org_id"] == "a")
        .map(|r| r.id().to_owned())
        .collect();
    let (last, earlier) = of_a.split_last().unwrap();
    assert_eq!(last, second, "{of_a:?}");
    assert!(earlier.iter().all(|id| id == first), "{of_a:?}");
}

#[tokio::test]
async fn a_paused_endpoint_gets_what_happened_meanwhile_when_resumed() {
    let app = private_app().await;
    let (paused, watcher) = (Receiver::start().await, Receiver::start().await);
    app.org("root", "a").await;
    let body = |url: &str| json!({"url": url, "types": ["tag.*"]});
    let hook = create_hook(&app, "a", body(&paused.url)).await;
    create_hook(&app, "a", body(&watcher.url)).await;
    let res = app
        .patch(&app.root_key, &hook.path(), json!({"enabled": false}))
        .await;
    assert_eq!(json_body(res, StatusCode::OK).await["enabled"], false);

    let event = tag(&app, "a", "meanwhile").await;
    let id = event["id"].as_str().unwrap();
    // Once another endpoint has it, the queue has passed it for every
    // endpoint that was enabled.
    watcher.until_event(id).await;
    assert!(deliveries(&app, &hook, None).await.is_empty());
    assert!(paused.received().is_empty());

    let res = app
        .patch(&app.root_key, &hook.path(), json!({"enabled": true}))
        .await;
    assert_eq!(json_body(res, StatusCode::OK).await["enabled"], true);
    let got = paused.until_event(id).await;
    assert_eq!(got.event(), event);
    got.verify(&hook.secret).unwrap();
}

#[tokio::test]
async fn a_pending_delivery_follows_its_endpoint_to_a_new_url() {
    let app = private_app().await;
    let (old, new) = (Receiver::start().await, Receiver::start().await);
    old.fail_next(usize::MAX);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": old.url, "types": ["tag.*"]})).await;
    let event = tag(&app, "a", "gold").await;
    let id = event["id"].as_str().unwrap();
    until_delivery(&app, &hook, id, "a failed attempt", |d| d["attempts"] == 1).await;
    let res = app
        .patch(&app.root_key, &hook.path(), json!({"url": new.url}))
        .await;
    assert_eq!(
        json_body(res, StatusCode::OK).await["url"],
        new.url.as_str()
    );
    app.clock.advance(chrono::TimeDelta::hours(1));
    let got = new.until_event(id).await;
    assert_eq!(got.event(), event);
    got.verify_ahead(&hook.secret, ahead(&app)).unwrap();
    until_delivery(&app, &hook, id, "success", |d| d["status"] == "succeeded").await;
}

#[tokio::test]
async fn a_deleted_endpoint_is_sent_nothing_more() {
    let app = private_app().await;
    let (gone, watcher) = (Receiver::start().await, Receiver::start().await);
    gone.fail_next(usize::MAX);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": gone.url, "types": ["tag.*"]})).await;
    let event = tag(&app, "a", "gold").await;
    let id = event["id"].as_str().unwrap();
    until_delivery(&app, &hook, id, "a failed attempt", |d| d["attempts"] == 1).await;
    let res = app.delete(&app.root_key, &hook.path()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let before = gone.received().len();
    problem(
        app.get(&app.root_key, &hook.path()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(&app.root_key, &format!("{}/deliveries", hook.path()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Its retry comes due, and a new event happens: another endpoint gets
    // the event; the deleted one, nothing.
    create_hook(&app, "a", json!({"url": watcher.url, "types": ["tag.*"]})).await;
    app.clock.advance(chrono::TimeDelta::hours(1));
    let later = tag(&app, "a", "silver").await;
    watcher.until_event(later["id"].as_str().unwrap()).await;
    assert_eq!(gone.received().len(), before, "sent after its deletion");
    assert!(gone.ids().iter().all(|sent| sent == id));
}

#[tokio::test]
async fn after_rotation_both_secrets_sign_until_the_old_one_expires() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let old = hook.secret.clone();
    let first = tag(&app, "a", "one").await;
    let got = receiver.until_event(first["id"].as_str().unwrap()).await;
    assert_eq!(got.signatures().len(), 1);
    got.verify(&old).unwrap();

    let res = app
        .post(
            &app.root_key,
            &format!("{}/rotate_secret", hook.path()),
            json!({}),
        )
        .await;
    let rotated = json_body(res, StatusCode::OK).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_secret_form(&new);
    assert_ne!(new, old);
    assert_eq!(rotated["id"], hook.id.as_str());
    let until = timestamp(&rotated["previous_secret_expires_at"]);
    let overlap = until - app.clock_now();
    assert!(
        overlap > chrono::TimeDelta::hours(23) && overlap <= chrono::TimeDelta::hours(24),
        "{rotated}"
    );

    let second = tag(&app, "a", "two").await;
    let got = receiver.until_event(second["id"].as_str().unwrap()).await;
    let signatures = got.signatures();
    assert_eq!(signatures.len(), 2, "{}", got.header("webhook-signature"));
    got.verify(&old).expect("the old secret still verifies");
    got.verify(&new).expect("the new secret verifies");
    // One signature under each secret.
    let by_old: Vec<bool> = signatures
        .iter()
        .map(|s| got.with_signature(s).verify(&old).is_ok())
        .collect();
    let by_new: Vec<bool> = signatures
        .iter()
        .map(|s| got.with_signature(s).verify(&new).is_ok())
        .collect();
    assert_eq!(by_old.iter().filter(|ok| **ok).count(), 1);
    assert_eq!(by_new.iter().filter(|ok| **ok).count(), 1);
    assert_ne!(by_old, by_new);

    // A day later the old secret signs no more.
    app.clock.advance(chrono::TimeDelta::hours(25));
    let third = tag(&app, "a", "three").await;
    let got = receiver.until_event(third["id"].as_str().unwrap()).await;
    assert_eq!(got.signatures().len(), 1);
    got.verify_ahead(&new, ahead(&app)).unwrap();
    assert!(got.verify_ahead(&old, ahead(&app)).is_err());
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert!(webhook["previous_secret_expires_at"].is_null(), "{webhook}");
}
