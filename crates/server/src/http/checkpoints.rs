//! The audit trail's signed checkpoints (SPEC §12): the signing keys, the
//! checkpoints, and an org's inclusion proof.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use orgd_core::checkpoints::{AuditKey, Checkpoint, InclusionProof};
use orgd_core::page::parse_limit;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::AppQuery;
use super::paging::set_next_link;
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

/// Routes that need an API key.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkpoints))
        .routes(routes!(latest_checkpoint))
        .routes(routes!(audit_proof))
}

/// Routes anyone may call: a public key is for everyone to check with.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_keys))
}

/// Every key that signs or signed checkpoints, oldest first.
#[utoipa::path(
    get, path = "/audit/keys", tag = "audit", security(()),
    responses((status = 200, body = Vec<AuditKey>))
)]
async fn audit_keys(State(s): State<AppState>) -> ApiResult<Json<Vec<AuditKey>>> {
    Ok(Json(s.orgd.audit_keys().await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointParams {
    /// Only checkpoints made after the one with this id.
    #[param(min_length = 1)]
    after: Option<String>,
    /// Checkpoints per page, 1–1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Signed checkpoints, oldest first (keys of the root organization).
#[utoipa::path(
    get, path = "/audit/checkpoints", tag = "audit",
    params(CheckpointParams),
    responses(
        (status = 200, body = Vec<Checkpoint>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
async fn checkpoints(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    AppQuery(q): AppQuery<CheckpointParams>,
) -> ApiResult<Response> {
    let limit = parse_limit(q.limit.as_deref())?;
    let page = s
        .orgd
        .checkpoints(&caller.principal, q.after.as_deref(), limit)
        .await?;
    let mut res = Json(page.items).into_response();
    if let Some(next) = page.next {
        set_next_link(&mut res, &uri, "after", &next);
    }
    Ok(res)
}

/// The newest signed checkpoint.
#[utoipa::path(
    get, path = "/audit/checkpoints/latest", tag = "audit",
    responses(
        (status = 200, body = Checkpoint),
        (status = 401, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn latest_checkpoint(
    State(s): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Checkpoint>> {
    Ok(Json(s.orgd.latest_checkpoint().await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofParams {
    /// The checkpoint to prove against (default: the latest).
    #[param(min_length = 1)]
    checkpoint: Option<String>,
}

/// The organization's chain head in a signed checkpoint, and its inclusion
/// path. 409 `audit-chain-invalid` when the checkpoint's stored leaves no
/// longer fit its signed root (the database was changed outside orgd).
#[utoipa::path(
    get, path = "/orgs/{org_id}/audit/proof", tag = "audit",
    params(("org_id" = String, Path, description = "The organization's id"), ProofParams),
    responses(
        (status = 200, body = InclusionProof),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "`audit-chain-invalid`: the checkpoint's stored leaves or signature no longer hold", body = ProblemBody),
    )
)]
async fn audit_proof(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<ProofParams>,
) -> ApiResult<Json<InclusionProof>> {
    Ok(Json(
        s.orgd
            .audit_proof(&caller.principal, &org_id, q.checkpoint.as_deref())
            .await?,
    ))
}
