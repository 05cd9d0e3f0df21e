//! Webhooks (SPEC §11): endpoints that receive their org's events as signed
//! `POST`s. Each test runs a real receiver (an axum server on a loopback
//! port) that records every request; signatures are checked with the
//! reference implementation of Standard Webhooks (the `standardwebhooks`
//! crate). Retries come due by moving the service's clock, never by sleeping
//! through the schedule; every wait is for a state, with a generous deadline
//! only as a guard against hanging.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Remote, Storage, TestApp, error_fields, json_body, next_after, problem, start_binary_with,
};

// ---------------------------------------------------------------------------
// The receiver

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    /// When it arrived, by the real clock.
    at: DateTime<Utc>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// `webhook-id`: the event's id.
    fn id(&self) -> &str {
        self.header("webhook-id")
    }

    fn timestamp(&self) -> i64 {
        self.header("webhook-timestamp").parse().unwrap()
    }

    /// The space-separated entries of `webhook-signature`.
    fn signatures(&self) -> Vec<&str> {
        self.header("webhook-signature").split(' ').collect()
    }

    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the request with the reference implementation.
    fn verify(&self, secret: &str) -> Result<(), standardwebhooks::WebhookError> {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
    }

    /// Checks the request as the reference implementation does, at the
    /// service's time rather than the real one: `ahead` is how far a test
    /// had moved the service's clock when the request was sent (the
    /// deliverer stamps `webhook-timestamp` by the service's clock, which the
    /// reference library would find hours in the future). The signature is
    /// the one the reference library computes; the timestamp must be within
    /// its 5 minutes of the request's arrival by that clock.
    fn verify_ahead(&self, secret: &str, ahead: chrono::TimeDelta) -> Result<(), String> {
        let expected = standardwebhooks::Webhook::new(secret)
            .unwrap()
            .sign(self.id(), self.timestamp(), &self.body)
            .unwrap();
        if !self.signatures().contains(&expected.as_str()) {
            return Err(format!(
                "no signature {expected} in {:?}",
                self.signatures()
            ));
        }
        let skew = self.timestamp() - (self.at + ahead).timestamp();
        if skew.abs() > 5 * 60 {
            return Err(format!(
                "webhook-timestamp is {skew} s off the service's time"
            ));
        }
        Ok(())
    }

    /// The same request carrying `signature` alone.
    fn with_signature(&self, signature: &str) -> Self {
        let mut copy = self.clone();
        copy.headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        copy
    }
}

/// What the receiver saw and how it answers.
#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Each request's start and end, in the order they happened:
    /// `(event org, webhook-id, start?)`.
    timeline: Mutex<Vec<(String, String, bool)>>,
    /// Requests still to be answered 500.
    failures: AtomicUsize,
    /// Answer every other request `307 Temporary Redirect` to this URL
    /// (rather than 200).
    redirect: Mutex<Option<String>>,
    /// How long to take over each answer.
    delay_ms: AtomicU64,
    /// Never answer (the sender's timeout ends the request).
    hang: AtomicBool,
}

