//! `/orgs/{org_id}/events`: the pull feed of events (SPEC §11).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use orgd_core::error::parse_optional;
use orgd_core::events::service::EventQuery;
use orgd_core::events::{Event, MAX_WAIT_SECS, TypeFilter};
use orgd_core::page::{decode_feed_cursor, encode_feed_cursor, parse_limit};
use orgd_core::{Error, FieldError};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::AppQuery;
use super::paging::set_next_link;
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The `after` of the previous page's `Link: rel="next"`, as given
    /// (opaque). Without it, the feed starts at the oldest event kept.
    #[param(min_length = 1)]
    after: Option<String>,
    /// Comma-separated event types (`configs.update`) and prefixes
    /// (`org.*`); default: every type.
    #[param(
        example = "org.*,configs.update",
        pattern = r"^[a-z_]+(\.[a-z_]+)*(\.\*)?(,[a-z_]+(\.[a-z_]+)*(\.\*)?)*$"
    )]
    types: Option<String>,
    /// `subtree` (the default): the org's events and every descendant's;
    /// `self`: the org's own.
    #[param(pattern = "^(self|subtree)$")]
    scope: Option<String>,
    /// Seconds, 0–30 (default 0): with nothing new, hold the request until
    /// an event arrives or this time passes, then answer (long poll).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    wait: Option<String>,
    /// Events per page, 1–1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// The organization's events, oldest first, from a cursor. The answer always
/// carries `Link: rel="next"`, the cursor to read on from (the same one when
/// nothing was new), so a consumer follows it for ever.
#[utoipa::path(
    get, path = "/orgs/{org_id}/events", tag = "events",
    params(("org_id" = String, Path, description = "The organization's id", example = "org-123"), EventParams),
    responses(
        (status = 200, body = Vec<Event>, headers(("Link" = String)), examples(
            ("an org created" = (value = json!([{
                "id": "evt_01jd2x6m4c8s5v0q3n7r9t1w2y", "type": "org.create", "org_id": "acme",
                "occurred_at": "2026-11-24T09:30:00.000Z",
                "data": {"target": {"type": "org", "id": "acme"}, "changes": {"before": null, "after": {
                    "id": "acme", "name": "Acme", "parent_id": "root", "depth": 2,
                    "created_at": "2026-11-24T09:30:00.000Z", "updated_at": "2026-11-24T09:30:00.000Z"}}},
                "audit": {"org_id": "acme", "seq": 1, "hash": "5f2c8e…"}}]))),
            ("configs changed" = (value = json!([{
                "id": "evt_01jd2x7a9k3m5n7p9q1r3s5t7v", "type": "configs.update", "org_id": "acme",
                "occurred_at": "2026-11-24T09:31:00.000Z",
                "data": {"target": {"type": "org", "id": "acme"}, "changes": {
                    "before": {"workspaces.limit": "5"}, "after": {"workspaces.limit": "10"}}},
                "audit": {"org_id": "acme", "seq": 2, "hash": "a41d07…"}}]))),
            ("an API key deleted" = (value = json!([{
                "id": "evt_01jd2x8b0c2d4e6f8g0h2j4k6m", "type": "api_key.delete", "org_id": "acme",
                "occurred_at": "2026-11-24T09:32:00.000Z",
                "data": {"target": {"type": "api_key", "id": "key_01jd2x5q8r0s2t4v6w8x0y2z4a"}, "changes": {
                    "before": {"id": "key_01jd2x5q8r0s2t4v6w8x0y2z4a", "name": "billing", "prefix": "orgd_Xk3"},
                    "after": null}},
                "audit": {"org_id": "acme", "seq": 3, "hash": "0c9e55…"}}]))),
            ("usage crossed 80 % of a limit" = (value = json!([{
                "id": "evt_01jd2x9c1d3e5f7g9h1j3k5m7n", "type": "limit.threshold", "org_id": "acme",
                "occurred_at": "2026-11-24T09:33:00.000Z",
                "data": {"resource": "workspaces", "limit": 10, "used": 8, "threshold": 80},
                "audit": null}]))),
            ("a webhook disabled after 3 days of failures" = (value = json!([{
                "id": "evt_01jd2xad2e4f6g8h0j2k4m6n8p", "type": "webhook.disabled", "org_id": "acme",
                "occurred_at": "2026-11-27T09:30:00.000Z",
                "data": {"target": {"type": "webhook", "id": "whk_01jd2x6m4c8s5v0q3n7r9t1w2y"}, "changes": {
                    "before": {"enabled": true, "failing_since": "2026-11-24T09:30:00.000Z", "disabled_at": null},
                    "after": {"enabled": false, "failing_since": "2026-11-24T09:30:00.000Z",
                              "disabled_at": "2026-11-27T09:30:00.000Z"}}},
                "audit": {"org_id": "acme", "seq": 9, "hash": "77b2e1…"}}]))),
        )),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn list_events(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<EventParams>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let types = TypeFilter::parse(q.types.as_deref())
        .map_err(|e| errors.push(e))
        .ok();
    let subtree = parse_optional(
        "scope",
        q.scope.as_deref(),
        |s| match s {
            "subtree" => Ok(true),
            "self" => Ok(false),
            _ => Err("must be self or subtree"),
        },
        &mut errors,
    );
    let wait = parse_optional(
        "wait",
        q.wait.as_deref(),
        |s| {
            s.parse::<u64>()
                .ok()
                .filter(|w| *w <= MAX_WAIT_SECS)
                .ok_or("must be a whole number of seconds from 0 to 30")
        },
        &mut errors,
    );
    let after = gather(
        q.after.as_deref().map_or(Ok(0), decode_feed_cursor),
        &mut errors,
    )?;
    let limit = gather(parse_limit(q.limit.as_deref()), &mut errors)?;
    let (Some(types), Some(after), Some(limit), true) = (types, after, limit, errors.is_empty())
    else {
        return Err(Error::Validation(errors).into());
    };
    // Answered a second before the request's own timeout would cut it off.
    let longest = s.request_timeout.saturating_sub(Duration::from_secs(1));
    let query = EventQuery {
        after,
        types,
        subtree: subtree.unwrap_or(true),
        limit,
        wait: Duration::from_secs(wait.unwrap_or(0)).min(longest),
    };
    let page = s.orgd.events(&caller.principal, &org_id, query).await?;
    let mut res = Json(page.events).into_response();
    set_next_link(&mut res, &uri, "after", &encode_feed_cursor(page.next));
    Ok(res)
}

/// The value of a parse that names its own bad fields: they join `errors`,
/// so that every bad parameter is reported at once.
fn gather<T>(
    parsed: orgd_core::Result<T>,
    errors: &mut Vec<FieldError>,
) -> orgd_core::Result<Option<T>> {
    match parsed {
        Ok(v) => Ok(Some(v)),
        Err(Error::Validation(mut e)) => {
            errors.append(&mut e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
