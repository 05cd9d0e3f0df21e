//! The limited resources — `/orgs/{org_id}/{applications,workspaces,usergroups}`
//! — and `/orgs/{org_id}/limits`.
//!
//! The three registries share one set of handlers; [`registry!`] declares
//! each kind's routes so that every path keeps its own OpenAPI description.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use orgd_core::limits::LimitStatus;
use orgd_core::registries::service::NewResource;
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::schema;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppQuery};
use super::orgs::{Message, id_page};
use super::paging::{PageParams, page_response};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(limits))
        .merge(applications::routes())
        .merge(workspaces::routes())
        .merge(usergroups::routes())
}

/// Each limited kind of the org: its effective limit, where that comes from
/// (the org itself or the nearest ancestor that sets it; `null` when
/// unlimited), how many are in use, and whether more are held than allowed.
#[utoipa::path(
    get, path = "/orgs/{org_id}/limits", tag = "limits",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, body = BTreeMap<String, LimitStatus>, example = json!({
            "applications": {"limit": 5, "used": 2, "source": "root", "over_limit": false},
            "workspaces": {"limit": 2, "used": 5, "source": "acme", "over_limit": true},
            "usergroups": {"limit": null, "used": 0, "source": null, "over_limit": false},
            "children": {"limit": 10, "used": 3, "source": "root", "over_limit": false},
            "api_keys": {"limit": null, "used": 1, "source": null, "over_limit": false}
        })),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn limits(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> ApiResult<Json<BTreeMap<&'static str, LimitStatus>>> {
    Ok(Json(s.orgd.limits(&caller.principal, &org_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateResourceBody {
    /// 1–200 characters, unique among the org's items of this kind.
    #[schema(value_type = schema::DisplayName, example = "Billing portal")]
    name: String,
    /// A JSON object of at most 4 KiB and 8 levels (default `{}`).
    #[schema(value_type = Option<schema::JsonObject>, example = json!({"team": "payments"}))]
    metadata: Option<serde_json::Value>,
}

async fn list(
    s: AppState,
    caller: Caller,
    uri: Uri,
    org_id: String,
    q: PageParams,
    kind: ResourceKind,
) -> ApiResult<Response> {
    let page = s
        .orgd
        .list_resources(&caller.principal, &org_id, kind, id_page(&q)?)
        .await?;
    Ok(page_response(&uri, page))
}

async fn create(
    s: AppState,
    caller: Caller,
    org_id: String,
    body: CreateResourceBody,
    kind: ResourceKind,
) -> ApiResult<Response> {
    let new = NewResource {
        name: body.name,
        metadata: body.metadata,
    };
    let item = s
        .orgd
        .create_resource(&caller.principal, &caller.origin, &org_id, kind, new)
        .await?;
    let location = format!("/orgs/{org_id}/{}/{}", kind.plural(), item.id);
    let location = HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/"));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(item),
    )
        .into_response())
}

async fn get_one(
    s: AppState,
    caller: Caller,
    org_id: String,
    id: String,
    kind: ResourceKind,
) -> ApiResult<Json<Resource>> {
    Ok(Json(
        s.orgd
            .get_resource(&caller.principal, &org_id, kind, &id)
            .await?,
    ))
}

async fn delete(
    s: AppState,
    caller: Caller,
    org_id: String,
    id: String,
    kind: ResourceKind,
) -> ApiResult<Json<Message>> {
    s.orgd
        .delete_resource(&caller.principal, &caller.origin, &org_id, kind, &id)
        .await?;
    Ok(Json(Message {
        message: format!("{} deleted successfully", kind.singular()),
    }))
}

/// Declares one kind's four routes over the shared handlers above. The
/// paths and operation ids are literal because OpenAPI documents each route.
macro_rules! registry {
    (
        $module:ident, $kind:expr,
        collection = $collection:tt, item = $item:tt, id = $id:tt,
        ops = [$list:tt, $create:tt, $get:tt, $delete:tt]
    ) => {
        mod $module {
            use super::*;

            pub fn routes() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create))
                    .routes(routes!(get_one, delete))
            }

            /// The organization's items of this kind, by id.
            #[utoipa::path(
                get, path = $collection, tag = "limited resources", operation_id = $list,
                params(("org_id" = String, Path, description = "The organization's id"), PageParams),
                responses(
                    (status = 200, body = Vec<Resource>, headers(("Link" = String))),
                    (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
                    (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
                )
            )]
            async fn list(
                State(s): State<AppState>,
                caller: Caller,
                uri: Uri,
                Path(org_id): Path<String>,
                AppQuery(q): AppQuery<PageParams>,
            ) -> ApiResult<Response> {
                super::list(s, caller, uri, org_id, q, $kind).await
            }

            /// Create an item, unless the org holds its effective limit already.
            #[utoipa::path(
                post, path = $collection, tag = "limited resources", operation_id = $create,
                params(("org_id" = String, Path, description = "The organization's id")),
                request_body = CreateResourceBody,
                responses(
                    (status = 201, body = Resource, headers(("Location" = String))),
                    (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
                    (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
                    (status = 409, description = "`limit-exceeded` (with `limit`, `used`, `source`), or the name is taken", body = ProblemBody),
                )
            )]
            async fn create(
                State(s): State<AppState>,
                caller: Caller,
                Path(org_id): Path<String>,
                AppJson(body): AppJson<CreateResourceBody>,
            ) -> ApiResult<Response> {
                super::create(s, caller, org_id, body, $kind).await
            }

            /// One item.
            #[utoipa::path(
                get, path = $item, tag = "limited resources", operation_id = $get,
                params(
                    ("org_id" = String, Path, description = "The organization's id"),
                    ($id = String, Path, description = "The item's id"),
                ),
                responses(
                    (status = 200, body = Resource),
                    (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
                    (status = 404, body = ProblemBody),
                )
            )]
            async fn get_one(
                State(s): State<AppState>,
                caller: Caller,
                Path((org_id, id)): Path<(String, String)>,
            ) -> ApiResult<Json<Resource>> {
                super::get_one(s, caller, org_id, id, $kind).await
            }

            /// Delete an item: it no longer counts against the limit.
            #[utoipa::path(
                delete, path = $item, tag = "limited resources", operation_id = $delete,
                params(
                    ("org_id" = String, Path, description = "The organization's id"),
                    ($id = String, Path, description = "The item's id"),
                ),
                responses(
                    (status = 200, body = Message),
                    (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
                    (status = 404, body = ProblemBody),
                )
            )]
            async fn delete(
                State(s): State<AppState>,
                caller: Caller,
                Path((org_id, id)): Path<(String, String)>,
            ) -> ApiResult<Json<Message>> {
                super::delete(s, caller, org_id, id, $kind).await
            }
        }
    };
}

registry!(
    applications,
    ResourceKind::Application,
    collection = "/orgs/{org_id}/applications",
    item = "/orgs/{org_id}/applications/{application_id}",
    id = "application_id",
    ops = [
        "list_applications",
        "create_application",
        "get_application",
        "delete_application"
    ]
);
registry!(
    workspaces,
    ResourceKind::Workspace,
    collection = "/orgs/{org_id}/workspaces",
    item = "/orgs/{org_id}/workspaces/{workspace_id}",
    id = "workspace_id",
    ops = [
        "list_workspaces",
        "create_workspace",
        "get_workspace",
        "delete_workspace"
    ]
);
registry!(
    usergroups,
    ResourceKind::Usergroup,
    collection = "/orgs/{org_id}/usergroups",
    item = "/orgs/{org_id}/usergroups/{usergroup_id}",
    id = "usergroup_id",
    ops = [
        "list_usergroups",
        "create_usergroup",
        "get_usergroup",
        "delete_usergroup"
    ]
);
