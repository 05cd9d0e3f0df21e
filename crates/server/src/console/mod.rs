//! The console (SPEC §13): orgd administered from a browser, at `/console`.
//!
//! Server-rendered HTML (maud, checked at compile time), one stylesheet and
//! one small script served from the binary, nothing fetched from elsewhere.
//! A page acts through the same domain service as the API, as the key its
//! session signed in with, so it reaches and may do exactly what that key
//! may; every page naming an org is in that org's access log (as
//! `console.*`), and every change is in its audit trail like an API call's.
//!
//! - `session.rs`: the session cookie, the layer that resolves it, the
//!   cross-site checks (Origin, the per-session token), failed sign-in limits.
//! - `form.rs`: a posted form, its token checked.
//! - `layout.rs`: the page shell, the org's header and tabs, errors.
//! - one file per page family: `sign_in.rs`, `tree.rs`, `org.rs`
//!   (overview, rename, move, delete, new child), `settings.rs` (configs,
//!   customizations), `tags.rs`, `limits.rs`, `keys.rs`, `trails.rs` (audit,
//!   access log), `consumption.rs`, `webhooks.rs`.
//!
//! The console's routes are not in the OpenAPI document: they are pages, not
//! the API.

mod assets;
mod consumption;
mod form;
mod keys;
mod layout;
mod limits;
mod org;
mod session;
mod settings;
mod sign_in;
mod tags;
mod trails;
mod tree;
mod webhooks;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::http::AppState;

pub use session::SignInThrottle;

/// Every console route. Pages need a session (the layer sends a browser
/// without one to the sign-in page); the sign-in page and the assets do not.
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/console/tree", get(tree::page))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/orgs/{org_id}", get(org::page))
        .route("/console/orgs/{org_id}/rename", post(org::rename))
        .route("/console/orgs/{org_id}/move", post(org::move_org))
        .route("/console/orgs/{org_id}/delete", post(org::delete))
        .route("/console/orgs/{org_id}/children", post(org::create_child))
        .route(
            "/console/orgs/{org_id}/configs",
            get(settings::configs_page).post(settings::save_configs),
        )
        .route(
            "/console/orgs/{org_id}/customizations",
            get(settings::customizations_page).post(settings::save_customizations),
        )
        .route(
            "/console/orgs/{org_id}/tags",
            get(tags::page).post(tags::add),
        )
        .route(
            "/console/orgs/{org_id}/tags/{tag_id}/delete",
            post(tags::remove),
        )
        .route("/console/orgs/{org_id}/limits", get(limits::page))
        .route(
            "/console/orgs/{org_id}/keys",
            get(keys::page).post(keys::create),
        )
        .route(
            "/console/orgs/{org_id}/keys/{key_id}/revoke",
            post(keys::revoke),
        )
        .route("/console/orgs/{org_id}/audit", get(trails::audit))
        .route("/console/orgs/{org_id}/access-log", get(trails::access_log))
        .route("/console/orgs/{org_id}/consumption", get(consumption::page))
        .route(
            "/console/orgs/{org_id}/webhooks",
            get(webhooks::page).post(webhooks::create),
        )
        .route(
            "/console/orgs/{org_id}/webhooks/{webhook_id}",
            get(webhooks::deliveries),
        )
        .route(
            "/console/orgs/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route_layer(from_fn_with_state(state, session::require));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/tree") }))
        .route(
            "/console/sign-in",
            get(sign_in::page).post(sign_in::sign_in),
        )
        .route("/console/assets/{name}", get(assets::serve))
        .merge(pages)
}
