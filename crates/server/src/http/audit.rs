//! The audit trail: an org's own events, its descendants' events, verification.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use orgd_core::Error;
use orgd_core::audit::{AuditEvent, Verification};
use orgd_core::audit_export::ExportScope;
use orgd_core::error::{parse_optional, parse_optional_time};
use orgd_core::ids::OrgId;
use orgd_core::page::{PageRequest, decode_number_cursor, parse_limit};
use orgd_core::store::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::AppQuery;
use super::paging::{PageParams, page_response};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(org_audit))
        .routes(routes!(children_audit))
        .routes(routes!(verify_audit))
        .routes(routes!(export_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Events at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    start: Option<String>,
    /// Events before this instant (RFC 3339).
    #[param(format = DateTime)]
    end: Option<String>,
    /// Only this action, e.g. `org.update`.
    action: Option<String>,
    /// Only events made with this API key.
    key_id: Option<String>,
    /// Only this descendant's events (`children_audit`).
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    org_id: Option<String>,
}

fn audit_query(
    q: AuditParams,
    p: &PageParams,
) -> orgd_core::Result<(AuditFilter, PageRequest<i64>)> {
    let mut errors = Vec::new();
    let start = parse_optional_time("start", q.start.as_deref(), &mut errors);
    let end = parse_optional_time("end", q.end.as_deref(), &mut errors);
    let org_id = parse_optional("org_id", q.org_id.as_deref(), OrgId::parse, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let page = PageRequest {
        limit: parse_limit(p.limit.as_deref())?,
        after: p.cursor.as_deref().map(decode_number_cursor).transpose()?,
    };
    let filter = AuditFilter {
        start,
        end,
        action: q.action,
        key_id: q.key_id,
        org_id,
    };
    Ok((filter, page))
}

/// The organization's own audit events, newest first.
#[utoipa::path(
    get, path = "/orgs/{org_id}/audit", tag = "audit",
    params(("org_id" = String, Path, description = "The organization's id"), AuditParams, PageParams),
    responses(
        (status = 200, body = Vec<AuditEvent>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn org_audit(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<AuditParams>,
    AppQuery(p): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let (filter, page) = audit_query(q, &p)?;
    let events = s
        .orgd
        .org_audit(&caller.principal, &org_id, filter, page)
        .await?;
    Ok(page_response(&uri, events))
}

/// Audit events of every descendant organization, deleted ones included, newest first.
#[utoipa::path(
    get, path = "/orgs/{org_id}/children_audit", tag = "audit",
    params(("org_id" = String, Path, description = "The organization's id"), AuditParams, PageParams),
    responses(
        (status = 200, body = Vec<AuditEvent>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn children_audit(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<AuditParams>,
    AppQuery(p): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let (filter, page) = audit_query(q, &p)?;
    let events = s
        .orgd
        .children_audit(&caller.principal, &org_id, filter, page)
        .await?;
    Ok(page_response(&uri, events))
}

/// Recompute the organization's hash chain.
#[utoipa::path(
    get, path = "/orgs/{org_id}/audit/verify", tag = "audit",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, body = Verification),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn verify_audit(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> ApiResult<Json<Verification>> {
    Ok(Json(s.orgd.verify_audit(&caller.principal, &org_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Events at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    start: Option<String>,
    /// Events before this instant (RFC 3339).
    #[param(format = DateTime)]
    end: Option<String>,
    /// `self` (the default): the organization's own events; `subtree`: its
    /// own and every descendant's, deleted ones included, org by org.
    #[param(pattern = "^(self|subtree)$")]
    scope: Option<String>,
}

/// The audit trail as NDJSON, org by org: before an org's events (one
/// event a line, its chain in order), a line `{"proof": {…}}` with the
/// org's head in the export's signed checkpoint and its inclusion path;
/// where the window leaves a gap between the exported events and that
/// head, lines `{"link": {"org_id", "events"}}` with the events that close
/// it; then one line `{"manifest": {…}}` that counts and hashes every line
/// before it, holds the checkpoint (the first made at or after `end`, else
/// the latest), and is signed. `orgd audit verify-export FILE --public-key
/// KEY` checks it offline. A chain that does not verify is never signed:
/// 409 `audit-chain-invalid` instead.
#[utoipa::path(
    get, path = "/orgs/{org_id}/audit/export", tag = "audit",
    params(("org_id" = String, Path, description = "The organization's id"), ExportParams),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "`audit-chain-invalid`: a chain in the export does not verify, so orgd signs none of it", body = ProblemBody),
    )
)]
async fn export_audit(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<ExportParams>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let start = parse_optional_time("start", q.start.as_deref(), &mut errors);
    let end = parse_optional_time("end", q.end.as_deref(), &mut errors);
    let scope = parse_optional(
        "scope",
        q.scope.as_deref(),
        |v| ExportScope::parse(v).ok_or("must be self or subtree"),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(Error::Validation(errors).into());
    }
    let mut export = s
        .orgd
        .audit_export(
            &caller.principal,
            &org_id,
            scope.unwrap_or(ExportScope::Own),
            start,
            end,
        )
        .await?;
    // The first chunk is read before the answer starts, so a chain found
    // broken in it (the whole of a small export) is a 409 problem. A
    // failure later ends the body early: the manifest never comes, and a
    // verifier refuses the file.
    let first = export.next_chunk().await?;
    let first = futures_util::stream::iter(
        first.map(|chunk| Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk))),
    );
    let rest = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(axum::body::Bytes::from(chunk)), Some(export))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "an audit export stopped half way");
                Some((Err(std::io::Error::other(e.to_string())), None))
            }
        }
    });
    let body = futures_util::StreamExt::chain(first, rest);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}
