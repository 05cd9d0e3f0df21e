//! The access log layer: every request naming an org in its path leaves an
//! entry in that org's log (failures included) and, when authenticated and
//! answered for an org the caller reaches, one `api_requests` count.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::response::Response;
use orgd_core::consumption::Month;
use orgd_core::ids::OrgId;

use super::caller::Caller;
use super::client_ip::ClientIp;
use super::layer::{Inner, run};
use super::request_id;
use crate::state::AppState;
use crate::workers::traffic_writer::{self as traffic, OrgIdBuf, Traffic, Visit, path_text};

/// The org a request names, and the operation (the action but for the
/// method) for the log.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    org_id: OrgIdBuf,
    operation: Arc<str>,
}

/// What a route pattern says for the log: which path segment names the org,
/// and the operation's name but for the method.
#[derive(Debug, Clone)]
struct RouteTarget {
    segment: usize,
    operation: Arc<str>,
}

/// [`RouteTarget`]s as worked out, by pattern: the routes are fixed, so each
/// is worked out once rather than on every request (which perf put at 1 % of
/// a GET's CPU).
static ROUTE_TARGETS: LazyLock<RwLock<HashMap<String, Option<RouteTarget>>>> =
    LazyLock::new(RwLock::default);

/// The segment where the route has `{org_id}` (or the seed's `{orgId}`), and
/// the route's segments after it, without parameters: with the method, the
/// action. `PATCH /orgs/{org_id}/configs` is `configs.patch`, `GET
/// /orgs/{org_id}` is `org.get`.
fn route_target(pattern: &str) -> Option<RouteTarget> {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let segment = pattern
        .iter()
        .position(|s| *s == "{org_id}" || *s == "{orgId}")?;
    let parts: Vec<&str> = pattern[segment + 1..]
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{') && !s.is_empty())
        .collect();
    let operation = if parts.is_empty() {
        "org".to_owned()
    } else {
        parts.join(".")
    };
    // A console page is logged as what it is, beside the API's operations.
    let console = pattern.get(1) == Some(&"console");
    Some(RouteTarget {
        segment,
        operation: if console {
            format!("console.{operation}").into()
        } else {
            operation.into()
        },
    })
}

/// The org a request to `path` names, and the operation.
fn target(pattern: &str, path: &str) -> Option<Target> {
    let known = ROUTE_TARGETS.read().ok().and_then(|m| {
        m.get(pattern)
            .map(|route| route.as_ref().and_then(|r| r.target(path)))
    });
    if let Some(target) = known {
        return target;
    }
    let route = route_target(pattern);
    let target = route.as_ref().and_then(|r| r.target(path));
    if let Ok(mut m) = ROUTE_TARGETS.write() {
        m.insert(pattern.to_owned(), route);
    }
    target
}

impl RouteTarget {
    /// What a request to `path` on this route names.
    fn target(&self, path: &str) -> Option<Target> {
        let raw = path.split('/').nth(self.segment)?;
        let org_id = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?;
        Some(Target {
            org_id: OrgIdBuf::from(OrgId::parse(&org_id).ok()?.as_str()).ok()?,
            operation: self.operation.clone(),
        })
    }
}

/// Runs the request on `inner` and records it.
pub async fn recorded<S: Inner>(state: AppState, req: Request, inner: S) -> Response {
    let Some(t) = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| target(m.as_str(), req.uri().path()))
    else {
        return run(inner, req).await;
    };
    let started = Instant::now();
    // The entry as it stands if no answer ever comes: a read runs in the
    // request's own future (see `envelope`), which a client hanging up or
    // the timeout drops; the guard still writes it then, as a failure
    // without a status. Only what the request does not hold anyway is
    // copied here; the writer makes the stored entry (see `traffic_writer::Visit`).
    let mut pending = Unanswered {
        state: &state,
        org_id: Some(t.org_id),
        visit: state.access_log.then(|| Visit {
            timestamp: state.orgd.now(),
            principal: None,
            operation: t.operation,
            method: req.method().clone(),
            path: path_text(req.uri().path()),
            ip: req.extensions().get::<ClientIp>().map(|c| c.0),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| traffic::user_agent(truncated(s, 512))),
            request_id: request_id::shared().map(traffic::RequestIdText::new),
            http_status: None,
            latency_ms: None,
        }),
    };

    let res = run(inner, req).await;

    let status = res.status();
    // The caller, if it reached the org: only then may the org's log name
    // it, and only then does the request count as the org's. A key that
    // does not reach the org is logged there as an unknown caller, like a
    // bad key (SPEC §5): a sibling probing it must leave no name in its
    // log. Every operation decides reach before anything that succeeds, so
    // a success was for an org in reach; a failure may have come before
    // reach was decided (a body or a rate limit refused) or from it (404),
    // so reach is asked then.
    let caller = match res.extensions().get::<Arc<Caller>>() {
        Some(c) if status.is_success() => Some(c),
        Some(c) if state.orgd.reaches(&c.principal, &t.org_id).await => Some(c),
        _ => None,
    };
    let now = state.orgd.now();
    let visit = pending.visit.take().map(|mut v| {
        v.timestamp = now;
        v.principal = caller.map(|c| c.principal.clone());
        v.http_status = Some(status);
        v.latency_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        v
    });
    // Counted when the caller reached the org: not for a bad key (401), nor
    // for a key of another org, whatever it was answered.
    let counted = caller.is_some() && status != StatusCode::UNAUTHORIZED;
    let count = counted.then(|| Month::of(now));
    if let Some(org_id) = pending.org_id.take()
        && (visit.is_some() || count.is_some())
    {
        state
            .traffic
            .record(Traffic {
                org_id,
                visit,
                count,
            })
            .await;
    }
    res
}

