//! Organization configs (limits), served at the seed's paths
//! (`/passportsvc/api/v1/organizations/…`) and at `/orgs/{org_id}/configs`
//! by the same handlers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgd_core::configs::service::{ConfigsChange, EffectiveConfig};
use orgd_core::configs::{ConfigSpec, Configs, REGISTRY};
use orgd_core::service::Versioned;
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
        .routes(routes!(registry))
        .routes(routes!(get_seed, put_seed, patch_seed, delete_seed))
        .routes(routes!(
            get_configs,
            put_configs,
            patch_configs,
            delete_configs
        ))
        .routes(routes!(effective))
}

const SEED: &str = "/passportsvc/api/v1/organizations/{orgId}/configs";

/// Every known configuration key, for help screens.
#[utoipa::path(
    get, path = "/passportsvc/api/v1/organizations/configs", tag = "configs",
    responses((status = 200, body = Vec<ConfigSpec>), (status = 401, body = ProblemBody))
)]
async fn registry(_caller: Caller) -> Json<&'static [ConfigSpec]> {
    Json(REGISTRY.as_slice())
}

async fn read(
    s: AppState,
    caller: Caller,
    org_id: String,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let v = s.orgd.get_configs(&caller.principal, &org_id).await?;
    Ok(versioned(&headers, v.version, &v.value))
}

async fn change(
    s: AppState,
    caller: Caller,
    org_id: String,
    headers: HeaderMap,
    change: ConfigsChange,
) -> ApiResult<Response> {
    let clear = change == ConfigsChange::Clear;
    let v: Versioned<Configs> = s
        .orgd
        .change_configs(
            &caller.principal,
            &caller.origin,
            &org_id,
            change,
            if_match(&headers),
        )
        .await?;
    if clear {
        return Ok((StatusCode::NO_CONTENT, [(header::ETAG, etag(v.version))]).into_response());
    }
    Ok(([(header::ETAG, etag(v.version))], Json(v.value)).into_response())
}

macro_rules! config_handlers {
    ($path:expr, $param:literal, $get:ident, $put:ident, $patch:ident, $delete:ident) => {
        /// The configs set on this organization (not inherited ones).
        #[utoipa::path(
            get, path = $path, tag = "configs",
            params(($param = String, Path, description = "The organization's id", example = "org-123")),
            responses(
                (status = 200, description = "Key → value", body = BTreeMap<String, i64>,
                 headers(("ETag" = String)),
                 example = json!({"applications.limit": 5, "workspaces.limit": 3, "usergroups.limit": 30})),
                (status = 304, description = "Not modified (If-None-Match)"),
                (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
            )
        )]
        async fn $get(
            State(s): State<AppState>,
            caller: Caller,
            Path(org_id): Path<String>,
            headers: HeaderMap,
        ) -> ApiResult<Response> {
            read(s, caller, org_id, headers).await
        }

        /// Replace all configs of the organization (`write`, and a key of a
        /// strict ancestor; a root key may set the root's own). Values are
        /// integers or strings of digits; any unknown key is a 400.
        #[utoipa::path(
            put, path = $path, tag = "configs",
            params(($param = String, Path, description = "The organization's id")),
            request_body(content = orgd_core::schema::ConfigsBody,
                example = json!({"applications.limit": 1, "workspaces.limit": 2, "usergroups.limit": 30})),
            responses(
                (status = 200, description = "The new configs", body = BTreeMap<String, i64>, headers(("ETag" = String))),
                (status = 400, description = "Unknown key or bad value; nothing changed. The seed's own \
                    example body, `{\"applications.limit\": 1, \"workspaces1.limit\": 2, \"usergrouos.limit\": 30}`, \
                    gets this answer.", body = ProblemBody,
                 example = json!({
                     "type": "/problems/validation-failed", "title": "The request has invalid fields", "status": 400,
                     "detail": "usergrouos.limit: unknown configuration key; workspaces1.limit: unknown configuration key",
                     "code": "validation_failed", "request_id": "01hzy3m6f1q8k3m4v6w8y0a2c4",
                     "errors": [
                         {"field": "usergrouos.limit", "message": "unknown configuration key"},
                         {"field": "workspaces1.limit", "message": "unknown configuration key"}
                     ]
                 })),
                (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
                (status = 412, body = ProblemBody),
            )
        )]
        async fn $put(
            State(s): State<AppState>,
            caller: Caller,
            Path(org_id): Path<String>,
            headers: HeaderMap,
            AppJson(body): AppJson<Value>,
        ) -> ApiResult<Response> {
            change(s, caller, org_id, headers, ConfigsChange::Replace(body)).await
        }

        /// Set the given configs; a `null` value removes that key.
        #[utoipa::path(
            patch, path = $path, tag = "configs",
            params(($param = String, Path, description = "The organization's id")),
            request_body(content = orgd_core::schema::ConfigsPatchBody, example = json!({"applications.limit": 1, "workspaces.limit": 2})),
            responses(
                (status = 200, description = "The resulting configs", body = BTreeMap<String, i64>, headers(("ETag" = String))),
                (status = 400, description = "Unknown key or bad value; nothing changed. The seed's own \
                    example body, `{\"applications.limit\": 1, \"workspaces1.limit\": 2}`, gets this answer.",
                 body = ProblemBody,
                 example = json!({
                     "type": "/problems/validation-failed", "title": "The request has invalid fields", "status": 400,
                     "detail": "workspaces1.limit: unknown configuration key",
                     "code": "validation_failed", "request_id": "01hzy3m6f1q8k3m4v6w8y0a2c4",
                     "errors": [{"field": "workspaces1.limit", "message": "unknown configuration key"}]
                 })), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
                (status = 404, body = ProblemBody), (status = 412, body = ProblemBody),
            )
        )]
        async fn $patch(
            State(s): State<AppState>,
            caller: Caller,
            Path(org_id): Path<String>,
            headers: HeaderMap,
            AppJson(body): AppJson<Value>,
        ) -> ApiResult<Response> {
            change(s, caller, org_id, headers, ConfigsChange::Update(body)).await
        }

        /// Clear all configs of the organization (`delete`, strict ancestor).
        #[utoipa::path(
            delete, path = $path, tag = "configs",
            params(($param = String, Path, description = "The organization's id")),
            responses(
                (status = 204, description = "Cleared"),
                (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
                (status = 412, body = ProblemBody),
            )
        )]
        async fn $delete(
            State(s): State<AppState>,
            caller: Caller,
            Path(org_id): Path<String>,
            headers: HeaderMap,
        ) -> ApiResult<Response> {
            change(s, caller, org_id, headers, ConfigsChange::Clear).await
        }
    };
}

config_handlers!(SEED, "orgId", get_seed, put_seed, patch_seed, delete_seed);
config_handlers!(
    "/orgs/{org_id}/configs",
    "org_id",
    get_configs,
    put_configs,
    patch_configs,
    delete_configs
);

/// Every known key with its effective value: the org's own, else the nearest
/// ancestor's, else `null` (unlimited), and the org it comes from.
#[utoipa::path(
    get, path = "/orgs/{org_id}/configs/effective", tag = "configs", operation_id = "effective_configs",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, body = BTreeMap<String, EffectiveConfig>,
         example = json!({"applications.limit": {"value": 5, "source": "reseller-1"}, "workspaces.limit": {"value": null, "source": null}})),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn effective(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> ApiResult<Json<BTreeMap<String, EffectiveConfig>>> {
    Ok(Json(
        s.orgd.effective_configs(&caller.principal, &org_id).await?,
    ))
}