/// A webhook receiver on `127.0.0.1`: records every request (headers and
/// body) and answers as it is told (200 unless told otherwise).
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    server: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(s): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let org = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|e| e["org_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    s.timeline
        .lock()
        .unwrap()
        .push((org.clone(), id.clone(), true));
    s.received.lock().unwrap().push(Received {
        headers,
        body,
        at: real_now(),
    });
    if s.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let fail = s
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let redirect = s.redirect.lock().unwrap().clone();
    s.timeline.lock().unwrap().push((org, id, false));
    match redirect {
        _ if fail => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Some(to) => (
            axum::http::StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, to)],
        )
            .into_response(),
        None => axum::http::StatusCode::OK.into_response(),
    }
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, state, server }
    }

    /// Answers the next `n` requests with 500.
    fn fail_next(&self, n: usize) {
        self.state.failures.store(n, Ordering::SeqCst);
    }

    /// Takes `d` over each answer.
    fn delay(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap();
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Answers every request with a redirect to `to`.
    fn redirect(&self, to: &str) {
        *self.state.redirect.lock().unwrap() = Some(to.to_owned());
    }

    /// Whether requests are held unanswered.
    fn hang(&self, on: bool) {
        self.state.hang.store(on, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    fn ids(&self) -> Vec<String> {
        self.received().iter().map(|r| r.id().to_owned()).collect()
    }

    /// Waits until what was received satisfies `done`; returns it.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let state = &self.state;
        let done = &done;
        until(what, || async move {
            let got = state.received.lock().unwrap().clone();
            done(&got).then_some(got)
        })
        .await
    }

    /// Waits for the requests delivering event `id`; returns the first.
    async fn until_event(&self, id: &str) -> Received {
        let got = self
            .until(&format!("a delivery of {id}"), |got| {
                got.iter().any(|r| r.id() == id)
            })
            .await;
        got.into_iter().find(|r| r.id() == id).unwrap()
    }

    /// Requests of event `id` so far.
    fn of_event(&self, id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.id() == id)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// Polls `check` until it gives a value. A state, not a time: the minute is
/// only a guard against hanging, far beyond what delivery takes.
async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    until_within(what, Duration::from_secs(60), check).await
}

async fn until_within<T, F, Fut>(what: &str, guard: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + guard;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "waited {guard:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server that may deliver to the test's receiver on `127.0.0.1`.
async fn private_app() -> TestApp {
    TestApp::spawn_with(|c| c.webhooks.allow_private_targets = true).await
}

/// A webhook as created: its id, its org and the secret shown once.
struct Hook {
    id: String,
    org: String,
    secret: String,
    created: Value,
}

impl Hook {
    fn path(&self) -> String {
        format!("/orgs/{}/webhooks/{}", self.org, self.id)
    }
}

/// Creates a webhook on `org` with the root key.
async fn create_hook(app: &TestApp, org: &str, body: Value) -> Hook {
    let created = app
        .created(&app.root_key, &format!("/orgs/{org}/webhooks"), body)
        .await;
    Hook {
        id: created["id"].as_str().unwrap().to_owned(),
        org: org.to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
        created,
    }
}

/// Every delivery of `hook` (newest first), of `status` if given.
async fn deliveries(app: &TestApp, hook: &Hook, status: Option<&str>) -> Vec<Value> {
    let status = status.map_or(String::new(), |s| format!("&status={s}"));
    app.all_pages(
        &app.root_key,
        &format!("{}/deliveries?limit=1000{status}", hook.path()),
        1000,
    )
    .await
}

/// Waits until `hook`'s delivery of event `event_id` satisfies `done`.
async fn until_delivery(
    app: &TestApp,
    hook: &Hook,
    event_id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let done = &done;
    until(&format!("{what} ({event_id})"), || async move {
        deliveries(app, hook, None)
            .await
            .into_iter()
            .find(|d| d["event_id"] == event_id)
            .filter(|d| done(d))
    })
    .await
}

/// Every event of `org`'s feed after `after` (the start if `None`), with the
/// extra `query`; and the cursor to read on from.
async fn feed(app: &TestApp, org: &str, query: &str, after: Option<&str>) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut after = after.map(str::to_owned);
    loop {
        let mut path = format!("/orgs/{org}/events?limit=1000&{query}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let res = app.get(&app.root_key, &path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let next = next_after(&res);
        let page: Vec<Value> = res.json().await.unwrap();
        after = Some(next);
        if page.is_empty() {
            return (events, after.unwrap());
        }
        events.extend(page);
    }
}

/// The feed's cursor as of now: events after it are new.
async fn feed_end(app: &TestApp) -> String {
    feed(app, "root", "", None).await.1
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

/// Tags `org` with `name` (a `tag.create` event); returns the event.
async fn tag(app: &TestApp, org: &str, name: &str) -> Value {
    let after = feed_end(app).await;
    let res = app
        .post(
            &app.root_key,
            &format!("/orgs/{org}/tags"),
            json!({"name": name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "tag {name} of {org}");
    let (events, _) = feed(app, org, "scope=self&types=tag.create", Some(&after)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}

/// Renames `org` (an `org.update` event).
async fn rename(app: &TestApp, org: &str, name: &str) {
    let res = app
        .patch(
            &app.root_key,
            &format!("/orgs/{org}"),
            json!({"name": name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "renaming {org}");
}

/// The real time (the service's clock may be moved ahead of it).
fn real_now() -> DateTime<Utc> {
    use orgd_core::clock::Clock as _;
    orgd_core::clock::SystemClock.now()
}

/// How far the test has moved the service's clock ahead of the real one.
fn ahead(app: &TestApp) -> chrono::TimeDelta {
    let ahead = app.clock_now() - real_now();
    // Whole seconds: the two readings are microseconds apart.
    chrono::TimeDelta::seconds((ahead.num_milliseconds() as f64 / 1000.0).round() as i64)
}

fn timestamp(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// A secret of the form the spec gives: `whsec_` and 32 bytes in base64.
fn assert_secret_form(secret: &str) {
    let b64 = secret.strip_prefix("whsec_").unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(bytes.len(), 32, "{secret}");
}

// ---------------------------------------------------------------------------
// Delivery

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

// ---------------------------------------------------------------------------
// Safety

#[tokio::test]
async fn private_and_non_http_targets_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        // Other spellings of 127.0.0.1.
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "https://user:pw@93.184.216.34/",
        "not a url",
    ] {
        let res = app
            .post(&app.root_key, "/orgs/root/webhooks", json!({"url": url}))
            .await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&p), ["url"], "{url}: {p}");
    }
    let list: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/webhooks").await;
    assert!(list.is_empty(), "{list:?}");

    // A public address needs no resolving and is accepted.
    let hook = create_hook(&app, "root", json!({"url": "https://93.184.216.34/hook"})).await;
    assert_eq!(hook.created["url"], "https://93.184.216.34/hook");
    for url in [
        "http://127.0.0.1:9/x",
        "http://[::ffff:10.0.0.1]/",
        "gopher://93.184.216.34/",
    ] {
        let res = app
            .patch(&app.root_key, &hook.path(), json!({"url": url}))
            .await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&p), ["url"], "{url}: {p}");
    }
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert_eq!(webhook["url"], "https://93.184.216.34/hook");
}

/// Every address the IANA special-purpose registries do not count as
/// globally reachable is refused as a target, written as a literal in the
/// URL (no resolving involved), at creation and on a change; the
/// registry's globally reachable exceptions inside those ranges are not.
#[tokio::test]
async fn special_purpose_targets_are_refused() {
    // No deliverer: the accepted endpoints below are never posted to.
    let app = TestApp::spawn_with(|c| c.webhooks.workers = 0).await;
    let hook = create_hook(&app, "root", json!({"url": "https://93.184.216.34/hook"})).await;
    for host in [
        "192.0.0.1",
        "192.0.0.8",
        "192.0.0.170",
        "192.0.2.1",
        "198.18.0.1",
        "198.19.255.254",
        "198.51.100.7",
        "203.0.113.9",
        "192.88.99.1",
        "240.0.0.1",
        "[2001:db8::1]",
        "[2001::1]",
        "[2001:2::1]",
        "[2001:1ff::1]",
        "[100::1]",
        "[64:ff9b:1::1]",
        "[3fff::1]",
        "[fec0::1]",
        "[::ffff:192.0.2.1]",
        "[64:ff9b::c633:6407]",
    ] {
        let url = format!("https://{host}/hook");
        for res in [
            app.post(&app.root_key, "/orgs/root/webhooks", json!({"url": url}))
                .await,
            app.patch(&app.root_key, &hook.path(), json!({"url": url}))
                .await,
        ] {
            let p = problem(res, StatusCode::BAD_REQUEST).await;
            assert_eq!(error_fields(&p), ["url"], "{url}: {p}");
            let message = p["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("not globally reachable"), "{url}: {p}");
        }
    }
    let list: Vec<Value> = app.get_json(&app.root_key, "/orgs/root/webhooks").await;
    assert_eq!(ids(&list), [hook.id.as_str()]);
    let webhook: Value = app.get_json(&app.root_key, &hook.path()).await;
    assert_eq!(webhook["url"], "https://93.184.216.34/hook");
    // Anycast services the registry counts as globally reachable.
    for host in ["192.0.0.9", "192.0.0.10", "[2001:1::1]", "[2001:4:112::1]"] {
        let url = format!("https://{host}/hook");
        let res = app
            .post(&app.root_key, "/orgs/root/webhooks", json!({"url": url}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{url}");
    }
}

/// A special-purpose target is refused at delivery too: made while private
/// targets were allowed, it is not even tried once they are not (before,
/// an attempt to the documentation range ran into its timeout).
#[tokio::test]
async fn a_special_purpose_target_is_refused_again_at_delivery() {
    let app = private_app().await;
    app.org("root", "a").await;
    let url = "http://198.51.100.7/hook";
    let hook = create_hook(&app, "a", json!({"url": url, "types": ["tag.*"]})).await;
    let app = app.restart().await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert!(d["last_status_code"].is_null(), "{d}");
    let error = d["last_error"].as_str().unwrap();
    assert!(
        error.contains("198.51.100.7") && error.contains("documentation, TEST-NET-2"),
        "{d}"
    );
}

/// The delivery of a new tag event of `a` after its first attempt.
async fn first_attempt(app: &TestApp, hook: &Hook) -> Value {
    let event = tag(app, "a", "gold").await;
    let id = event["id"].as_str().unwrap();
    until_delivery(app, hook, id, "a first attempt", |d| d["attempts"] == 1).await
}

#[tokio::test]
async fn a_private_target_is_refused_again_at_delivery() {
    // Created while private targets were allowed; the server then restarts
    // without that allowance.
    let app = private_app().await;
    let receiver = Receiver::start().await;
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let app = app.restart().await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert!(d["last_status_code"].is_null(), "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("loopback"),
        "{d}"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = private_app().await;
    let (receiver, elsewhere) = (Receiver::start().await, Receiver::start().await);
    receiver.redirect(&elsewhere.url);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "a redirect is no success: {d}");
    assert_eq!(d["last_status_code"], 307, "{d}");
    assert_eq!(receiver.received().len(), 1);
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn an_answer_that_takes_over_ten_seconds_is_a_failure() {
    let app = private_app().await;
    let receiver = Receiver::start().await;
    receiver.hang(true);
    app.org("root", "a").await;
    let hook = create_hook(&app, "a", json!({"url": receiver.url, "types": ["tag.*"]})).await;
    let d = first_attempt(&app, &hook).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert!(d["last_status_code"].is_null(), "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("timed out"),
        "{d}"
    );
}

#[tokio::test]
async fn bad_webhook_fields_and_parameters_are_named() {
    let app = TestApp::spawn().await;
    let url = "https://93.184.216.34/hook";
    let create = |body: Value| app.post(&app.root_key, "/orgs/root/webhooks", body);
    let fields = |p: &Value| {
        let mut f: Vec<String> = error_fields(p).into_iter().map(str::to_owned).collect();
        f.sort();
        f
    };
    let p = problem(
        create(json!({
            "url": "ftp://x/",
            "types": [],
            "scope": "all",
            "description": "x".repeat(501),
        }))
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(fields(&p), ["description", "scope", "types", "url"], "{p}");
    for (body, field) in [
        (json!({"url": url, "types": ["Org.*"]}), "types"),
        (
            json!({"url": url, "types": ["org.create,org.update"]}),
            "types",
        ),
        (json!({"url": url, "scope": "SELF"}), "scope"),
        (
            json!({"url": format!("https://93.184.216.34/{}", "x".repeat(2048))}),
            "url",
        ),
        // A client does not choose its secret.
        (
            json!({"url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            "secret",
        ),
    ] {
        let p = problem(create(body.clone()).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(fields(&p), [field], "{body}: {p}");
    }
    problem(create(json!({})).await, StatusCode::BAD_REQUEST).await;

    let res = create(json!({"url": url, "types": null})).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created = json_body(res, StatusCode::CREATED).await;
    assert_eq!(created["types"], json!([]), "null: every type");
    let hook = Hook {
        id: created["id"].as_str().unwrap().to_owned(),
        org: "root".into(),
        secret: created["secret"].as_str().unwrap().to_owned(),
        created,
    };
    assert_eq!(location, hook.path());
    for (body, field) in [
        (json!({"scope": "everything"}), Some("scope")),
        (json!({"types": []}), Some("types")),
        (json!({"url": "not a url"}), Some("url")),
        (json!({"enabled": "yes"}), None),
        (
            json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            Some("secret"),
        ),
    ] {
        let res = app.patch(&app.root_key, &hook.path(), body.clone()).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        if let Some(field) = field {
            assert_eq!(fields(&p), [field], "{body}: {p}");
        }
    }
    let res = app
        .patch(&app.root_key, &hook.path(), json!({"types": null}))
        .await;
    assert_eq!(json_body(res, StatusCode::OK).await["types"], json!([]));

    let p = app
        .get_problem(
            &app.root_key,
            &format!("{}/deliveries?status=done", hook.path()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(fields(&p), ["status"]);
    let p = app
        .get_problem(
            &app.root_key,
            &format!("{}/deliveries?limit=0", hook.path()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(fields(&p), ["limit"]);
    let unknown = "/orgs/root/webhooks/whk_01jd2x6m4c8s5v0q3n7r9t1w2y";
    for path in [unknown.to_owned(), format!("{unknown}/deliveries")] {
        app.get_problem(&app.root_key, &path, StatusCode::NOT_FOUND)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_a_secret_nor_an_endpoints_url_reaches_the_log() {
    let storage = Storage::new().await;
    let key = orgd_core::keys::generate_secret();
    let receiver = Receiver::start().await;
    // One failed attempt, so that the failure's path is logged too.
    receiver.fail_next(1);
    let mut orgd = crate::helpers::OrgdProcess::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &storage.database_url,
            "--webhook-allow-private-targets",
        ],
        &[("ORGD_LOG", "debug"), ("ORGD_BOOTSTRAP_KEY", &key)],
    );
    let remote = Remote::new(&orgd.base().await, &key);
    let token = "tok-9f2c41d7e5";
    let res = remote
        .post(
            "/orgs/root/webhooks",
            json!({"url": format!("{}?token={token}", receiver.url), "types": ["tag.*"]}),
        )
        .await;
    let created = json_body(res, StatusCode::CREATED).await;
    let path = format!("/orgs/root/webhooks/{}", created["id"].as_str().unwrap());
    let res = remote
        .post(&format!("{path}/rotate_secret"), json!({}))
        .await;
    let rotated = json_body(res, StatusCode::OK).await;
    let res = remote.post("/orgs/root/tags", json!({"name": "x"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The retry comes about 5 s after the failure, by the real clock.
    receiver
        .until("the failure and the retry", |got| got.len() == 2)
        .await;
    let (_, lines) = orgd.stop().await;
    assert!(lines.len() > 3, "{lines:?}");
    let secrets = [&created["secret"], &rotated["secret"]].map(|s| {
        let s = s.as_str().unwrap();
        s["whsec_".len()..].to_owned()
    });
    for line in &lines {
        assert!(!line.contains(token), "the URL's token in the log: {line}");
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "a secret in the log: {line}");
        }
    }
}

// ---------------------------------------------------------------------------
// Access

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

// ---------------------------------------------------------------------------
// Retries by hand, replays

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

// ---------------------------------------------------------------------------
// Durability

/// Every delivery of a webhook, from the server at `remote`.
async fn remote_deliveries(remote: &Remote, hook: &str, status: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut next = Some(format!("{hook}/deliveries?limit=1000&status={status}"));
    while let Some(path) = next.take() {
        let res = remote.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        next = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = res.json().await.unwrap();
        rows.extend(page);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_deliveries_survive_sigkill_and_all_arrive_after_the_restart() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let key = orgd_core::keys::generate_secret();
    let flags = ["--webhook-allow-private-targets"];
    let receiver = Receiver::start().await;
    // The first delivery is held unanswered, so at the kill it is leased and
    // the other 99 (of the same org) wait behind it.
    receiver.hang(true);

    let (mut child, base, _) = start_binary_with(&db, Some(&key), &flags).await;
    let remote = Remote::new(&base, &key);
    let res = remote
        .post("/orgs", json!({"id": "hot", "name": "hot"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = remote
        .post(
            "/orgs/hot/webhooks",
            json!({"url": receiver.url, "types": ["org.update"]}),
        )
        .await;
    let hook = json_body(res, StatusCode::CREATED).await;
    let hook = format!("/orgs/hot/webhooks/{}", hook["id"].as_str().unwrap());
    for n in 0..100 {
        let res = remote
            .patch("/orgs/hot", json!({"name": format!("hot {n}")}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let mut expected = Vec::new();
    let mut path = "/orgs/hot/events?types=org.update&limit=1000".to_owned();
    loop {
        let res = remote.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK);
        path = format!(
            "/orgs/hot/events?types=org.update&limit=1000&after={}",
            next_after(&res)
        );
        let page: Vec<Value> = res.json().await.unwrap();
        if page.is_empty() {
            break;
        }
        expected.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(expected.len(), 100);
    let remote_ref = &remote;
    let hook_ref = hook.as_str();
    let pending = until("100 pending deliveries", || async move {
        let rows = remote_deliveries(remote_ref, hook_ref, "pending").await;
        (rows.len() == 100).then_some(rows)
    })
    .await;
    let mut pending: Vec<String> = pending
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_owned())
        .collect();
    pending.reverse();
    assert_eq!(pending, expected);
    assert!(!receiver.received().is_empty(), "the first one was sent");

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let before_restart = receiver.received().len();
    receiver.hang(false);

    let (_child, base, _) = start_binary_with(&db, Some(&key), &flags).await;
    let remote = Remote::new(&base, &key);
    // A delivery leased at the kill waits for its 30 s lease to expire.
    let receiver_ref = &receiver;
    until_within(
        "all 100 events after the restart",
        Duration::from_secs(150),
        || async move {
            let ids: HashSet<String> = receiver_ref.ids()[before_restart..]
                .iter()
                .cloned()
                .collect();
            (ids.len() == 100).then_some(())
        },
    )
    .await;
    let after_restart: Vec<String> = receiver.ids()[before_restart..].to_vec();
    assert_eq!(after_restart, expected, "each once, in order");
    let remote_ref = &remote;
    until("100 successes logged", || async move {
        let rows = remote_deliveries(remote_ref, hook_ref, "succeeded").await;
        (rows.len() == 100).then_some(())
    })
    .await;
    assert!(
        remote_deliveries(&remote, &hook, "pending")
            .await
            .is_empty()
    );
}
