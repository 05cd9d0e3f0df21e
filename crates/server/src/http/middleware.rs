//! The layers every request passes through.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use orgd_core::error::AuthFailure;
use orgd_core::service::{IdempotencyStart, Origin};
use orgd_core::store::StoredResponse;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::AppState;
use super::extract::{BODY_LIMIT, Caller};
use super::problem::{ApiError, Kind, Problem};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being served on this task, for problem bodies.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// A client's request id is kept when it is sane: 1–128 characters of
/// `[A-Za-z0-9._:-]`. Anything else is replaced, so logs stay clean.
fn sane_request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| v.to_owned())
}

/// The client's address: the socket peer, or, when the peer is a trusted
/// proxy, the nearest untrusted address in `X-Forwarded-For` (read from the
/// right, since each proxy appends what it saw).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// Outermost layer: gives the request an id, bounds its time, turns any bare
/// error status (from routing or a body limit) into a problem body, and sets
/// the headers every response carries.
pub async fn envelope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = sane_request_id(req.headers())
        .unwrap_or_else(|| ulid::Ulid::new().to_string().to_lowercase());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer.map(|p| client_ip(p, req.headers(), &state.trusted_proxies)) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let method = req.method().clone();
    let metrics = state.metrics.clone();
    let timeout = state.request_timeout;
    let started = std::time::Instant::now();
    let scoped_id = id.clone();
    let handler_id = id.clone();
    let tasks = state.tasks.clone();
    let work = async move {
        let _in_flight = metrics.started();
        let handler = CURRENT_REQUEST_ID
            .scope(handler_id, next.run(req))
            .in_current_span();
        // A request that may change something runs in a task of its own: a
        // client that hangs up, or the timeout below, stops waiting for it
        // but never cancels it. A request received whole is finished either
        // way, so a retry with its Idempotency-Key learns the outcome.
        // Shutdown waits for these tasks (see `Application::run`). A read
        // changes nothing (its access log entry is queued either way), so it
        // runs here, without a task to spawn and wake.
        let handler = if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
            tokio_util::either::Either::Left(async move {
                Ok::<_, tokio::task::JoinError>(handler.await)
            })
        } else {
            tokio_util::either::Either::Right(tasks.spawn(handler))
        };
        let mut res = match tokio::time::timeout(timeout, handler).await {
            Ok(Ok(res)) => problemize(res),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a request task failed");
                Problem::new(
                    Kind::Internal,
                    "an internal error occurred; it has been logged",
                )
                .into_response()
            }
            Err(_) => Problem::new(Kind::Timeout, "the request did not finish in time; retry")
                .into_response(),
        };
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert(REQUEST_ID, v);
        }
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "served"
        );
        metrics.observe(
            method.as_str(),
            &route,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        res
    };
    CURRENT_REQUEST_ID
        .scope(scoped_id, work.instrument(span))
        .await
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
            .is_some_and(|ct| ct.contains("json"));
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    // Two credentials are none: which one would be meant is a guess.
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return None;
    };
    let v = v.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves `Authorization: Bearer …` to a [`Caller`]; any failure is a 401,
/// logged with its reason (never the key).
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match bearer(req.headers()) {
        None => Err(orgd_core::Error::unauthenticated(AuthFailure::Missing)),
        Some(secret) => state.orgd.authenticate(secret).await,
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => {
            if let orgd_core::Error::Unauthenticated { reason, key_id } = &e {
                tracing::info!(
                    reason = reason.as_str(),
                    key_id = key_id.as_deref(),
                    "authentication refused"
                );
            }
            return ApiError::Domain(e).into_response();
        }
    };
    let origin = Origin {
        request_id: current_request_id(),
        ip: req.extensions().get::<ClientIp>().map(|c| c.0.to_string()),
    };
    let default = state
        .orgd
        .settings()
        .default_rate_limit_per_minute
        .filter(|_| state.rate_limit_exempt.as_ref() != Some(&principal.org_id));
    let per_minute = principal.rate_limit_per_minute.or(default);
    let decision = match (per_minute, principal.key_id.as_deref()) {
        (Some(n), Some(key_id)) => Some(state.rate_limiter.take(
            key_id,
            n,
            std::time::Instant::now(),
        )),
        _ => None,
    };
    let caller = Caller { principal, origin };
    let mut res = match decision {
        Some(d) if !d.allowed => {
            let mut res = Problem::new(
                Kind::RateLimited,
                format!(
                    "this key may make {} requests a minute; retry in {} s",
                    d.limit, d.retry_after_secs
                ),
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after_secs));
            res
        }
        _ => {
            req.extensions_mut().insert(caller.clone());
            next.run(req).await
        }
    };
    if let Some(d) = decision {
        let h = res.headers_mut();
        h.insert(RATELIMIT_LIMIT, HeaderValue::from(d.limit));
        h.insert(RATELIMIT_REMAINING, HeaderValue::from(d.remaining));
        h.insert(RATELIMIT_RESET, HeaderValue::from(d.reset_secs));
    }
    // For the access log, which sits outside this layer.
    res.extensions_mut().insert(caller);
    res
}

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `Idempotency-Key` on POST: the first response is kept for 24 h and
/// replayed to a retry with the same key and the same request.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let Some(idem_key) = raw_key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
    else {
        return ApiError::Domain(orgd_core::Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        ))
        .into_response();
    };
    let Some(key_id) = req
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.principal.key_id.clone())
    else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                Kind::PayloadTooLarge,
                format!("the body may be at most {BODY_LIMIT} bytes"),
            )
            .into_response();
        }
    };
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(parts.method.as_str());
        h.update(b"\n");
        h.update(parts.uri.to_string());
        h.update(b"\n");
        h.update(&bytes);
        hex::encode(h.finalize())
    };
    match state
        .orgd
        .idempotency_begin(&key_id, &idem_key, &fingerprint)
        .await
    {
        Err(e) => return ApiError::Domain(e).into_response(),
        Ok(IdempotencyStart::Replay(stored)) => return replay(stored),
        Ok(IdempotencyStart::Proceed) => {}
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if res.status().is_server_error() {
        if let Err(e) = state
            .orgd
            .idempotency_finish(&key_id, &idem_key, None)
            .await
        {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return Problem::new(Kind::Internal, "the response could not be buffered").into_response();
    };
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        content_type: header_text(header::CONTENT_TYPE),
        location: header_text(header::LOCATION),
        body: if parts.extensions.get::<SecretBearing>().is_some() {
            without_secret(&body)
        } else {
            body.to_vec()
        },
    };
    if let Err(e) = state
        .orgd
        .idempotency_finish(&key_id, &idem_key, Some(&stored))
        .await
    {
        tracing::warn!(error = %e, "could not store a response for idempotent replay");
    }
    Response::from_parts(parts, Body::from(body))
}

/// Marks a response that shows a secret. orgd stores no secrets, so its
/// idempotent replay carries the same body without the `secret` field.
#[derive(Debug, Clone, Copy)]
pub struct SecretBearing;

fn without_secret(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("secret");
            serde_json::to_vec(&m).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = (status, stored.body).into_response();
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, stored.content_type),
        (header::LOCATION, stored.location),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    }
    h.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    if status == StatusCode::CREATED {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_str(xff).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let outsider: IpAddr = "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let trusted = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| IpNet::from(proxy))];
        let h = headers("198.51.100.1, 10.0.0.7");
        assert_eq!(client_ip(outsider, &h, &trusted), outsider);
        assert_eq!(client_ip(proxy, &h, &trusted).to_string(), "198.51.100.1");
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        assert_eq!(client_ip(proxy, &headers("garbage"), &trusted), proxy);
    }
}
