//! The console (SPEC §13): orgd administered from a browser, at `/console`.
//!
//! Server-rendered HTML (maud, checked at compile time), one stylesheet and
//! one small script served from the binary, nothing fetched from elsewhere.
//! A page acts through the same domain service as the API, as the key its
//! session signed in with, so it reaches and may do exactly what that key
//! may; every page naming an org is in that org's access log (as
//! `console.*`), and every change is in its audit trail like an API call's.
//!
//! - `PAGES` below: every page behind a session, one row each; the router
//!   and an org's tabs are both made from it (`page.rs`).
//! - `session.rs`: the session cookie, the layer that resolves it into a
//!   page's `Ctx` (`ctx.rs`), the cross-site checks (Origin, the per-session
//!   token); `sign_in_throttle.rs`: failed sign-in limits.
//! - `form.rs`: a posted form, its token checked.
//! - `layout.rs`: the page shell, the org's header and tabs, errors.
//! - one file per page family: `sign_in.rs`, `tree.rs`, `org.rs`
//!   (overview, rename, move, delete, new child), `configs.rs`,
//!   `customizations.rs`, `tags.rs`, `limits.rs`, `api_keys.rs`, `trails.rs`
//!   (audit, access log), `consumption.rs`, `webhooks.rs`.
//!
//! The console's routes are not in the OpenAPI document: they are pages, not
//! the API. It imports nothing of the API (`http/`): what both need is in
//! `web/`.

mod api_keys;
mod assets;
mod configs;
mod consumption;
mod ctx;
mod customizations;
mod form;
mod layout;
mod limits;
mod org;
mod page;
mod session;
mod sign_in;
mod sign_in_throttle;
mod tags;
mod trails;
mod tree;
mod webhooks;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::state::AppState;
use page::Page;

/// Every page behind a session, in the order of an org's tabs. A page
/// without one (`Page::action`) is a form's target or a detail page.
const PAGES: &[Page] = &[
    Page::top("/console/tree", || get(tree::page)),
    Page::top("/console/sign-out", || post(sign_in::sign_out)),
    Page::tab("", "Overview", || get(org::page)),
    Page::action("/rename", || post(org::rename)),
    Page::action("/move", || post(org::move_org)),
    Page::action("/delete", || post(org::delete)),
    Page::action("/children", || post(org::create_child)),
    Page::tab("/configs", "Configs", || {
        get(configs::page).post(configs::save)
    }),
    Page::tab("/customizations", "Customizations", || {
        get(customizations::page).post(customizations::save)
    }),
    Page::tab("/tags", "Tags", || get(tags::page).post(tags::add)),
    Page::action("/tags/{tag_id}/delete", || post(tags::remove)),
    Page::tab("/limits", "Limits", || get(limits::page)),
    Page::tab("/keys", "API keys", || {
        get(api_keys::page).post(api_keys::create)
    }),
    Page::action("/keys/{key_id}/revoke", || post(api_keys::revoke)),
    Page::tab("/audit", "Audit", || get(trails::audit)),
    Page::tab("/access-log", "Access log", || get(trails::access_log)),
    Page::tab("/consumption", "Consumption", || get(consumption::page)),
    Page::tab("/webhooks", "Webhooks", || {
        get(webhooks::page).post(webhooks::create)
    }),
    Page::action("/webhooks/{webhook_id}", || get(webhooks::deliveries)),
    Page::action(
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        || post(webhooks::retry),
    ),
];

/// Every console route. Pages need a session (the layer sends a browser
/// without one to the sign-in page); the sign-in page and the assets do not.
/// The sign-in route alone holds the failed sign-in throttle.
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = PAGES
        .iter()
        .fold(Router::new(), |router, page| {
            router.route(&page.pattern(), (page.route)())
        })
        .route_layer(from_fn_with_state(
            session::Sessions {
                state,
                pages: PAGES,
            },
            session::require,
        ));
    let throttle = Arc::new(sign_in_throttle::SignInThrottle::default());
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/tree") }))
        .route(
            "/console/sign-in",
            get(sign_in::page)
                .post(sign_in::sign_in)
                .layer(Extension(throttle)),
        )
        .route("/console/assets/{name}", get(assets::serve))
        .merge(pages)
}
