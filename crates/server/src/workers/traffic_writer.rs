//! The one batching writer for the API's own traffic: access log entries and
//! `api_requests` counters. Requests hand their record to a bounded queue and
//! go on; the writer gathers what arrives over [`GATHER`] (or until a batch
//! is full, or someone asks for a flush) and writes it in one multi-row
//! transaction. A full queue makes requests wait (nothing is dropped);
//! shutdown drains the queue before the store closes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use orgd_core::access_log::{AccessEntryRef, Outcome, Source};
use orgd_core::authz::Principal;
use orgd_core::consumption::{API_REQUESTS, Month};
use orgd_core::ids::lowercase_ulid_at;
use orgd_core::service::Orgd;
use orgd_core::store::CounterDelta;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::web::metrics::Metrics;

/// Records queued at most; beyond that, requests wait for the writer.
const QUEUE: usize = 65_536;
/// Records written per transaction at most.
const BATCH: usize = 4096;
/// How long the writer gathers records before it writes them. A traffic
/// transaction costs a commit (an fsync on SQLite) and the counter roll-ups
/// of every org it touches, whatever its size: writing as soon as anything
/// is queued made a busy server commit hundreds of times a second, and perf
/// put a fifth of a GET's CPU there. Gathering for 50 ms bounds that at 20
/// commits a second; an entry becomes visible at most this much later.
const GATHER: Duration = Duration::from_millis(50);
/// Upper bound on the pause between a failed write and its retry.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// An org id, held inline: every id fits ([`orgd_core::ids::OrgId::MAX_LEN`]).
pub type OrgIdBuf = arrayvec::ArrayString<{ orgd_core::ids::OrgId::MAX_LEN }>;
/// The most of a request's path an entry keeps, in bytes.
pub const PATH_BYTES: usize = 256;
/// A request's path, held inline, cut at [`PATH_BYTES`] on a character
/// boundary.
pub type PathText = arrayvec::ArrayString<PATH_BYTES>;

/// `path`'s longest prefix that fits a [`PathText`].
pub fn path_text(path: &str) -> PathText {
    let mut end = path.len().min(PATH_BYTES);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    PathText::from(&path[..end]).unwrap_or_default()
}

/// Writes the action as the log names it at the end of `out`: the
/// operation and the method, `configs.patch`.
pub(crate) fn push_action(out: &mut String, operation: &str, method: &Method) {
    out.push_str(operation);
    out.push('.');
    out.extend(method.as_str().chars().map(|c| c.to_ascii_lowercase()));
}

/// A request's id as its entry keeps it: inline when it fits, as the ids
/// orgd makes (26 characters) do; shared when a client sent a longer one.
/// The shared id is allocated per request, and freeing it on the writer's
/// thread left the requests' allocator a cache miss each.
#[derive(Debug)]
pub enum RequestIdText {
    Inline(arrayvec::ArrayString<32>),
    Shared(Arc<str>),
}

impl RequestIdText {
    pub fn new(id: Arc<str>) -> Self {
        match arrayvec::ArrayString::from(&id) {
            Ok(inline) => Self::Inline(inline),
            Err(_) => Self::Shared(id),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Inline(s) => s,
            Self::Shared(s) => s,
        }
    }
}

/// A request's user agent, shared: a thread keeps the last one it saw, and
/// the next request with the same one takes it without an allocation (a
/// client sends the same agent with every request).
pub fn user_agent(agent: &str) -> Arc<str> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some(a) if **a == *agent => a.clone(),
        _ => {
            let a: Arc<str> = agent.into();
            *last = Some(a.clone());
            a
        }
    })
}

/// What one request leaves behind, made on the request's thread and
/// dropped on the writer's. It allocates nothing of its own: perf put the
/// access log's cost (some 15 % of a GET's throughput) in the allocator,
/// freeing across threads the one `String` each record carried for its
/// path. The path and org id are held inline, and the user agent shared.
#[derive(Debug)]
pub struct Traffic {
    /// The org the request named.
    pub org_id: OrgIdBuf,
    /// Its access log entry; `None` when the access log is off.
    pub visit: Option<Visit>,
    /// The month whose `api_requests` of the org this request counts toward.
    pub count: Option<Month>,
}

