//! The access log layer: every request naming an org in its path leaves an
//! entry in that org's log (failures included) and, when authenticated and
//! answered for an org the caller reaches, one `api_requests` count.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::response::Response;
use orgd_core::access::{AccessEntry, Outcome, Source};
use orgd_core::consumption::Month;
use orgd_core::ids::{OrgId, prefixed_ulid};

use super::AppState;
use super::client_ip::ClientIp;
use super::extract::Caller;
use super::layer::{Inner, run};
use super::request_id;
use crate::ingest::Traffic;

/// The org a request names, and the operation's name for the log.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    org_id: String,
    action: String,
}

/// Reads the org from the matched route: the segment where the route has
/// `{org_id}` (or the seed's `{orgId}`). The action is the route's segments
/// after it, without parameters, and the method: `PATCH
/// /orgs/{org_id}/configs` is `configs.patch`, `GET /orgs/{org_id}` is
/// `org.get`.
fn target(pattern: &str, path: &str, method: &str) -> Option<Target> {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let at = pattern
        .iter()
        .position(|s| *s == "{org_id}" || *s == "{orgId}")?;
    let raw = path.split('/').nth(at)?;
    let org_id = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    OrgId::parse(&org_id).ok()?;
    let mut parts: Vec<&str> = pattern[at + 1..]
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{') && !s.is_empty())
        .collect();
    if parts.is_empty() {
        parts.push("org");
    }
    let method = method.to_ascii_lowercase();
    parts.push(&method);
    Some(Target {
        org_id: org_id.into_owned(),
        action: parts.join("."),
    })
}

/// Runs the request on `inner` and records it.
pub async fn recorded<S: Inner>(state: AppState, req: Request, inner: S) -> Response {
    let Some(t) = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| target(m.as_str(), req.uri().path(), req.method().as_str()))
    else {
        return run(inner, req).await;
    };
    let started = Instant::now();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect::<String>());
    // The entry as it stands if no answer ever comes: a read runs in the
    // request's own future (see `envelope`), which a client hanging up or
    // the timeout drops; the guard still writes it then, as a failure
    // without a status.
    let mut pending = Unanswered {
        state: &state,
        entry: state.access_log.then(|| AccessEntry {
            id: prefixed_ulid("acc"),
            timestamp: state.orgd.now(),
            org_id: t.org_id.clone(),
            user: None,
            key_id: None,
            action: t.action,
            status: Outcome::Failure,
            http_status: None,
            method: Some(req.method().to_string()),
            path: Some(req.uri().path().chars().take(1024).collect()),
            ip: req.extensions().get::<ClientIp>().map(|c| c.text.clone()),
            user_agent,
            request_id: request_id::current(),
            latency_ms: None,
            source: Source::Api,
            details: None,
        }),
    };

    let res = run(inner, req).await;

    let caller = res.extensions().get::<Caller>();
    let status = res.status();
    let now = state.orgd.now();
    let entry = pending.entry.take().map(|mut e| {
        e.timestamp = now;
        e.user = caller.and_then(|c| c.principal.user.clone());
        e.key_id = caller.and_then(|c| c.principal.key_id.clone());
        if !(status.is_client_error() || status.is_server_error()) {
            e.status = Outcome::Success;
        }
        e.http_status = Some(status.as_u16());
        e.latency_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        e
    });
    // Counted when the caller reached the org: not for a bad key (401), nor
    // for an org it may not see (404).
    let counted =
        caller.is_some() && status != StatusCode::UNAUTHORIZED && status != StatusCode::NOT_FOUND;
    let count = counted.then(|| (t.org_id, Month::of(now)));
    if entry.is_some() || count.is_some() {
        state.traffic.record(Traffic { entry, count }).await;
    }
    res
}

/// An access log entry whose request has not been answered yet.
struct Unanswered<'a> {
    state: &'a AppState,
    entry: Option<AccessEntry>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.state.traffic.record_detached(Traffic {
                entry: Some(entry),
                count: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pattern: &str, path: &str, method: &str) -> Option<(String, String)> {
        target(pattern, path, method).map(|t| (t.org_id, t.action))
    }

    #[test]
    fn actions_are_named_after_the_route() {
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(
            t("/orgs/{org_id}", "/orgs/acme", "GET"),
            pair("acme", "org.get")
        );
        assert_eq!(
            t("/orgs/{org_id}/configs", "/orgs/acme/configs", "PATCH"),
            pair("acme", "configs.patch")
        );
        assert_eq!(
            t(
                "/passportsvc/api/v1/organizations/{orgId}/configs",
                "/passportsvc/api/v1/organizations/org-123/configs",
                "PUT"
            ),
            pair("org-123", "configs.put")
        );
        assert_eq!(
            t(
                "/orgs/{org_id}/api_keys/{key_id}",
                "/orgs/a%2Eb/api_keys/k",
                "DELETE"
            ),
            pair("a.b", "api_keys.delete")
        );
        assert_eq!(t("/orgs", "/orgs", "GET"), None);
        assert_eq!(t("/orgs/{org_id}", "/orgs/%FF", "GET"), None);
    }
}
