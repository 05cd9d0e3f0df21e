//! `/orgs/{org_id}/consumption` and `/orgs/{org_id}/usage`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgd_core::consumption::UsageEvent;
use orgd_core::consumption::service::{ConsumptionReport, UsageReceipt};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppQuery};
use super::orgs::parse_bool;
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(consumption))
        .routes(routes!(usage))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumptionParams {
    /// `YYYY-MM` (UTC); default: this month.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11")]
    month: Option<String>,
    /// `true` adds `subtree` (sums over the org and its descendants) and
    /// `children` (each direct child's subtree).
    #[param(value_type = Option<bool>)]
    include_children: Option<String>,
}

/// The organization's consumption in a month: counters (`api_requests` and
/// ingested metrics) and gauges (`{current, peak}`).
#[utoipa::path(
    get, path = "/orgs/{org_id}/consumption", tag = "consumption",
    params(("org_id" = String, Path, description = "The organization's id", example = "org-123"), ConsumptionParams),
    responses(
        (status = 200, body = ConsumptionReport),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn consumption(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<ConsumptionParams>,
) -> ApiResult<Json<ConsumptionReport>> {
    let include = parse_bool("include_children", q.include_children.as_deref())?;
    Ok(Json(
        s.orgd
            .consumption(&caller.principal, &org_id, q.month.as_deref(), include)
            .await?,
    ))
}

/// Count usage events (up to 1000 a call) toward the organization's monthly
/// consumption. An event whose `idempotency_key` was seen before is not
/// counted again.
#[utoipa::path(
    post, path = "/orgs/{org_id}/usage", tag = "consumption",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body(content = Vec<UsageEvent>,
        example = json!([{"metric": "storage.gb_hours", "quantity": 42, "idempotency_key": "evt-1"}])),
    responses(
        (status = 202, body = UsageReceipt),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn usage(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppJson(events): AppJson<Vec<UsageEvent>>,
) -> ApiResult<Response> {
    let receipt = s
        .orgd
        .ingest_usage(&caller.principal, &org_id, events)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)).into_response())
}
