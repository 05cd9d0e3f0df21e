//! The HTTP API: a handler file per resource, the guard in front of them,
//! their extractors, and the OpenAPI document. Routes and the document come
//! from one declaration (`utoipa_axum::routes!`), so no route exists without
//! its description. What the API shares with the console (the envelope,
//! problems, the access log…) is in `web/`; the app (`app.rs`) puts the two
//! side by side.

mod access_log;
mod api_keys;
mod audit;
mod auth;
mod checkpoints;
mod configs;
mod consumption;
mod customizations;
mod events;
mod extract;
mod guard;
mod health;
mod idempotency;
mod me;
mod openapi;
mod orgs;
mod paging;
mod query;
mod registries;
mod tags;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::Html;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use crate::web::layer::WrapLayer;

pub use openapi::openapi_json;

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
        .merge(registries::routes())
        .merge(me::routes())
        .merge(webhooks::routes())
}

/// Routes anyone may call, with no key.
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::routes())
        .merge(checkpoints::public_routes())
}

/// The API's routes (those needing a key behind the guard), its document as
/// `/openapi.json` and the `/docs` page.
pub fn routes(state: &AppState) -> anyhow::Result<Router<AppState>> {
    // The document of the routes below, built once: it says which query
    // parameters each operation takes, and is served as /openapi.json and
    // /docs, unchanged while the server runs.
    let api = openapi::document();
    let guard = guard::Guard {
        state: state.clone(),
        declared: Arc::new(query::Declared::from_document(&api)),
    };
    let protected = api_routes().route_layer(WrapLayer(guard));
    let router = Router::from(
        OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
            .merge(protected)
            .merge(public_routes()),
    );
    let docs_page = Html(Bytes::from(openapi::docs::render(&serde_json::to_value(
        &api,
    )?)));
    let api_json = (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(api.to_pretty_json()?),
    );
    Ok(router
        .route(
            "/openapi.json",
            get(move || {
                let doc = api_json.clone();
                async move { doc }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let page = docs_page.clone();
                async move { page }
            }),
        ))
}