/// The longest prefix of `s` of at most `chars` characters.
fn truncated(s: &str, chars: usize) -> &str {
    s.char_indices().nth(chars).map_or(s, |(end, _)| &s[..end])
}

/// An access log entry whose request has not been answered yet.
struct Unanswered<'a> {
    state: &'a AppState,
    org_id: Option<OrgIdBuf>,
    visit: Option<Visit>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let (Some(org_id), Some(visit)) = (self.org_id.take(), self.visit.take()) {
            self.state.traffic.record_detached(Traffic {
                org_id,
                visit: Some(visit),
                count: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    fn action(operation: &str, method: &Method) -> String {
        let mut action = String::new();
        traffic::push_action(&mut action, operation, method);
        action
    }

    fn t(pattern: &str, path: &str, method: &str) -> Option<(String, String)> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        // Twice: worked out, then from what was kept.
        let first =
            target(pattern, path).map(|t| (t.org_id.to_string(), action(&t.operation, &method)));
        let again =
            target(pattern, path).map(|t| (t.org_id.to_string(), action(&t.operation, &method)));
        assert_eq!(first, again);
        first
    }

    #[test]
    fn paths_are_cut_on_a_character_boundary() {
        let long = format!("/orgs/x{}", "é".repeat(200));
        let cut = path_text(&long);
        assert_eq!(cut.len(), 255, "the last 'é' would pass 256 bytes");
        assert!(long.starts_with(cut.as_str()));
        assert_eq!(path_text("/orgs/a").as_str(), "/orgs/a");
    }

    #[test]
    fn a_thread_shares_a_repeated_user_agent() {
        let a = traffic::user_agent("curl/8.0");
        let b = traffic::user_agent("curl/8.0");
        assert!(Arc::ptr_eq(&a, &b));
        let c = traffic::user_agent("wget");
        assert_eq!(&*c, "wget");
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncated("héllo", 2), "hé");
        assert_eq!(truncated("héllo", 5), "héllo");
        assert_eq!(truncated("héllo", 50), "héllo");
        assert_eq!(truncated("", 3), "");
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
                "/console/orgs/{org_id}/configs",
                "/console/orgs/acme/configs",
                "POST"
            ),
            pair("acme", "console.configs.post")
        );
        assert_eq!(
            t("/console/orgs/{org_id}", "/console/orgs/acme", "GET"),
            pair("acme", "console.org.get")
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
