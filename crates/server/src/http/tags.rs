//! `/orgs/{org_id}/tags`: named labels on an organization.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgd_core::schema;
use orgd_core::tags::Tag;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::AppJson;
use super::orgs::Message;
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(delete_tag))
}

/// The organization's tags, by name (at most 64, so never paged).
#[utoipa::path(
    get, path = "/orgs/{org_id}/tags", tag = "tags",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, body = Vec<Tag>),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn list_tags(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> ApiResult<Json<Vec<Tag>>> {
    Ok(Json(s.orgd.list_tags(&caller.principal, &org_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTagBody {
    /// 1–64 characters of `[A-Za-z0-9_.:-]`, unique in the org.
    #[schema(value_type = schema::TagName, example = "confidential")]
    name: String,
}

/// Put a tag on the organization.
#[utoipa::path(
    post, path = "/orgs/{org_id}/tags", tag = "tags",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body = CreateTagBody,
    responses(
        (status = 201, body = Tag, headers(("Location" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "The name is taken, or the org has 64 tags", body = ProblemBody),
    )
)]
async fn create_tag(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppJson(body): AppJson<CreateTagBody>,
) -> ApiResult<Response> {
    let tag = s
        .orgd
        .create_tag(&caller.principal, &caller.origin, &org_id, &body.name)
        .await?;
    let location = format!("/orgs/{org_id}/tags/{}", tag.id);
    let location = HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/"));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(tag),
    )
        .into_response())
}

/// Remove a tag from the organization.
#[utoipa::path(
    delete, path = "/orgs/{org_id}/tags/{tag_id}", tag = "tags",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("tag_id" = String, Path, description = "The tag's id"),
    ),
    responses(
        (status = 200, body = Message),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn delete_tag(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, tag_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    s.orgd
        .delete_tag(&caller.principal, &caller.origin, &org_id, &tag_id)
        .await?;
    Ok(Json(Message {
        message: "Tag deleted successfully".into(),
    }))
}
