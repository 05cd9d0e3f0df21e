//! Signing in with an API key, and out. The key goes from the form to
//! `Orgd::sign_in` and nowhere else: not into the session (which holds its
//! digest), not into a log, not back into the page.

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use orgd_core::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use super::form::Form;
use super::layout;
use super::session;
use super::sign_in_throttle::SignInThrottle;
use crate::state::AppState;
use crate::web::client_ip::ClientIp;

fn sign_in_form(error: Option<&str>) -> Markup {
    layout::document(
        "Sign in",
        None,
        html! {
            section.sign-in {
                h1 { "Sign in to orgd" }
                p.muted { "Use an API key. The console sees and does exactly what the key may, in its organization and below." }
                form #sign-in method="post" action="/console/sign-in" {
                    label for="key" { "API key" }
                    @if error.is_some() {
                        input #key name="key" type="password" autocomplete="off" required autofocus
                            aria-invalid="true" aria-describedby="key-error";
                    } @else {
                        input #key name="key" type="password" autocomplete="off" required autofocus;
                    }
                    (layout::field_error("key", error))
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// The sign-in page; a browser already signed in goes to the tree.
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session::session_id(&headers)
        && let Ok(orgd_core::sessions::service::SessionState::Active(_)) =
            state.orgd.session(id).await
    {
        return Redirect::to("/console/tree").into_response();
    }
    layout::ok(sign_in_form(None))
}

/// The body the sign-in form posts. Read here rather than with [`Form`]:
/// before signing in there is no session, so no token; the origin check
/// stands in for it (no other site can sign a browser in to its own key).
#[derive(serde::Deserialize)]
pub struct SignInBody {
    #[serde(default)]
    key: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(throttle): Extension<Arc<SignInThrottle>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    client: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    axum::Form(body): axum::Form<SignInBody>,
) -> Response {
    let peer = peer.map(|p| p.0.0.ip());
    if !session::same_origin(&state, &headers, peer) {
        return layout::error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "This sign-in was not sent from the console's own page.",
        );
    }
    let Some(ip) = client.map(|c| c.0.0).or(peer) else {
        return layout::error_page(StatusCode::BAD_REQUEST, "No client address", "");
    };
    // The key is tried even from a blocked address: behind a proxy every
    // user shares one, and a guesser must not keep the right key out. What
    // the block refuses is failures (below); a generated key's 32 random
    // bytes, not this limit, are what make guessing hopeless.
    match state.orgd.sign_in(&body.key).await {
        Ok(signed_in) => {
            tracing::info!(
                key_id = signed_in.principal.key_id.as_deref(),
                org_id = %signed_in.principal.org_id,
                ip = %ip,
                "console sign-in"
            );
            let secure = session::over_tls(&state, &headers, peer);
            let mut res = Redirect::to("/console/tree").into_response();
            res.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(Some(&signed_in.session_id), secure),
            );
            layout::secure_headers(&mut res);
            res
        }
        Err(Error::Unauthenticated { reason, key_id }) => {
            let blocked = throttle.check(ip);
            throttle.failed(ip);
            tracing::info!(
                reason = reason.as_str(),
                key_id = key_id.as_deref(),
                ip = %ip,
                "console sign-in refused"
            );
            if let Err(wait) = blocked {
                let mut res = layout::respond(
                    StatusCode::TOO_MANY_REQUESTS,
                    sign_in_form(Some(&format!(
                        "Too many failed sign-ins from your address; try again in {wait} s."
                    ))),
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait));
                return res;
            }
            layout::respond(
                StatusCode::UNAUTHORIZED,
                sign_in_form(Some(
                    "That key was not accepted: it is unknown, revoked or expired.",
                )),
            )
        }
        Err(e) => layout::domain_error(&e),
    }
}

/// Ends the session; its cookie goes too.
pub async fn sign_out(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    _checked: Form,
) -> Response {
    if let Some(id) = session::session_id(&headers)
        && let Err(e) = state.orgd.sign_out(id).await
    {
        return layout::domain_error(&e);
    }
    let secure = session::over_tls(&state, &headers, peer.map(|p| p.0.0.ip()));
    let mut res = Redirect::to("/console/sign-in").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(None, secure));
    res
}
