//! The outermost layer, around every route: gives the request an id and its
//! client address, bounds its time, runs a request that may change
//! something in a task of its own, turns any bare error status into a
//! problem body, sets the headers every response carries, and measures it.
//! The access log sits just inside (see [`super::access`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use tower::{Layer, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use super::client_ip::{ClientIp, client_ip};
use super::layer::{Inner, Wrap};
use super::problem::{Kind, Problem};
use super::request_id::{self, REQUEST_ID};
use crate::state::AppState;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Envelope(pub AppState);

impl Wrap for Envelope {
    fn wrap<S: Inner>(
        self,
        req: Request,
        inner: S,
    ) -> impl Future<Output = Response> + Send + 'static {
        serve(self.0, req, inner)
    }
}

/// The envelope of every request. Kept in one piece, at some 70 lines with
/// its comments, because it is the hot path: each step split out would be a
/// future of its own for the compiler to nest (see the note on boxing below).
async fn serve<S: Inner>(state: AppState, mut req: Request, inner: S) -> Response {
    // Inside the envelope, around the route: a panic becomes a 500 problem
    // (which the access log then records), a body declared too long is
    // refused at once, and bodies are read up to BODY_LIMIT. Applied here to the route this request takes rather than
    // as router layers, which box a copy of every route per request and
    // layer.
    let inner = CatchPanicLayer::custom(panic_response)
        .layer(DeclaredLength(
            DefaultBodyLimit::max(BODY_LIMIT).layer(inner),
        ))
        .map_response(IntoResponse::into_response);
    let id: Arc<str> = request_id::assign(req.headers_mut()).into();
    // The request carries the id as a header now: the response gets a copy.
    let id_header = req.headers().get(REQUEST_ID).cloned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer.map(|p| client_ip(p, req.headers(), &state.trusted_proxies)) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let work = {
        let id = id.clone();
        async move {
            let _in_flight = state.metrics.started();
            let timeout = state.request_timeout;
            // Boxed once here, so that the wrappers below hold a pointer:
            // each would otherwise keep its own copy of this future's state
            // (rust-lang/rust#62958), which made the envelope's future 23 KB
            // and memcpy 12 % of a request's CPU.
            let handler: Pin<Box<dyn Future<Output = Response> + Send>> = Box::pin(
                request_id::scope(
                    id.clone(),
                    super::access_log::recorded(state.clone(), req, inner),
                )
                .in_current_span(),
            );
            // A request that may change something runs in a task of its own: a
            // client that hangs up, or the timeout below, stops waiting for it
            // but never cancels it. A request received whole is finished either
            // way, so a retry with its Idempotency-Key learns the outcome.
            // Shutdown waits for these tasks (see `Application::run`). A read
            // changes nothing (its access log entry is queued either way), so it
            // runs here, without a task to spawn and wake.
            let handler = if method == Method::GET || method == Method::HEAD {
                tokio_util::either::Either::Left(async move {
                    Ok::<_, tokio::task::JoinError>(handler.await)
                })
            } else {
                tokio_util::either::Either::Right(state.tasks.spawn(handler))
            };
            let res = answer(tokio::time::timeout(timeout, handler).await, id_header);
            tracing::info!(
                status = res.status().as_u16(),
                latency_ms = started.elapsed().as_millis() as u64,
                "served"
            );
            state.metrics.observe(
                method.as_str(),
                route.as_ref().map_or("unmatched", MatchedPath::as_str),
                res.status(),
                started.elapsed().as_secs_f64(),
            );
            res
        }
    };
    request_id::scope(id, work.instrument(span)).await
}

/// Refuses at once, 413, a request whose `Content-Length` is over
/// BODY_LIMIT, rather than wait for bytes it would refuse anyway: a client
/// that declares 2 GB and sends nothing would otherwise hold the request
/// until its timeout. (A chunked body is still counted as it is read.)
#[derive(Clone)]
struct DeclaredLength<S>(S);

impl<S> tower::Service<Request> for DeclaredLength<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<std::future::Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            let mut res = Problem::new(
                Kind::PayloadTooLarge,
                format!("the body may be at most {BODY_LIMIT} bytes"),
            )
            .into_response();
            // The body stays unread, so the connection cannot carry another
            // request: say so rather than let the client find out.
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Either::Left(std::future::ready(Ok(res)))
        } else {
            Either::Right(self.0.call(req))
        }
    }
}

/// The answer to a request that ran (or panicked, or ran out of time), with
/// the headers every answer carries.
fn answer(
    outcome: Result<Result<Response, tokio::task::JoinError>, tokio::time::error::Elapsed>,
    id_header: Option<HeaderValue>,
) -> Response {
    let mut res = match outcome {
        Ok(Ok(res)) => problemize(res),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a request task failed");
            Problem::new(
                Kind::Internal,
                "an internal error occurred; it has been logged",
            )
            .into_response()
        }
        Err(_) => {
            Problem::new(Kind::Timeout, "the request did not finish in time; retry").into_response()
        }
    };
    let h = res.headers_mut();
    if let Some(v) = id_header {
        h.insert(REQUEST_ID, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Error responses that carry no body of ours (axum's 404/405, a body-limit
/// 413) get a problem body; their headers (such as `Allow`) are kept.
fn problemize(res: Response) -> Response {
    let status = res.status();
    let has_body_type = res.headers().contains_key(header::CONTENT_TYPE)
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json") || ct.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || has_body_type {
        return res;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => (Kind::NotFound, "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = res
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .map(|a| format!("; it allows {a}"))
                .unwrap_or_default();
            (
                Kind::MethodNotAllowed,
                format!("this route does not accept this method{allow}"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            Kind::PayloadTooLarge,
            format!("the body may be at most {BODY_LIMIT} bytes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Kind::UnsupportedMediaType,
            "the request body must be JSON".to_owned(),
        ),
        s if s.is_server_error() => (
            Kind::Internal,
            "an internal error occurred; it has been logged".to_owned(),
        ),
        _ => (
            Kind::BadRequest,
            "the request could not be processed".to_owned(),
        ),
    };
    let (mut parts, _) = res.into_parts();
    let problem = Problem::new(kind, detail).into_response();
    let (pparts, body) = problem.into_parts();
    parts.status = pparts.status;
    for (k, v) in &pparts.headers {
        parts.headers.insert(k, v.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// The body of a caught panic: a 500 problem, never the panic message.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    Problem::new(
        Kind::Internal,
        "an internal error occurred; it has been logged",
    )
    .into_response()
}
