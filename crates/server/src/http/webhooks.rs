//! `/orgs/{org_id}/webhooks`: endpoints that receive the org's events
//! (SPEC §11), their deliveries, retries and replays. Every route needs
//! `admin` and `read` in the org (`orgd_core::authz::WEBHOOKS`): a webhook
//! delivers what the event feed serves.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use orgd_core::page::{
    PageRequest, decode_feed_cursor, decode_number_cursor, encode_feed_cursor, parse_limit,
};
use orgd_core::webhooks::service::{NewWebhook, ReplayFrom, WebhookPatch, WebhookWithSecret};
use orgd_core::webhooks::{Delivery, DeliveryStatus, Webhook, WebhookScope};
use orgd_core::{Error, schema};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppQuery, present};
use super::idempotency::shown_once;
use super::orgs::{Message, id_page};
use super::paging::{PageParams, page_response};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::{ApiResult, ProblemBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
        .routes(routes!(replay))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWebhookBody {
    /// Where events are posted: `http` or `https`, at most 2048 characters.
    /// Its host must be (and resolve only to) addresses the IANA
    /// special-purpose registries count as globally reachable: not
    /// loopback, private, link-local, documentation, benchmarking,
    /// multicast or another special range.
    #[schema(value_type = schema::WebhookUrl)]
    url: String,
    /// Event types (`configs.update`) and prefixes (`org.*`); absent or
    /// `null`: every type.
    #[schema(value_type = Option<schema::EventTypes>)]
    types: Option<Vec<String>>,
    /// `subtree` (the default): the org's events and every descendant's;
    /// `self`: the org's own.
    #[schema(value_type = Option<WebhookScope>)]
    scope: Option<String>,
    #[schema(value_type = Option<schema::WebhookDescription>)]
    description: Option<String>,
}

/// An endpoint with its secret: the only response that shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretBody {
    #[serde(flatten)]
    webhook: Webhook,
    /// `whsec_` and the base64 of 32 random bytes: the key of the
    /// `webhook-signature` HMAC (Standard Webhooks). Store it now: it is
    /// never shown again, not even to a retry with the same
    /// `Idempotency-Key`, whose replayed response leaves it out.
    #[schema(
        required = false,
        example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJk7Fx1hpZ0c="
    )]
    secret: String,
}

/// What a `PATCH` changes; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateWebhookBody {
    #[schema(value_type = Option<schema::WebhookUrl>)]
    url: Option<String>,
    /// `null`: every type.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<schema::EventTypes>)]
    types: Option<Option<Vec<String>>>,
    #[schema(value_type = Option<WebhookScope>)]
    scope: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<schema::WebhookDescription>)]
    description: Option<Option<String>>,
    /// `false` pauses deliveries: events that happen meanwhile are queued
    /// when it is enabled again (as long as they are kept). `true` also
    /// re-enables an endpoint orgd disabled for failing.
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries in this state.
    #[param(pattern = "^(pending|succeeded|failed)$")]
    status: Option<String>,
    /// Rows per page, 1–1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `cursor` from the previous page's `Link: rel="next"`, as given.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// Where a replay starts: exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplayBody {
    /// A feed cursor (the `after` of `GET /orgs/{org_id}/events`): the events
    /// after it.
    after: Option<String>,
    /// RFC 3339: the events that happened at or after it.
    #[schema(value_type = Option<schema::Timestamp>, example = "2026-11-24T00:00:00Z")]
    since: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayedBody {
    /// Deliveries queued.
    queued: usize,
    /// When the replay stopped at 10,000 events with more to go: the `after`
    /// to replay on from; otherwise `null`.
    next_after: Option<String>,
}

fn with_secret(status: StatusCode, shown: WebhookWithSecret, location: Option<&str>) -> Response {
    let body = WebhookWithSecretBody {
        webhook: shown.webhook,
        secret: shown.secret,
    };
    shown_once(status, location, body)
}

