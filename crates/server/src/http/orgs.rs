//! `/orgs` and `/orgs/{org_id}`: the organization tree.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use orgd_core::orgs::NewOrg;
use orgd_core::orgs::Org;
use orgd_core::orgs::service::{OrgFilter, OrgPatch};
use orgd_core::page::{PageRequest, decode_id_cursor, parse_limit};
use orgd_core::{Error, schema};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppQuery, present};
use super::paging::{PageParams, page_response};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::etag::{etag, if_match, versioned};
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(list_children))
}

pub fn id_page(p: &PageParams) -> orgd_core::Result<PageRequest<String>> {
    Ok(PageRequest {
        limit: parse_limit(p.limit.as_deref())?,
        after: p.cursor.as_deref().map(decode_id_cursor).transpose()?,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrgBody {
    /// Optional id; default `org_` + a ULID.
    #[schema(value_type = Option<schema::OrgIdText>, example = "org-123")]
    id: Option<String>,
    #[schema(value_type = schema::DisplayName, example = "Example Organization")]
    name: String,
    /// Parent org; default: the calling key's org.
    #[schema(value_type = Option<schema::OrgIdText>)]
    parent_id: Option<String>,
    /// Free-form JSON object (at most 64 KiB, 32 levels).
    #[schema(value_type = Option<schema::JsonObject>)]
    customizations: Option<Value>,
    /// Tag names to put on the new org (distinct, at most 64).
    #[schema(value_type = Option<schema::TagNames>, example = json!(["confidential"]))]
    tags: Option<Vec<String>>,
    /// Configs (limits) of the new org.
    #[schema(value_type = Option<schema::ConfigsBody>, example = json!({"applications.limit": 5}))]
    configs: Option<Value>,
}

/// Create an organization under a parent the key reaches (`write`).
#[utoipa::path(
    post, path = "/orgs", tag = "organizations",
    request_body = CreateOrgBody,
    responses(
        (status = 201, description = "Created", body = Org, headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, description = "Parent not found or out of reach", body = ProblemBody),
        (status = 409, description = "Id taken, the tree would be too deep, or the parent holds its `children.limit` (`limit-exceeded`)", body = ProblemBody),
    )
)]
async fn create_org(
    State(s): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateOrgBody>,
) -> ApiResult<Response> {
    let new = NewOrg {
        id: body.id,
        name: body.name,
        parent_id: body.parent_id,
        customizations: body.customizations,
        tags: body.tags.unwrap_or_default(),
        configs: body.configs,
    };
    let org = s
        .orgd
        .create_org(&caller.principal, &caller.origin, new)
        .await?;
    let location = HeaderValue::from_str(&format!("/orgs/{}", org.id))
        .unwrap_or(HeaderValue::from_static("/orgs"));
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::ETAG, etag(org.version)),
        ],
        Json(org),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOrgsParams {
    /// Only direct children of this org.
    parent_id: Option<String>,
    /// Only orgs whose name starts with this.
    name_prefix: Option<String>,
}

