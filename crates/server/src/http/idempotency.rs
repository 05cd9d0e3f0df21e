//! `Idempotency-Key` on POST: the first response is kept for 24 h and
//! replayed to a retry with the same key and the same request (the same
//! method, URI and JSON value: `Fingerprint`).

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgd_core::idempotency::service::{Fingerprint, IdempotencyStart};
use orgd_core::store::StoredResponse;

use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::envelope::BODY_LIMIT;
use crate::web::layer::{Inner, run};
use crate::web::problem::{ApiError, Kind, Problem};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Whether `req` asks for idempotent replay: a POST with an `Idempotency-Key`.
pub fn applies(req: &Request) -> bool {
    req.method() == Method::POST && req.headers().contains_key(IDEMPOTENCY_KEY)
}

/// Serves a request that [`applies`]: the first response is kept for 24 h
/// and replayed to a retry with the same key and the same request.
pub async fn idempotent<S: Inner>(state: &AppState, req: Request, inner: S) -> Response {
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return run(inner, req).await;
    };
    let Some(idem_key) = parse_key(raw_key) else {
        return ApiError::Domain(orgd_core::Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        ))
        .into_response();
    };
    let Some(key_id) = req
        .extensions()
        .get::<Arc<Caller>>()
        .and_then(|c| c.principal.key_id.clone())
    else {
        return run(inner, req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return Problem::new(
            Kind::PayloadTooLarge,
            format!("the body may be at most {BODY_LIMIT} bytes"),
        )
        .into_response();
    };
    let fingerprint = Fingerprint::of(parts.method.as_str(), &parts.uri.to_string(), &bytes);
    match state
        .orgd
        .idempotency_begin(&key_id, &idem_key, &fingerprint)
        .await
    {
        Err(e) => return ApiError::Domain(e).into_response(),
        Ok(IdempotencyStart::Replay(stored)) => return replay(stored),
        Ok(IdempotencyStart::Proceed) => {}
    }
    let res = run(inner, Request::from_parts(parts, Body::from(bytes))).await;
    let (kept, res) = if res.status().is_server_error() {
        // Not kept: a retry may succeed.
        (None, res)
    } else {
        match keepable(res).await {
            Ok((stored, res)) => (Some(stored), res),
            Err(res) => return res,
        }
    };
    if let Err(e) = state
        .orgd
        .idempotency_finish(&key_id, &idem_key, kept.as_ref())
        .await
    {
        tracing::warn!(error = %e, "could not finish an idempotency key");
    }
    res
}

/// The key as sent, if it is 1 to 255 printable ASCII characters.
fn parse_key(raw: &HeaderValue) -> Option<String> {
    raw.to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

/// The response as it is kept for replay (without a secret it shows), and
/// the response itself, rebuilt from its buffered body.
#[allow(clippy::result_large_err)] // the error is the answer to send instead
async fn keepable(res: Response) -> Result<(StoredResponse, Response), Response> {
    let (parts, body) = res.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return Err(
            Problem::new(Kind::Internal, "the response could not be buffered").into_response(),
        );
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
    Ok((stored, Response::from_parts(parts, Body::from(body))))
}

/// Marks a response that shows a secret. orgd stores no secrets, so its
/// idempotent replay carries the same body without the `secret` field.
#[derive(Debug, Clone, Copy)]
pub struct SecretBearing;

/// The answer that shows a secret, the one time it is shown: never cached
/// (`no-store`), and marked [`SecretBearing`] so an idempotent replay leaves
/// the secret out.
pub fn shown_once<T: serde::Serialize>(
    status: StatusCode,
    location: Option<&str>,
    body: T,
) -> Response {
    let mut res = (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        res.headers_mut().insert(header::LOCATION, l);
    }
    res.extensions_mut().insert(SecretBearing);
    res
}

fn without_secret(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("secret");
            // A value's text form cannot fail.
            serde_json::Value::Object(m).to_string().into_bytes()
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
