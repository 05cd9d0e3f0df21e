//! `/me`: who am I.

use axum::Json;
use axum::extract::State;
use orgd_core::api_keys::service::Me;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The calling API key (no secret) and its organization.
#[utoipa::path(
    get, path = "/me", tag = "api keys",
    responses((status = 200, body = Me), (status = 401, body = ProblemBody))
)]
async fn me(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    Ok(Json(s.orgd.me(&caller.principal).await?))
}
