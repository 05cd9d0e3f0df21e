//! The webhook deliverer: a loop that queues new events for their endpoints,
//! claims due deliveries (at most `--webhook-workers` in flight) and posts
//! each one, signed as Standard Webhooks says, writing back how it went.
//! The queue's rules (order, leases, retries, disabling) are in
//! `orgd_core::webhooks::deliveries`; what is here is the sending, and the
//! network rules a delivery must keep:
//!
//! - only the resolved addresses a webhook may reach are connected to
//!   (loopback, private, link-local, multicast are refused unless the server
//!   allows private targets), checked at every attempt, after resolving;
//! - redirects are not followed, an attempt ends after 10 s, and at most
//!   64 KiB of an answer is read;
//! - no proxy from the environment is used (it would connect on our behalf
//!   to an address we did not check);
//! - neither secrets nor URLs (which may carry a token) are logged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use orgd_core::service::Orgd;

use orgd_core::webhooks::deliveries::Claimed;
use orgd_core::webhooks::{
    ATTEMPT_TIMEOUT, Attempt, DeliveryStatus, MAX_RESPONSE_BYTES, forbidden_address, signature,
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the loop looks for work when nothing wakes it: retries come
/// due, and other nodes' events arrive, without a word to this node.
const POLL: Duration = Duration::from_secs(1);
/// The least time between two rounds woken by new events: under a stream of
/// commits, each of which wakes the loop, a round (two short write
/// transactions) runs at most this often, so the deliverer does not compete
/// with the writes it follows. A round woken by a finished attempt runs at
/// once: a free worker and the next delivery of its queue should not wait.
const ROUND_SPACING: Duration = Duration::from_millis(10);

pub struct Deliverer {
    orgd: Arc<Orgd>,
    client: reqwest::Client,
    metrics: Arc<crate::web::metrics::Metrics>,
    workers: usize,
    allow_private: bool,
}

impl Deliverer {
    pub fn new(
        orgd: Arc<Orgd>,
        metrics: Arc<crate::web::metrics::Metrics>,
        workers: usize,
        allow_private: bool,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .user_agent(concat!("orgd-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            orgd,
            client,
            metrics,
            workers,
            allow_private,
        })
    }

    /// Runs until `shutdown`, then waits (at most one attempt's time) for the
    /// attempts in flight, so that they are written back.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            if self.workers == 0 {
                return;
            }
            let me = Arc::new(self);
            let slots = Arc::new(Semaphore::new(me.workers));
            let done = Arc::new(Notify::new());
            let mut last_lag = tokio::time::Instant::now() - POLL;
            while !shutdown.is_cancelled() {
                let round = tokio::time::Instant::now();
                let news = me.orgd.feed().notified();
                tokio::pin!(news);
                news.as_mut().enable();
                me.queue().await;
                me.claim_and_send(&slots, &done).await;
                if last_lag.elapsed() >= POLL {
                    me.measure_lag().await;
                    last_lag = tokio::time::Instant::now();
                }
                let finished = tokio::select! {
                    _ = shutdown.cancelled() => false,
                    _ = news => false,
                    _ = done.notified() => true,
                    _ = tokio::time::sleep(POLL) => false,
                };
                if !finished {
                    tokio::time::sleep_until(round + ROUND_SPACING).await;
                }
            }
            let all = u32::try_from(me.workers).unwrap_or(u32::MAX);
            let _ = tokio::time::timeout(
                ATTEMPT_TIMEOUT + Duration::from_secs(2),
                slots.acquire_many(all),
            )
            .await;
        })
    }

    async fn queue(&self) {
        // Until every endpoint has caught up, a bounded batch at a time.
        loop {
            match self.orgd.queue_deliveries().await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "queuing webhook deliveries failed");
                    return;
                }
            }
        }
    }

    async fn claim_and_send(self: &Arc<Self>, slots: &Arc<Semaphore>, done: &Arc<Notify>) {
        let free = slots.available_permits();
        if free == 0 {
            return;
        }
        let claimed = match self.orgd.claim_deliveries(free).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                return;
            }
        };
        for c in claimed {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Cannot happen (as many were free as were claimed); the
                // lease expires and the delivery is tried again.
                break;
            };
            let me = self.clone();
            let done = done.clone();
            tokio::spawn(async move {
                me.deliver(c).await;
                drop(slot);
                // A finished delivery may free the next of its queue.
                done.notify_one();
            });
        }
    }

    async fn deliver(&self, c: Claimed) {
        let (attempt, result) = self.attempt(&c).await;
        self.metrics.webhooks.attempted(result);
        match self.orgd.finish_delivery(&c.delivery, &attempt).await {
            Ok(Some(DeliveryStatus::Succeeded)) => self.metrics.webhooks.finished("succeeded"),
            Ok(Some(DeliveryStatus::Failed)) => {
                self.metrics.webhooks.finished("failed");
                tracing::warn!(
                    webhook_id = %c.delivery.webhook_id,
                    delivery_id = %c.delivery.id,
                    attempts = c.delivery.attempts + 1,
                    "a webhook delivery failed for good after 3 days of retries"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                webhook_id = %c.delivery.webhook_id,
                delivery_id = %c.delivery.id,
                "recording a webhook delivery attempt failed; it is retried once its lease expires"
            ),
        }
    }

    /// One attempt: a POST of the event, signed afresh (a new timestamp on
    /// every attempt; the id is the event's, the same on every attempt).
    /// Returns how it went and its result as the metrics name it (`ok`,
    /// `http_error`, `timeout`, `refused`, `network_error`).
    async fn attempt(&self, c: &Claimed) -> (Attempt, &'static str) {
        let failed = |error: String, result| {
            let attempt = Attempt::Failed {
                status: None,
                error,
            };
            (attempt, result)
        };
        let url = match self.checked_url(&c.url) {
            Ok(url) => url,
            Err(refused) => return failed(refused.to_string(), "refused"),
        };
        let d = &c.delivery;
        let timestamp = self.orgd.now().timestamp();
        let secrets: Vec<&str> = c.secrets.iter().map(String::as_str).collect();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(&secrets, &d.event_id, timestamp, d.body.as_bytes()),
            )
            .body(d.body.clone())
            .send()
            .await;
        let mut res = match sent {
            Ok(res) => res,
            Err(e) => return failed(describe(&e), result_of(&e)),
        };
        let status = res.status();
        // Read (a bounded part of) the answer: a receiver that sent one
        // expects it taken, and a failure's text helps whoever debugs it.
        let mut body = Vec::new();
        while body.len() < MAX_RESPONSE_BYTES {
            match res.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if status.is_success() => {
                    let why = format!("reading the answer: {}", describe(&e));
                    return failed(why, result_of(&e));
                }
                Err(_) => break,
            }
        }
        if status.is_success() {
            let status = status.as_u16();
            return (Attempt::Delivered { status }, "ok");
        }
        body.truncate(MAX_RESPONSE_BYTES);
        let text = String::from_utf8_lossy(&body);
        let redirect = if status.is_redirection() {
            " (redirects are not followed)"
        } else {
            ""
        };
        let attempt = Attempt::Failed {
            status: Some(status.as_u16()),
            error: format!(
                "the receiver answered {}{redirect}: {}",
                status.as_u16(),
                text.trim()
            ),
        };
        (attempt, "http_error")
    }

    /// The URL, if its host may be reached. A host given as an address is
    /// checked here: the resolver sees only names.
    fn checked_url(&self, raw: &str) -> Result<url::Url, Refused> {
        let url =
            url::Url::parse(raw).map_err(|e| Refused(format!("the URL no longer parses: {e}")))?;
        let ip: Option<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(ip.into()),
            Some(url::Host::Ipv6(ip)) => Some(ip.into()),
            _ => None,
        };
        if let Some(ip) = ip
            && !self.allow_private
            && let Some(why) = forbidden_address(ip)
        {
            return Err(refused(ip, why));
        }
        Ok(url)
    }

    async fn measure_lag(&self) {
        match self.orgd.delivery_lag().await {
            Ok(lag) => self.metrics.webhooks.set_lag(
                lag.and_then(|l| l.to_std().ok())
                    .map_or(0.0, |l| l.as_secs_f64()),
            ),
            Err(e) => tracing::debug!(error = %e, "reading the webhook queue's lag failed"),
        }
    }
}

/// A target the network rules refuse, from the resolver or the URL check:
/// an error type of its own, so that the metrics tell it from other
/// failures without reading its text.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(ip: IpAddr, why: &str) -> Refused {
    Refused(format!(
        "the host is {ip}, which is not globally reachable ({why}): webhooks may not target it"
    ))
}

/// The metrics' name for a request that got no answer.
fn result_of(e: &reqwest::Error) -> &'static str {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            return "refused";
        }
        source = cause.source();
    }
    if e.is_timeout() {
        "timeout"
    } else {
        "network_error"
    }
}

/// A request error as the deliveries log shows it: without the URL (which
/// may carry a token), with its causes.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        format!("timed out after {} s", ATTEMPT_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Resolves a webhook's host and keeps only the addresses a delivery may
/// reach; when it finds one it may not, it refuses the host altogether (a
/// name that resolves to an internal address is no safer for also
/// resolving to a public one).
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if !allow_private
                && let Some((ip, why)) = found
                    .iter()
                    .find_map(|a| forbidden_address(a.ip()).map(|why| (a.ip(), why)))
            {
                return Err(refused(ip, why).into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}