/// An access log entry as a request leaves it: what the request holds
/// anyway, shared or copied cheaply (only the path and the user agent are
/// copied). The writer lends it to the store as the entry ([`Visit::entry`]),
/// with the few pieces no request holds written into one buffer per batch.
/// Strings made on a request's thread and freed on the writer's slowed every
/// allocation of the requests (perf put the access log's cost at twice the
/// writer's own work when a request made ten of them).
#[derive(Debug)]
pub struct Visit {
    /// When it was answered (or, unanswered, when it arrived).
    pub timestamp: DateTime<Utc>,
    /// Who made it, once authenticated: shared with the key cache, so the
    /// entry borrows the user and key id instead of copying them, and the
    /// writer, dropping it, frees nothing a request allocated (see
    /// `CachedKey` in the core's key cache).
    pub principal: Option<Arc<Principal>>,
    /// The route's operation; with the method, the action.
    pub operation: Arc<str>,
    pub method: Method,
    pub path: PathText,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<Arc<str>>,
    pub request_id: Option<RequestIdText>,
    /// `None`: never answered (the client left, or the request timed out).
    pub http_status: Option<StatusCode>,
    pub latency_ms: Option<i64>,
}

impl Visit {
    /// Writes what the entry needs beyond what the visit holds (its id,
    /// action and client address) at the end of `text`; returns where.
    fn write_text(&self, text: &mut String) -> Made {
        let start = text.len();
        let mut buf = [0; ulid::ULID_LEN];
        text.push_str("acc_");
        text.push_str(lowercase_ulid_at(self.timestamp, &mut buf));
        let id = start..text.len();
        let start = text.len();
        push_action(text, &self.operation, &self.method);
        let action = start..text.len();
        let ip = self.ip.map(|ip| {
            let start = text.len();
            // Writing to a `String` cannot fail.
            let _ = write!(text, "{ip}");
            start..text.len()
        });
        Made { id, action, ip }
    }

    /// The entry to store for `org_id`, its text borrowed from the visit and
    /// from `text`, where [`Visit::write_text`] put it.
    fn entry<'a>(&'a self, org_id: &'a str, text: &'a str, made: &Made) -> AccessEntryRef<'a> {
        let failed = self
            .http_status
            .is_none_or(|s| s.is_client_error() || s.is_server_error());
        let caller = self.principal.as_deref();
        AccessEntryRef {
            id: &text[made.id.clone()],
            timestamp: self.timestamp,
            org_id,
            user: caller.and_then(|p| p.user.as_deref()),
            key_id: caller.and_then(|p| p.key_id.as_deref()),
            action: &text[made.action.clone()],
            status: if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            http_status: self.http_status.map(|s| s.as_u16()),
            method: Some(self.method.as_str()),
            path: Some(&self.path),
            ip: made.ip.clone().map(|r| &text[r]),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_ref().map(RequestIdText::as_str),
            latency_ms: self.latency_ms,
            source: Source::Api,
            details: None,
        }
    }
}

/// Where in a batch's text one entry's own pieces are.
struct Made {
    id: Range<usize>,
    action: Range<usize>,
    ip: Option<Range<usize>>,
}

/// The access log entries of a batch, borrowing from it and from `text`,
/// which holds the pieces no visit holds: one buffer for the batch instead
/// of a few strings an entry.
fn entries<'a>(batch: &[&'a Traffic], text: &'a mut String) -> Vec<AccessEntryRef<'a>> {
    text.clear();
    let made: Vec<Made> = batch
        .iter()
        .filter_map(|t| t.visit.as_ref())
        .map(|v| v.write_text(text))
        .collect();
    let text: &'a String = text;
    batch
        .iter()
        .filter_map(|t| t.visit.as_ref().map(|v| (t.org_id.as_str(), v)))
        .zip(&made)
        .map(|((org_id, v), m)| v.entry(org_id, text, m))
        .collect()
}

// Nearly every item is a record; boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Item {
    Record(Traffic),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct TrafficWriter {
    tx: mpsc::Sender<Item>,
    /// Cuts the writer's gathering short: a flush has someone waiting.
    flush_asked: Arc<Notify>,
}

impl TrafficWriter {
    /// Queues a record, waiting while the queue is full.
    pub async fn record(&self, t: Traffic) {
        if self.tx.send(Item::Record(t)).await.is_err() {
            tracing::warn!("traffic record arrived after shutdown; not stored");
        }
    }

