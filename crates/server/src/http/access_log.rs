//! `/orgs/{org_id}/access_log`: reading the log, and the platform's own events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use orgd_core::Error;
use orgd_core::access_log::{AccessEntry, AccessFilter, ExternalEvent, Outcome};
use orgd_core::error::{parse_optional, parse_optional_time};
use orgd_core::page::{PageRequest, decode_time_cursor, parse_limit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppQuery};
use super::paging::{PageParams, page_response};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_access, ingest_access))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessParams {
    /// Entries at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    start: Option<String>,
    /// Entries before this instant (RFC 3339).
    #[param(format = DateTime)]
    end: Option<String>,
    /// Only this user.
    user: Option<String>,
    /// Only this action, e.g. `LOGIN` or `configs.patch`.
    action: Option<String>,
    /// `SUCCESS` or `FAILURE`.
    #[param(pattern = "^(SUCCESS|FAILURE)$")]
    status: Option<String>,
}

/// The organization's access log, newest first.
#[utoipa::path(
    get, path = "/orgs/{org_id}/access_log", tag = "access log",
    params(("org_id" = String, Path, description = "The organization's id", example = "org-123"), AccessParams, PageParams),
    responses(
        (status = 200, body = Vec<AccessEntry>, headers(("Link" = String)),
         example = json!([{"timestamp": "2023-11-01T12:00:00.000Z", "user": "john.doe@example.com", "action": "LOGIN", "status": "SUCCESS"}])),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn list_access(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<AccessParams>,
    AppQuery(p): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let start = parse_optional_time("start", q.start.as_deref(), &mut errors);
    let end = parse_optional_time("end", q.end.as_deref(), &mut errors);
    let status = parse_optional(
        "status",
        q.status.as_deref(),
        |s| Outcome::parse(s).ok_or("must be SUCCESS or FAILURE"),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(Error::Validation(errors).into());
    }
    let page = PageRequest {
        limit: parse_limit(p.limit.as_deref())?,
        after: p.cursor.as_deref().map(decode_time_cursor).transpose()?,
    };
    let filter = AccessFilter {
        start,
        end,
        user: q.user,
        action: q.action,
        status,
    };
    let entries = s
        .orgd
        .access_log(&caller.principal, &org_id, filter, page)
        .await?;
    Ok(page_response(&uri, entries))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// How many events were stored.
    pub accepted: usize,
}

/// Record the platform's own events (sign-ins and the like) in the
/// organization's access log: up to 1000 a call, in the seed's shape.
#[utoipa::path(
    post, path = "/orgs/{org_id}/access_log", tag = "access log",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body(content = Vec<ExternalEvent>,
        example = json!([{"timestamp": "2023-11-01T12:00:00Z", "user": "john.doe@example.com", "action": "LOGIN", "status": "SUCCESS"}])),
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn ingest_access(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppJson(events): AppJson<Vec<ExternalEvent>>,
) -> ApiResult<Response> {
    let accepted = s
        .orgd
        .ingest_access_events(&caller.principal, &org_id, events)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })).into_response())
}