/// List the organization's webhook endpoints (never their secrets).
#[utoipa::path(
    get, path = "/orgs/{org_id}/webhooks", tag = "webhooks",
    params(("org_id" = String, Path, description = "The organization's id"), PageParams),
    responses(
        (status = 200, body = Vec<Webhook>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn list_webhooks(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(org_id): Path<String>,
    AppQuery(q): AppQuery<PageParams>,
) -> ApiResult<Response> {
    let page = s
        .orgd
        .list_webhooks(&caller.principal, &org_id, id_page(&q)?)
        .await?;
    Ok(page_response(&uri, page))
}

/// Create a webhook endpoint. It receives the events that follow its
/// creation (earlier ones can be replayed), each `POST`ed as JSON and signed
/// as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`).
#[utoipa::path(
    post, path = "/orgs/{org_id}/webhooks", tag = "webhooks",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body = CreateWebhookBody,
    responses(
        (status = 201, body = WebhookWithSecretBody, headers(("Location" = String))),
        (status = 400, description = "A bad field, or a URL whose host is (or resolves to) an address webhooks may not target", body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn create_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    AppJson(body): AppJson<CreateWebhookBody>,
) -> ApiResult<Response> {
    let new = NewWebhook {
        url: body.url,
        types: body.types,
        scope: body.scope,
        description: body.description,
    };
    let created = s
        .orgd
        .create_webhook(&caller.principal, &caller.origin, &org_id, new)
        .await?;
    let location = format!(
        "/orgs/{}/webhooks/{}",
        created.webhook.org_id, created.webhook.id
    );
    Ok(with_secret(StatusCode::CREATED, created, Some(&location)))
}

/// Retrieve one webhook endpoint (never its secret).
#[utoipa::path(
    get, path = "/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
    ),
    responses(
        (status = 200, body = Webhook),
        (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn get_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(
        s.orgd.get_webhook(&caller.principal, &org_id, &id).await?,
    ))
}

/// Change an endpoint's URL, types, scope, description, or pause and resume
/// it (`enabled`).
#[utoipa::path(
    patch, path = "/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
    ),
    request_body = UpdateWebhookBody,
    responses(
        (status = 200, body = Webhook),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn update_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(String, String)>,
    AppJson(body): AppJson<UpdateWebhookBody>,
) -> ApiResult<Json<Webhook>> {
    let patch = WebhookPatch {
        url: body.url,
        types: body.types,
        scope: body.scope,
        description: body.description,
        enabled: body.enabled,
    };
    Ok(Json(
        s.orgd
            .update_webhook(&caller.principal, &caller.origin, &org_id, &id, patch)
            .await?,
    ))
}

/// Delete an endpoint and its deliveries; nothing more is sent to it.
#[utoipa::path(
    delete, path = "/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
    ),
    responses(
        (status = 200, body = Message),
        (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn delete_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    s.orgd
        .delete_webhook(&caller.principal, &caller.origin, &org_id, &id)
        .await?;
    Ok(Json(Message {
        message: "Webhook deleted successfully".into(),
    }))
}

/// Give the endpoint a new secret, shown once. For 24 hours the old one
/// keeps signing beside it (two signatures in `webhook-signature`), so the
/// receiver can switch without missing a delivery.
#[utoipa::path(
    post, path = "/orgs/{org_id}/webhooks/{webhook_id}/rotate_secret", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
    ),
    responses(
        (status = 200, body = WebhookWithSecretBody),
        (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn rotate_secret(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let rotated = s
        .orgd
        .rotate_webhook_secret(&caller.principal, &caller.origin, &org_id, &id)
        .await?;
    Ok(with_secret(StatusCode::OK, rotated, None))
}

/// The endpoint's deliveries, newest first: each event sent (or to be sent)
/// to it, its attempts and the last answer.
#[utoipa::path(
    get, path = "/orgs/{org_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
        DeliveryParams,
    ),
    responses(
        (status = 200, body = Vec<Delivery>, headers(("Link" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
async fn list_deliveries(
    State(s): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path((org_id, id)): Path<(String, String)>,
    AppQuery(q): AppQuery<DeliveryParams>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let status = orgd_core::error::parse_optional(
        "status",
        q.status.as_deref(),
        |s| DeliveryStatus::parse(s).ok_or("must be pending, succeeded or failed"),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(Error::Validation(errors).into());
    }
    let page = PageRequest {
        limit: parse_limit(q.limit.as_deref())?,
        after: q.cursor.as_deref().map(decode_number_cursor).transpose()?,
    };
    let deliveries = s
        .orgd
        .list_deliveries(&caller.principal, &org_id, &id, status, page)
        .await?;
    Ok(page_response(&uri, deliveries))
}

/// Try one delivery again now, whatever became of it (a failed one gets a
/// new 3 days of retries; a succeeded one is sent again).
#[utoipa::path(
    post, path = "/orgs/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, body = Delivery),
        (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn retry_delivery(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, id, delivery_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    let d = s
        .orgd
        .retry_delivery(&caller.principal, &org_id, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

/// Send the endpoint's events again, from a feed cursor (`after`) or a time
/// (`since`), as far as the events kept go (`--event-retention-days`). Each
/// is a new delivery with the event's own id as `webhook-id`, so receivers
/// that remember ids see the repeat. At most 10,000 at a time.
#[utoipa::path(
    post, path = "/orgs/{org_id}/webhooks/{webhook_id}/replay", tag = "webhooks",
    params(
        ("org_id" = String, Path, description = "The organization's id"),
        ("webhook_id" = String, Path, description = "The endpoint's id"),
    ),
    request_body = ReplayBody,
    responses(
        (status = 202, body = ReplayedBody),
        (status = 400, description = "Neither or both of `after` and `since`, or a bad one", body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, description = "The key lacks `admin` or `read` (every webhook route needs both: a webhook delivers what the event feed serves)", body = ProblemBody), (status = 404, body = ProblemBody),
    )
)]
async fn replay(
    State(s): State<AppState>,
    caller: Caller,
    Path((org_id, id)): Path<(String, String)>,
    AppJson(body): AppJson<ReplayBody>,
) -> ApiResult<(StatusCode, Json<ReplayedBody>)> {
    let from = match (body.after.as_deref(), body.since.as_deref()) {
        (Some(after), None) => ReplayFrom::After(
            decode_feed_cursor(after)
                .map_err(|_| Error::invalid("after", "must be a cursor the event feed issued"))?,
        ),
        (None, Some(since)) => ReplayFrom::Since(
            orgd_core::time::parse(since)
                .ok_or_else(|| Error::invalid("since", "must be an RFC 3339 timestamp"))?,
        ),
        _ => {
            return Err(Error::invalid("after", "give exactly one of `after` and `since`").into());
        }
    };
    let done = s
        .orgd
        .replay_webhook(&caller.principal, &org_id, &id, from)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayedBody {
            queued: done.queued,
            next_after: done.next.map(encode_feed_cursor),
        }),
    ))
}
