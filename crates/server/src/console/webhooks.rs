//! An org's webhooks (listed, created with the signing secret shown once),
//! and a webhook's deliveries, each retried on demand.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use orgd_core::authz::Principal;
use orgd_core::page::{PageRequest, decode_id_cursor, decode_number_cursor};
use orgd_core::webhooks::DeliveryStatus;
use orgd_core::webhooks::service::{NewWebhook, WebhookWithSecret};

use super::ctx::Ctx;
use super::form::Form;
use super::layout::{self, Feedback};
use crate::state::AppState;

const PAGE: usize = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
    status: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    render(&state, &ctx, &org_id, &q, &Feedback::default(), None).await
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    q: &ListQuery,
    fb: &Feedback,
    created: Option<&WebhookWithSecret>,
) -> Response {
    let who = ctx.who();
    let after = match q.cursor.as_deref().map(decode_id_cursor).transpose() {
        Ok(a) => a,
        Err(e) => return layout::domain_error(&e),
    };
    let org = match state.orgd.get_org(who, org_id).await {
        Ok(org) => org.view(),
        Err(e) => return layout::domain_error(&e),
    };
    if !manages_webhooks(who) {
        return layout::ok(layout::org_page(
            ctx,
            &org,
            "/webhooks",
            layout::needs_admin("Webhooks"),
        ));
    }
    let hooks = match state
        .orgd
        .list_webhooks(who, org_id, PageRequest { limit: PAGE, after })
        .await
    {
        Ok(hooks) => hooks,
        Err(e) => return layout::domain_error(&e),
    };
    let base = format!("/console/orgs/{}/webhooks", org.id);
    let body = html! {
        (layout::flash(q.done.as_deref()))
        @if let Some(c) = created {
            (layout::secret_once(
                html! { "Webhook created" },
                "Its signing secret is shown this once: copy it to the receiver now.",
                &c.secret,
            ))
        }
        div.table-wrap {
            table #webhooks {
                thead { tr {
                    th scope="col" { "URL" }
                    th scope="col" { "Scope" }
                    th scope="col" { "Events" }
                    th scope="col" { "State" }
                    th scope="col" class="hide-small" { "Created" }
                } }
                tbody {
                    @for h in &hooks.items {
                        tr data-webhook=(h.id) {
                            td { a href={ (base) "/" (h.id) } { (h.url) }
                                @if let Some(d) = &h.description { br; span.muted { (d) } } }
                            td { (h.scope.as_str()) }
                            td { @if h.types.is_empty() { span.muted { "all" } } @for t in &h.types { span.badge { (t) } } }
                            td {
                                @if h.disabled_at.is_some() { span.badge.bad { "disabled" } }
                                @else if !h.enabled { span.badge { "paused" } }
                                @else if h.failing_since.is_some() { span.badge.bad { "failing" } }
                                @else { span.badge.ok { "active" } }
                            }
                            td class="hide-small" { (layout::time(&h.created_at)) }
                        }
                    }
                }
            }
        }
        @if hooks.items.is_empty() { p.muted { "No webhooks." } }
        (layout::next_link(&base, &[], hooks.next.as_deref()))
        @if manages_webhooks(who) {
            section.card {
                h2 { "New webhook" }
                form #new-webhook method="post" action=(base) {
                    (layout::csrf(ctx))
                    label for="webhook-url" { "URL" }
                    input #webhook-url name="url" type="url" required placeholder="https://example.com/orgd-events"
                        aria-describedby="webhook-url-error";
                    (layout::field_error("webhook-url", fb.for_field("new-webhook", "url")))
                    label for="webhook-scope" { "Events of" }
                    select #webhook-scope name="scope" {
                        option value="self" { "this organization" }
                        option value="subtree" { "this organization and everything below it" }
                    }
                    label for="webhook-description" { "Description " span.muted { "(optional)" } }
                    input #webhook-description name="description" type="text";
                    (layout::form_errors(&fb.rest("new-webhook", &["url"])))
                    button type="submit" { "Create webhook" }
                }
            }
        }
    };
    layout::respond(fb.status(), layout::org_page(ctx, &org, "/webhooks", body))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let new = NewWebhook {
        url: form.raw("url").unwrap_or_default().trim().to_owned(),
        types: None,
        scope: form.get("scope").map(str::to_owned),
        description: form.get("description").map(str::to_owned),
    };
    let q = ListQuery::default();
    match state
        .orgd
        .create_webhook(ctx.who(), ctx.origin(), &org_id, new)
        .await
    {
        Ok(created) => {
            render(
                &state,
                &ctx,
                &org_id,
                &q,
                &Feedback::default(),
                Some(&created),
            )
            .await
        }
        Err(e) => match Feedback::for_error("new-webhook", &e) {
            Some(fb) => render(&state, &ctx, &org_id, &q, &fb, None).await,
            None => layout::domain_error(&e),
        },
    }
}

