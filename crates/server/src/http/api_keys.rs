//! `/orgs/{org_id}/api_keys`: minting, listing and revoking keys (`admin`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use orgd_core::api_keys::ApiKey;
use orgd_core::api_keys::NewKey;
use orgd_core::schema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppQuery};
use super::idempotency::shown_once;
use super::orgs::{Message, id_page};
use super::paging::{PageParams, page_response};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, delete_key))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyBody {
    #[schema(value_type = schema::DisplayName, example = "billing service")]
    name: String,
    /// The person or system the key acts for (shown as `user` in logs).
    #[schema(value_type = Option<schema::DisplayName>, example = "john.doe@example.com")]
    user: Option<String>,
    /// A subset of the creating key's own: `read`, `write`, `delete`, `admin`.
    #[schema(value_type = schema::PermissionNames, example = json!(["read", "write"]))]
    permissions: Vec<String>,
    /// RFC 3339, in the future; the key stops working then.
    #[schema(value_type = Option<schema::Timestamp>, example = "2030-01-01T00:00:00Z")]
    expires_at: Option<String>,
    /// Requests a minute, 1–1,000,000, at most the creating key's. Absent:
    /// the creating key's own limit, else the server's default.
    #[schema(value_type = Option<schema::RateLimit>, example = 600)]
    #[serde(default, deserialize_with = "orgd_core::integer::option_i64")]
    rate_limit_per_minute: Option<i64>,
}

/// A new key with its secret: the only response that ever shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyBody {
    #[serde(flatten)]
    key: ApiKey,
    /// `orgd_` + 43 base62 characters. Store it now: it is never shown again,
    /// not even to a retry with the same `Idempotency-Key`, whose replayed
    /// response leaves it out.
    #[schema(required = false)]
    secret: String,
}

/// List the organization's live API keys (never their secrets).
#[utoipa::path(
    get, path = "/orgs/{org_id}/api_keys", tag = "api keys",
    params(("org_id" = String, Path, description = "The organization's id"), PageParams),
    responses(
        (status = 200, body = Vec<ApiKey>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn list_keys(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let keys = s
        .orgd
        .list_keys(&caller.principal, &org_id, id_page(&q)?)
        .await?;
    Ok(page_response(&uri, keys))
}

/// Create an API key for an organization the key reaches, with permissions
/// no wider than the creating key's.
#[utoipa::path(
    post, path = "/orgs/{org_id}/api_keys", tag = "api keys",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body = CreateKeyBody,
    responses(
        (status = 201, body = CreatedKeyBody, headers(("Location" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, description = "Missing admin, or asking for permissions the key does not hold", body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "`limit-exceeded`: the org holds its `api_keys.limit` of live keys", body = ProblemBody),
    )
)]
async fn create_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppJson(body): AppJson<CreateKeyBody>,
) -> ApiResult<Response> {
    let new = NewKey {
        name: body.name,
        user: body.user,
        permissions: body.permissions,
        expires_at: body.expires_at,
        rate_limit_per_minute: body.rate_limit_per_minute,
    };
    let created = s
        .orgd
        .create_key(&caller.principal, &caller.origin, &org_id, new)
        .await?;
    let location = format!("/orgs/{}/api_keys/{}", created.key.org_id, created.key.id);
    Ok(shown_once(
        StatusCode::CREATED,
        Some(&location),
        CreatedKeyBody {
            key: created.key,
            secret: created.secret,
        },
    ))
}

/// Retrieve one live API key of an organization (never its secret).
#[utoipa::path(
    get, path = "/orgs/{org_id}/api_keys/{key_id}", tag = "api keys",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("key_id" = String, Path, description = "The key's id"),
    ),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, description = "No such live key in this organization, or the organization is out of reach", body = ProblemBody),
    )
)]
async fn get_key(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(
        s.orgd.get_key(&caller.principal, &org_id, &key_id).await?,
    ))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(
    delete, path = "/orgs/{org_id}/api_keys/{key_id}", tag = "api keys",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("key_id" = String, Path, description = "The key's id"),
    ),
    responses(
        (status = 200, body = Message),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn delete_key(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    s.orgd
        .delete_key(&caller.principal, &caller.origin, &org_id, &key_id)
        .await?;
    Ok(Json(Message {
        message: "API key deleted successfully".into(),
    }))
}
