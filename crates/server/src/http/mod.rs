//! The HTTP API. Routes and the OpenAPI document come from one declaration
//! (`utoipa_axum::routes!`), so no route exists without its description.

pub(crate) mod access;
mod access_log;
mod api_keys;
mod audit;
mod auth;
mod checkpoints;
pub mod client_ip;
mod configs;
pub(crate) mod connections;
mod consumption;
mod customizations;
mod envelope;
mod events;
pub mod extract;
mod guard;
mod health;
mod idempotency;
mod layer;
mod me;
pub mod metrics;
mod openapi;
mod orgs;
pub mod problem;
mod query;
pub mod rate_limit;
pub mod request_id;
mod resources;
mod tags;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use orgd_core::page::Page;
use orgd_core::service::{IfMatch, Orgd};
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use openapi::openapi_json;

/// What every handler shares. Axum clones the state for each extractor of
/// each request: one reference count, not a dozen.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub orgd: Arc<Orgd>,
    pub request_timeout: Duration,
    pub traffic: crate::ingest::TrafficWriter,
    /// Whether requests are recorded in the access log.
    pub access_log: bool,
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Every request's handler task; shutdown waits for all of them.
    pub tasks: tokio_util::task::TaskTracker,
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
    /// The org (the root, unless `--rate-limit-root`) whose keys the
    /// server-wide default rate limit spares, so that a default set too low
    /// cannot lock the operator out.
    pub rate_limit_exempt: Option<orgd_core::ids::OrgId>,
    pub metrics: Arc<metrics::Metrics>,
    /// Failed console sign-ins per client address.
    pub sign_in_throttle: Arc<crate::console::SignInThrottle>,
}

/// Routes that need an API key.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(orgs::routes())
        .merge(api_keys::routes())
        .merge(audit::routes())
        .merge(checkpoints::routes())
        .merge(configs::routes())
        .merge(access_log::routes())
        .merge(events::routes())
        .merge(consumption::routes())
        .merge(customizations::routes())
        .merge(tags::routes())
        .merge(resources::routes())
        .merge(me::routes())
        .merge(webhooks::routes())
}

/// Routes anyone may call, with no key.
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::routes())
        .merge(checkpoints::public_routes())
}

pub fn router(state: AppState) -> anyhow::Result<Router> {
    // The document of the routes below, built once: it says which query
    // parameters each operation takes, and is served as /openapi.json and
    // /docs, unchanged while the server runs.
    let api = openapi::document();
    let guard = guard::Guard {
        state: state.clone(),
        declared: Arc::new(query::Declared::from_document(&api)),
    };
    let protected = api_routes().route_layer(layer::WrapLayer(guard));
    let router = Router::from(
        OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
            .merge(protected)
            .merge(public_routes()),
    )
    // The console's pages: not the API, so not in its document.
    .merge(crate::console::routes(state.clone()));
    let docs_page = openapi::docs::render(&serde_json::to_value(&api)?);
    let docs_page = axum::response::Html(axum::body::Bytes::from(docs_page));
    let api_json = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Bytes::from(api.to_pretty_json()?),
    );
    Ok(router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = api_json.clone();
                async move { doc }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        s.metrics.render(&metrics::Readings {
                            pools: s.orgd.pool_stats(),
                            traffic_queue: s.traffic.queued(),
                        }),
                    )
                },
            ),
        )
        .route(
            "/docs",
            axum::routing::get(move || {
                let page = docs_page.clone();
                async move { page }
            }),
        )
        .fallback(|| async { problem::Problem::new(problem::Kind::NotFound, "no such route") })
        .layer(layer::WrapLayer(envelope::Envelope(state.clone())))
        .with_state(state))
}

/// A JSON array, with `Link: <…>; rel="next"` when there is a next page.
pub fn page_response<T: Serialize>(uri: &Uri, page: Page<T>) -> Response {
    let mut res = Json(page.items).into_response();
    if let Some(next) = page.next {
        set_next_link(&mut res, uri, "cursor", &next);
    }
    res
}

/// `Link: <…>; rel="next"`: the request's own parameters as it sent them,
/// but `param` set to `value`.
pub fn set_next_link(res: &mut Response, uri: &Uri, param: &str, value: &str) {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(param))
        .collect();
    let query = form_urlencoded::Serializer::new(kept.join("&"))
        .append_pair(param, value)
        .finish();
    if let Ok(v) = HeaderValue::from_str(&format!("<{}?{query}>; rel=\"next\"", uri.path())) {
        res.headers_mut().insert(header::LINK, v);
    }
}

/// The paging parameters every list takes.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Rows per page, 1–1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `cursor` from the previous page's `Link: rel="next"`, as given:
    /// opaque, and valid only for the list that issued it (any other value
    /// is a 400).
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// A strong ETag for a versioned resource.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Reads `If-Match`: `*`, or one ETag this server issued (`"N"`, or weak `W/"N"`).
pub fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let v = headers.get(header::IF_MATCH)?;
    let s = v.to_str().unwrap_or("").trim();
    Some(if s == "*" {
        IfMatch::Any
    } else {
        parse_etag(s).map_or(IfMatch::Never, IfMatch::Version)
    })
}

fn parse_etag(s: &str) -> Option<i64> {
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// True when `If-None-Match` names the current version (or is `*`).
pub fn none_match(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| {
            s.split(',')
                .any(|t| t.trim() == "*" || parse_etag(t.trim()) == Some(version))
        })
}

/// A versioned resource with its ETag, or 304 when the client has it already.
pub fn versioned<T: Serialize>(headers: &HeaderMap, version: i64, body: &T) -> Response {
    if none_match(headers, version) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag(version))]).into_response();
    }
    ([(header::ETAG, etag(version))], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_parse_strong_and_weak() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("3"), None);
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(if_match(&h), Some(IfMatch::Never));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"1\", \"2\""),
        );
        assert!(none_match(&h, 2));
        assert!(!none_match(&h, 3));
    }
}