pub async fn deliveries(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((org_id, webhook_id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    let who = ctx.who();
    let after = match q.cursor.as_deref().map(decode_number_cursor).transpose() {
        Ok(a) => a,
        Err(e) => return layout::domain_error(&e),
    };
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match DeliveryStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return layout::domain_error(&orgd_core::Error::invalid(
                    "status",
                    "must be pending, succeeded or failed",
                ));
            }
        },
    };
    let (org, hook, list) = match tokio::try_join!(
        state.orgd.get_org(who, &org_id),
        state.orgd.get_webhook(who, &org_id, &webhook_id),
        state.orgd.list_deliveries(
            who,
            &org_id,
            &webhook_id,
            status,
            PageRequest { limit: PAGE, after }
        ),
    ) {
        Ok(found) => found,
        Err(e) => return layout::domain_error(&e),
    };
    let org = org.view();
    let base = format!("/console/orgs/{}/webhooks/{}", org.id, hook.id);
    let chosen = q.status.as_deref().unwrap_or("");
    let may_retry = manages_webhooks(who);
    let body = html! {
        (layout::flash(q.done.as_deref()))
        h2 { "Deliveries to " code { (hook.url) } }
        form #filters method="get" action=(base) {
            div.inline {
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        option value="" selected[chosen.is_empty()] { "any" }
                        @for s in ["pending", "succeeded", "failed"] {
                            option value=(s) selected[chosen == s] { (s) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
        }
        div.table-wrap {
            table #deliveries {
                thead { tr {
                    th scope="col" { "Event" }
                    th scope="col" { "Status" }
                    th scope="col" class="num" { "Attempts" }
                    th scope="col" { "Last attempt" }
                    th scope="col" class="hide-small" { "Last answer" }
                    @if may_retry { th scope="col" { span.skip { "Retry" } } }
                } }
                tbody {
                    @for d in &list.items {
                        tr data-delivery=(d.id) {
                            td { code { (d.event_type) } br; code.muted { (d.event_id) } }
                            td { (d.status.as_str()) }
                            td.num { (d.attempts) }
                            td { (layout::maybe_time(d.last_attempt_at.as_ref())) }
                            td class="hide-small" {
                                @if let Some(c) = d.last_status_code { (c) " " }
                                @if let Some(e) = &d.last_error { span.muted { (e) } }
                            }
                            @if may_retry {
                                td {
                                    form method="post" action={ (base) "/deliveries/" (d.id) "/retry" } {
                                        (layout::csrf(&ctx))
                                        button.secondary type="submit" aria-label={ "Retry delivery " (d.id) } { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if list.items.is_empty() { p.muted { "No deliveries." } }
        (layout::next_link(&base, &[("status", chosen)], list.next.as_deref()))
        p { a href={ "/console/orgs/" (org.id) "/webhooks" } { "All webhooks" } }
    };
    layout::ok(layout::org_page(&ctx, &org, "/webhooks", body))
}

pub async fn retry(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((org_id, webhook_id, delivery_id)): Path<(String, String, String)>,
    _checked: Form,
) -> Response {
    match state
        .orgd
        .retry_delivery(ctx.who(), &org_id, &webhook_id, &delivery_id)
        .await
    {
        Ok(_) => Redirect::to(&format!(
            "/console/orgs/{org_id}/webhooks/{webhook_id}?done=retried"
        ))
        .into_response(),
        Err(e) => layout::domain_error(&e),
    }
}

/// The webhook rule of the API (`authz::WEBHOOKS`: `admin` and `read`),
/// asked before a page offers what the service would refuse.
fn manages_webhooks(who: &Principal) -> bool {
    who.permissions
        .lacking(orgd_core::authz::WEBHOOKS)
        .is_empty()
}
