//! Webhooks (SPEC §11): endpoints that receive their org's events as signed
//! `POST`s. Each test runs a real receiver (an axum server on a loopback
//! port) that records every request; signatures are checked with the
//! reference implementation of Standard Webhooks (the `standardwebhooks`
//! crate). Retries come due by moving the service's clock, never by sleeping
//! through the schedule; every wait is for a state, with a generous deadline
//! only as a guard against hanging.
//!
//! By section: the receiver (`receiver.rs`), the helpers below, then the
//! tests: delivery, safety, access, replays, durability.

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

mod access;
mod delivery;
mod durability;
mod receiver;
mod replays;
mod safety;

use receiver::*;

// The helpers the sections share.

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