/// List the live organizations the key reaches, ordered by id.
#[utoipa::path(
    get, path = "/orgs", tag = "organizations",
    params(
        ListOrgsParams,
        ("tag" = Option<Vec<String>>, Query, explode, description = "Only orgs with this tag; repeat it to require several"),
        PageParams,
    ),
    responses(
        (status = 200, body = Vec<Org>, headers(("Link" = String, description = "rel=\"next\" when there is a next page"))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
async fn list_orgs(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    AppQuery(q): AppQuery<ListOrgsParams>,
    AppQuery(p): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let page = id_page(&p)?;
    // Repeated `tag=` parameters: read from the raw query, which the struct
    // form cannot hold.
    let filter = OrgFilter {
        parent_id: q.parent_id,
        name_prefix: q.name_prefix,
        tags: form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k == "tag")
            .map(|(_, v)| v.into_owned())
            .collect(),
    };
    let orgs = s.orgd.list_orgs(&caller.principal, filter, page).await?;
    Ok(page_response(&uri, orgs))
}

/// Retrieve an organization.
#[utoipa::path(
    get, path = "/orgs/{org_id}", tag = "organizations",
    params(("org_id" = String, Path, description = "The organization's id", example = "org-123")),
    responses(
        (status = 200, body = Org, headers(("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn get_org(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let org = s.orgd.get_org(&caller.principal, &org_id).await?;
    Ok(versioned(&headers, org.version, &org.as_view()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateOrgBody {
    #[schema(value_type = Option<schema::DisplayName>, example = "Updated Organization Name")]
    name: Option<String>,
    /// RFC 7396 merge patch onto the current customizations.
    #[schema(value_type = Option<schema::JsonObject>)]
    customizations: Option<Value>,
    /// Move the org under this parent (needs a key of a strict ancestor).
    /// Not `null`: an org cannot be made a root.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = schema::OrgIdText, required = false)]
    parent_id: Option<Option<String>>,
}

/// Update an organization's name or customizations, or move it.
#[utoipa::path(
    patch, path = "/orgs/{org_id}", tag = "organizations",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body = UpdateOrgBody,
    responses(
        (status = 200, body = Org, headers(("ETag" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "The move would create a cycle or a too-deep tree, or the new parent holds its `children.limit` (`limit-exceeded`)", body = ProblemBody),
        (status = 412, description = "If-Match does not match", body = ProblemBody),
    )
)]
async fn update_org(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<UpdateOrgBody>,
) -> ApiResult<Response> {
    // A `null` parent would move the org nowhere: refused, rather than
    // read as "left out" (which answered 200 and did nothing).
    let parent_id = match body.parent_id {
        Some(None) => {
            return Err(Error::invalid(
                "parent_id",
                "must name the new parent: an organization cannot be made a root",
            )
            .into());
        }
        given => given.flatten(),
    };
    let patch = OrgPatch {
        name: body.name,
        customizations: body.customizations,
        parent_id,
    };
    let org = s
        .orgd
        .update_org(
            &caller.principal,
            &caller.origin,
            &org_id,
            patch,
            if_match(&headers),
        )
        .await?;
    Ok(([(header::ETAG, etag(org.version))], Json(org)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// `true` deletes the whole subtree; otherwise an org with children is refused.
    #[param(value_type = Option<bool>)]
    cascade: Option<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Message {
    #[schema(example = "Organization deleted successfully")]
    pub message: String,
}

/// Delete an organization (a tombstone: its audit trail is kept).
#[utoipa::path(
    delete, path = "/orgs/{org_id}", tag = "organizations",
    params(("org_id" = String, Path, description = "The organization's id"), DeleteParams),
    responses(
        (status = 200, body = Message),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "The org has children and cascade is not true", body = ProblemBody),
        (status = 412, body = ProblemBody),
    )
)]
async fn delete_org(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    AppQuery(q): AppQuery<DeleteParams>,
) -> ApiResult<Json<Message>> {
    let cascade = parse_bool("cascade", q.cascade.as_deref())?;
    s.orgd
        .delete_org(
            &caller.principal,
            &caller.origin,
            &org_id,
            cascade,
            if_match(&headers),
        )
        .await?;
    Ok(Json(Message {
        message: "Organization deleted successfully".into(),
    }))
}

pub fn parse_bool(field: &str, raw: Option<&str>) -> orgd_core::Result<bool> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(orgd_core::Error::invalid(field, "must be true or false")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChildrenParams {
    /// `1` (default): direct children; `all`: the whole subtree.
    #[param(pattern = "^(1|all)$")]
    depth: Option<String>,
}

/// List an organization's children, or with `depth=all` its whole subtree.
#[utoipa::path(
    get, path = "/orgs/{org_id}/children", tag = "organizations",
    params(("org_id" = String, Path, description = "The organization's id"), ChildrenParams, PageParams),
    responses(
        (status = 200, body = Vec<Org>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn list_children(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<ChildrenParams>,
    AppQuery(p): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let whole = match q.depth.as_deref() {
        None | Some("1") => false,
        Some("all") => true,
        Some(_) => return Err(orgd_core::Error::invalid("depth", "must be 1 or all").into()),
    };
    let page = id_page(&p)?;
    let orgs = s
        .orgd
        .list_children(&caller.principal, &org_id, whole, page)
        .await?;
    Ok(page_response(&uri, orgs))
}