    /// Queues a record from where nothing can wait (a `Drop`): at once when
    /// there is room, else from a task of its own.
    pub fn record_detached(&self, t: Traffic) {
        match self.tx.try_send(Item::Record(t)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(item).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("traffic record arrived after shutdown; not stored");
            }
        }
    }

    /// Records queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        QUEUE.saturating_sub(self.tx.capacity())
    }

    /// Waits until every record queued before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Item::Flush(done)).await.is_ok() {
            self.flush_asked.notify_one();
            let _ = wait.await;
        }
    }
}

/// Starts the writer. It stops once `stop` is cancelled and every queued
/// record is written.
pub fn spawn(
    orgd: Arc<Orgd>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) -> (TrafficWriter, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Item>(QUEUE);
    let flush_asked = Arc::new(Notify::new());
    let writer = TrafficWriter {
        tx,
        flush_asked: flush_asked.clone(),
    };
    let handle = tokio::spawn(async move {
        // Kept from batch to batch.
        let mut buf = Vec::with_capacity(BATCH);
        // The text of a batch's entries that no request holds.
        let mut text = String::new();
        let mut closing = false;
        loop {
            let n = tokio::select! {
                n = rx.recv_many(&mut buf, BATCH) => n,
                _ = stop.cancelled(), if !closing => {
                    // No new records; drain what is queued.
                    rx.close();
                    closing = true;
                    continue;
                }
            };
            if n == 0 {
                break;
            }
            if !closing {
                gather(&mut rx, &mut buf, &flush_asked).await;
            }
            // Written where the channel put them: a record is some 400
            // bytes, and perf counted each copy of it.
            let records: Vec<&Traffic> = buf
                .iter()
                .filter_map(|item| match item {
                    Item::Record(t) => Some(t),
                    Item::Flush(_) => None,
                })
                .collect();
            let started = std::time::Instant::now();
            write(&orgd, &records, &mut text, closing).await;
            if !records.is_empty() {
                metrics.traffic_flushed(started.elapsed().as_secs_f64());
            }
            drop(records);
            for item in buf.drain(..) {
                if let Item::Flush(done) = item {
                    let _ = done.send(());
                }
            }
        }
    });
    (writer, handle)
}

/// Waits [`GATHER`] for more records, or less when someone asks for a flush
/// (they are waiting), then adds to `buf` what has queued meanwhile, up to a
/// full batch. Records queued while the writer sleeps wake nobody.
async fn gather(rx: &mut mpsc::Receiver<Item>, buf: &mut Vec<Item>, flush_asked: &Notify) {
    let full = buf.len() >= BATCH;
    if !full && !buf.iter().any(|i| matches!(i, Item::Flush(_))) {
        tokio::select! {
            _ = tokio::time::sleep(GATHER) => {}
            _ = flush_asked.notified() => {}
        }
    }
    while buf.len() < BATCH {
        match rx.try_recv() {
            Ok(item) => buf.push(item),
            Err(_) => break,
        }
    }
}

/// Writes a batch; `text` is a buffer to use.
async fn write(orgd: &Orgd, batch: &[&Traffic], text: &mut String, closing: bool) {
    if batch.is_empty() {
        return;
    }
    let entries = entries(batch, text);
    let mut counts: HashMap<(&str, Month), i64> = HashMap::new();
    for t in batch.iter() {
        if let Some(month) = t.count {
            *counts.entry((t.org_id.as_str(), month)).or_default() += 1;
        }
    }
    let counters: Vec<CounterDelta> = counts
        .into_iter()
        .map(|((org, month), amount)| CounterDelta {
            org_id: org.to_owned(),
            month,
            metric: API_REQUESTS.to_owned(),
            amount,
        })
        .collect();
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        match orgd.write_traffic(&entries, &counters).await {
            Ok(()) => return,
            Err(e) => {
                attempts += 1;
                // While serving, keep the batch (and, through the full queue,
                // the requests) waiting for the database. At shutdown, give up
                // after a few tries rather than hang the exit.
                if closing && attempts >= 5 {
                    tracing::error!(error = %e, records = batch.len(), "traffic batch lost at shutdown");
                    return;
                }
                tracing::warn!(error = %e, attempts, "writing a traffic batch failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
