//! The console's session: a random id in a cookie, resolved on every request
//! to the key it signed in with (see `orgd_core::sessions::service`), and the
//! checks that keep another site from acting with it.
//!
//! Cross-site requests are refused three ways (SPEC §13): the cookie is
//! `SameSite=Strict` (a browser does not send it from another site); a form
//! post must come from this origin (`Origin`, or `Sec-Fetch-Site:
//! same-origin` when a browser sends no `Origin`); and every form carries the
//! session's token (`form.rs` checks it).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use orgd_core::service::Origin;
use orgd_core::sessions::service::{SessionState, csrf_token};

use super::ctx::Ctx;
use super::layout;
use super::page::Page;
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::client_ip::ClientIp;
use crate::web::rate_limit;
use crate::web::request_id;

/// The cookie's name.
pub const COOKIE: &str = "orgd_console";

/// A page's [`Ctx`], as [`require`] left it; a page outside the layer is
/// a bug, answered 500.
impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| {
            tracing::error!("a console page is missing the session layer");
            layout::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "")
        })
    }
}

/// The session id a request's cookie carries, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// Whether the browser reached us over TLS: orgd itself speaks plain HTTP,
/// so only a trusted proxy saying so (`X-Forwarded-Proto: https`) counts.
pub fn over_tls(state: &AppState, headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
    let trusted = peer.is_some_and(|p| state.trusted_proxies.iter().any(|n| n.contains(&p)));
    trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` that starts a session, or (with `None`) ends it.
pub fn set_cookie(session_id: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = match session_id {
        Some(id) => format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    // The id is URL-safe base64: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether a state-changing request comes from this console's own origin.
pub fn same_origin(state: &AppState, headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => {
            let scheme = if over_tls(state, headers, peer) {
                "https"
            } else {
                "http"
            };
            origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
        }
        Some(Err(_)) => false,
        // Every current browser sends Origin on a form post; one that sends
        // only the Fetch Metadata is believed when it says same-origin.
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"same-origin"),
    }
}

fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// What the session layer holds: the app's state, and the console's pages
/// for each page's [`Ctx`].
#[derive(Clone)]
pub struct Sessions {
    pub state: AppState,
    pub pages: &'static [Page],
}

/// The layer in front of every page: no session, to the sign-in page (a
/// post without one is refused: it cannot be this console's own form); a
/// post from another origin, refused; then the key's rate limit, as for an
/// API call. The caller rides on the response for the access log.
pub async fn require(
    State(Sessions { state, pages }): State<Sessions>,
    mut req: Request,
    next: Next,
) -> Response {
    let writes = req.method() != Method::GET && req.method() != Method::HEAD;
    let peer = peer(&req);
    if writes && !same_origin(&state, req.headers(), peer) {
        tracing::info!("a console form post from another origin was refused");
        return layout::error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "This form was not sent from the console's own pages, so it was not acted on.",
        );
    }
    let secure = over_tls(&state, req.headers(), peer);
    let resolved = match session_id(req.headers()) {
        None => None,
        Some(id) => match state.orgd.session(id).await {
            Ok(SessionState::Active(principal)) => Some((principal, csrf_token(id))),
            Ok(SessionState::Over) => None,
            Err(e) => return layout::domain_error(&e),
        },
    };
    let Some((principal, csrf)) = resolved else {
        if writes {
            return layout::error_page(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "You are not signed in (or your session has ended), so this was not acted on.",
            );
        }
        let mut res = Redirect::to("/console/sign-in").into_response();
        res.headers_mut()
            .insert(header::SET_COOKIE, set_cookie(None, secure));
        return res;
    };
    let decision = state.rate_limits.decide(&state.orgd, &principal);
    if let Some(d) = decision
        && !d.allowed
    {
        let mut res = layout::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            &format!(
                "This key may make {} requests a minute; try again in {} s.",
                d.limit, d.retry_after_secs
            ),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after_secs));
        return res;
    }
    let caller = Arc::new(Caller {
        principal,
        origin: Origin {
            request_id: request_id::current(),
            ip: req.extensions().get::<ClientIp>().map(|c| c.0.to_string()),
        },
    });
    req.extensions_mut().insert(Ctx {
        caller: caller.clone(),
        csrf: csrf.into(),
        pages,
    });
    let mut res = next.run(req).await;
    if let Some(d) = decision {
        rate_limit::stamp(res.headers_mut(), d);
    }
    res.extensions_mut().insert(caller);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; orgd_console=abc; b=2"),
        );
        assert_eq!(session_id(&h), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("orgd_console="));
        assert_eq!(session_id(&h), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xorgd_console=abc"),
        );
        assert_eq!(session_id(&h), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let c = set_cookie(Some("abc"), false);
        assert_eq!(
            c.to_str().unwrap(),
            "orgd_console=abc; Path=/console; HttpOnly; SameSite=Strict"
        );
        assert!(
            set_cookie(Some("abc"), true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(
            set_cookie(None, false)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }
}
