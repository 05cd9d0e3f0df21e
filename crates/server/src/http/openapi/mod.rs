//! The OpenAPI document: built from the route declarations
//! (`utoipa_axum::routes!`), completed with what every operation shares
//! (`contract.rs`), served as `/openapi.json` and rendered as `/docs`
//! (`docs.rs`).

pub(super) mod contract;
pub(super) mod docs;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use super::{api_routes, public_routes};
use crate::state::AppState;
use crate::web::problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgd",
        description = "Self-hosted organization management: the organization tree, API keys and an audit trail that cannot be quietly rewritten.",
        license(name = "Apache-2.0")
    ),
    components(schemas(problem::ProblemBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub(super) struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, built from the same declarations as the router.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(api_routes())
        .merge(public_routes())
        .split_for_parts();
    let mut api = api;
    contract::complete_operations(&mut api);
    api
}

pub fn openapi_json() -> anyhow::Result<String> {
    Ok(document().to_pretty_json()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `openapi.json` is what the code declares. When this
    /// fails, regenerate it: `cargo run -- openapi > openapi.json`.
    #[test]
    fn the_committed_openapi_document_matches_the_code() {
        let committed = include_str!("../../../../../openapi.json");
        let generated = openapi_json().unwrap();
        assert!(
            committed.trim_end() == generated.trim_end(),
            "openapi.json has drifted from the route declarations; \
             regenerate it with `cargo run -- openapi > openapi.json`"
        );
    }
}
