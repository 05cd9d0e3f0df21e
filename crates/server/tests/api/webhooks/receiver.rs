//! The receiver: a real HTTP server on a loopback port that records every
//! request and answers as the test tells it.

use super::*;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived, by the real clock.
    pub at: DateTime<Utc>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// `webhook-id`: the event's id.
    pub fn id(&self) -> &str {
        self.header("webhook-id")
    }

    pub fn timestamp(&self) -> i64 {
        self.header("webhook-timestamp").parse().unwrap()
    }

    /// The space-separated entries of `webhook-signature`.
    pub fn signatures(&self) -> Vec<&str> {
        self.header("webhook-signature").split(' ').collect()
    }

    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the request with the reference implementation.
    pub fn verify(&self, secret: &str) -> Result<(), standardwebhooks::WebhookError> {
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
    pub fn verify_ahead(&self, secret: &str, ahead: chrono::TimeDelta) -> Result<(), String> {
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
    pub fn with_signature(&self, signature: &str) -> Self {
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
pub struct ReceiverState {
    pub received: Mutex<Vec<Received>>,
    /// Each request's start and end, in the order they happened:
    /// `(event org, webhook-id, start?)`.
    pub timeline: Mutex<Vec<(String, String, bool)>>,
    /// Requests still to be answered 500.
    pub failures: AtomicUsize,
    /// Answer every other request `307 Temporary Redirect` to this URL
    /// (rather than 200).
    pub redirect: Mutex<Option<String>>,
    /// How long to take over each answer.
    pub delay_ms: AtomicU64,
    /// Never answer (the sender's timeout ends the request).
    pub hang: AtomicBool,
}

/// A webhook receiver on `127.0.0.1`: records every request (headers and
/// body) and answers as it is told (200 unless told otherwise).
pub struct Receiver {
    pub url: String,
    pub state: Arc<ReceiverState>,
    pub server: tokio::task::JoinHandle<()>,
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
    pub async fn start() -> Self {
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
    pub fn fail_next(&self, n: usize) {
        self.state.failures.store(n, Ordering::SeqCst);
    }

    /// Takes `d` over each answer.
    pub fn delay(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap();
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Answers every request with a redirect to `to`.
    pub fn redirect(&self, to: &str) {
        *self.state.redirect.lock().unwrap() = Some(to.to_owned());
    }

    /// Whether requests are held unanswered.
    pub fn hang(&self, on: bool) {
        self.state.hang.store(on, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn ids(&self) -> Vec<String> {
        self.received().iter().map(|r| r.id().to_owned()).collect()
    }

    /// Waits until what was received satisfies `done`; returns it.
    pub async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let state = &self.state;
        let done = &done;
        until(what, || async move {
            let got = state.received.lock().unwrap().clone();
            done(&got).then_some(got)
        })
        .await
    }

    /// Waits for the requests delivering event `id`; returns the first.
    pub async fn until_event(&self, id: &str) -> Received {
        let got = self
            .until(&format!("a delivery of {id}"), |got| {
                got.iter().any(|r| r.id() == id)
            })
            .await;
        got.into_iter().find(|r| r.id() == id).unwrap()
    }

    /// Requests of event `id` so far.
    pub fn of_event(&self, id: &str) -> Vec<Received> {
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
