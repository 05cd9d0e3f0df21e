//! `/orgs/{org_id}/customizations`: the free-form object, and its effective
//! form merged down the tree.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use orgd_core::customizations::service::EffectiveCustomizations;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::AppJson;
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::etag::{etag, if_match, versioned};
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_customizations, put_customizations))
        .routes(routes!(effective))
}

/// The organization's customizations object itself.
#[utoipa::path(
    get, path = "/orgs/{org_id}/customizations", tag = "customizations",
    params(("org_id" = String, Path, description = "The organization's id", example = "org-123")),
    responses(
        (status = 200, body = Object, headers(("ETag" = String)),
         example = json!({"theme": "dark", "logo_url": "https://example.com/logo.png"})),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn get_customizations(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let v = s
        .orgd
        .get_customizations(&caller.principal, &org_id)
        .await?;
    Ok(versioned(&headers, v.version, &v.value))
}

/// Replace the customizations. The body is the new object; the seed's form,
/// `{"customizations": {…}}`, is accepted too. At most 64 KiB and 32 levels.
#[utoipa::path(
    put, path = "/orgs/{org_id}/customizations", tag = "customizations",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body(content = Object, example = json!({"theme": "dark", "logo_url": "https://example.com/logo.png"})),
    responses(
        (status = 200, description = "The stored object", body = Object, headers(("ETag" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 412, body = ProblemBody), (status = 413, body = ProblemBody),
    )
)]
async fn put_customizations(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let v = s
        .orgd
        .replace_customizations(
            &caller.principal,
            &caller.origin,
            &org_id,
            body,
            if_match(&headers),
        )
        .await?;
    Ok(([(header::ETAG, etag(v.version))], Json(v.value)).into_response())
}

/// The customizations merged from the root down to this organization (the
/// nearest value wins), and which org each top-level key comes from.
#[utoipa::path(
    get, path = "/orgs/{org_id}/customizations/effective", tag = "customizations", operation_id = "effective_customizations",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, body = EffectiveCustomizations),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn effective(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> ApiResult<Json<EffectiveCustomizations>> {
    Ok(Json(
        s.orgd
            .effective_customizations(&caller.principal, &org_id)
            .await?,
    ))
}
