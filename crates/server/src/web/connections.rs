//! The connections: each one accepted is served HTTP/1.1 by hyper, closed
//! when its client is too slow to send a request's head or leaves it idle
//! too long, and shut down gracefully when the server stops.
//!
//! Written out rather than `axum::serve`, which takes no settings: without a
//! timer hyper times nothing out, so a client that opens connections and
//! trickles header lines (or sends nothing) holds each for ever. hyper's own
//! `header_read_timeout` is not used either: its clock starts when a
//! connection falls idle, so it would close a keep-alive connection idle
//! between requests after the same short time, and a reverse proxy or load
//! balancer that keeps its upstream connections longer (nginx and AWS's
//! load balancers keep them 60 s) would now and then send a request down a
//! connection orgd is closing. So two clocks: a head must arrive whole
//! within `head` of the connection opening or of its first byte, and an
//! idle connection is kept `keep_alive`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::Service;

/// How long a connection may take over what it owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// To send a request's head whole: from the connection's opening, or
    /// from the first byte of a later request.
    pub head: Duration,
    /// To start the next request once an answer is sent.
    pub keep_alive: Duration,
}

/// Serves `router` on every connection `listener` accepts until `stop`
/// completes; then accepts no more, lets each connection finish the request
/// it is answering (an idle one closes at once, one sending a head has
/// until its clock runs out), and returns when all are closed.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let http = hyper::server::conn::http1::Builder::new();
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            // axum's accept: it retries what a failed accept leaves (a
            // connection reset; at the open-file limit, a second later).
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut stop => break,
        };
        let answering = Arc::new(Answering::new());
        let io = TokioIo::new(Watched::new(stream, answering.clone(), limits));
        let service = Connection {
            router: router.clone(),
            peer,
            answering,
        };
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether a connection is answering a request, shared by its service (which
/// starts an answer), the answer's body (which ends it) and its socket
/// (which keeps the clocks).
struct Answering {
    /// Answers begun and not yet taken whole by hyper (one at a time on
    /// HTTP/1.1, but counted rather than assumed).
    count: AtomicUsize,
    /// Answers begun since the connection opened: a read that finds this
    /// moved on, and nothing under way, knows an answer began and ended
    /// since the read before (a quick one may, between two reads).
    begun: AtomicU64,
    /// When the last answer ended, in nanoseconds after `since`: the idle
    /// clock starts there.
    ended: AtomicU64,
    since: Instant,
}

impl Answering {
    fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
            begun: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            since: Instant::now(),
        }
    }

    fn ended(&self) -> Instant {
        self.since + Duration::from_nanos(self.ended.load(Ordering::Acquire))
    }
}

/// While one lives, the connection is answering a request: neither clock
/// runs (the request's own timeout bounds it).
struct Busy(Arc<Answering>);

impl Busy {
    fn new(answering: Arc<Answering>) -> Self {
        answering.count.fetch_add(1, Ordering::AcqRel);
        answering.begun.fetch_add(1, Ordering::AcqRel);
        Self(answering)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        let ended = u64::try_from(a.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        a.ended.store(ended, Ordering::Release);
        a.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The service of one connection: the router, told the peer's address, its
/// answers marked busy.
#[derive(Clone)]
struct Connection {
    router: Router,
    peer: SocketAddr,
    answering: Arc<Answering>,
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<Answer>;
    type Error = Infallible;
    type Future = Routed;

    fn call(&self, mut req: Request<Incoming>) -> Routed {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let busy = Busy::new(self.answering.clone());
        // No `ready` first: the router always is (`poll_ready` is `Ready(Ok)`).
        Routed {
            route: self.router.clone().call(req),
            busy: Some(busy),
        }
    }
}

struct Routed {
    route: <Router as Service<Request<Incoming>>>::Future,
    busy: Option<Busy>,
}

impl Future for Routed {
    type Output = Result<Response<Answer>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = ready!(Pin::new(&mut self.route).poll(cx));
        let busy = self.busy.take();
        Poll::Ready(res.map(|res| res.map(|body| Answer { body, _busy: busy })))
    }
}

/// A response's body, which keeps the connection busy until hyper has
/// taken all of it (a streamed export may take minutes) or dropped it.
struct Answer {
    body: Body,
    _busy: Option<Busy>,
}

impl hyper::body::Body for Answer {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Where a connection stands, as its reads see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A head is arriving (or, on a new connection, awaited).
    Head,
    /// Answering a request.
    Busy,
    /// Between requests, nothing of the next one read yet.
    Idle,
}

/// The connection's socket, whose reads keep the clocks. hyper reads
/// whenever it waits for a head, so a read that finds nothing looks at the
/// clock too, and one past its deadline fails: hyper then closes the
/// connection without an answer, as when a client goes away. It all runs in
/// the connection's own task: no timer task, no lock, no wake-up of its own
/// for each request.
///
/// While an answer is being sent, a read that finds nothing sets the clock
/// no later than `keep_alive` ahead, to fail nothing: hyper, once it has
/// read nothing, may not read again until the client sends something, so
/// without that call an answer that ends would leave no read to start the
/// idle clock. It starts at the next read, from when the answer ended.
struct Watched {
    stream: TcpStream,
    answering: Arc<Answering>,
    limits: ConnectionLimits,
    phase: Phase,
    /// `Answering::begun` as the last read saw it.
    seen: u64,
    deadline: Instant,
    clock: Pin<Box<Sleep>>,
}

impl Watched {
    fn new(stream: TcpStream, answering: Arc<Answering>, limits: ConnectionLimits) -> Self {
        let deadline = Instant::now() + limits.head;
        Self {
            stream,
            answering,
            limits,
            phase: Phase::Head,
            seen: 0,
            deadline,
            clock: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        let begun = me.answering.begun.load(Ordering::Acquire);
        if me.answering.count.load(Ordering::Acquire) > 0 {
            me.phase = Phase::Busy;
        } else if me.phase == Phase::Busy || begun != me.seen {
            me.phase = Phase::Idle;
            me.deadline = me.answering.ended() + me.limits.keep_alive;
        }
        me.seen = begun;
        let before = buf.filled().len();
        match Pin::new(&mut me.stream).poll_read(cx, buf) {
            Poll::Pending if me.phase == Phase::Busy => {
                // The clock set for a head or an idle spell may serve, if
                // near enough and still running; else it is set anew.
                let latest = Instant::now() + me.limits.keep_alive;
                if me.clock.deadline() > latest || me.clock.as_mut().poll(cx).is_ready() {
                    me.clock.as_mut().reset(latest);
                    let _ = me.clock.as_mut().poll(cx);
                }
                Poll::Pending
            }
            Poll::Pending => {
                if me.clock.deadline() != me.deadline {
                    let deadline = me.deadline;
                    me.clock.as_mut().reset(deadline);
                }
                ready!(me.clock.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    if me.phase == Phase::Idle {
                        "idle past the keep-alive timeout"
                    } else {
                        "the request's head did not arrive in time"
                    },
                )))
            }
            Poll::Ready(Ok(())) if me.phase == Phase::Idle && buf.filled().len() > before => {
                // The next request has begun: its head is on the clock.
                me.phase = Phase::Head;
                me.deadline = Instant::now() + me.limits.head;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
