//! An org's tags: listed, added, removed.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use orgd_core::api_keys::Permission;

use super::ctx::Ctx;
use super::form::Form;
use super::layout::{self, Feedback};
use super::org::Done;
use crate::state::AppState;

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    render(&state, &ctx, &org_id, done.done(), &Feedback::default()).await
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    done: Option<&str>,
    fb: &Feedback,
) -> Response {
    let who = ctx.who();
    let (org, tags) = match tokio::try_join!(
        state.orgd.get_org(who, org_id),
        state.orgd.list_tags(who, org_id),
    ) {
        Ok(found) => found,
        Err(e) => return layout::domain_error(&e),
    };
    let org = org.view();
    let editable = who.permissions.has(Permission::Write);
    let base = format!("/console/orgs/{}/tags", org.id);
    let body = html! {
        (layout::flash(done))
        @if tags.is_empty() {
            p.muted { "No tags." }
        }
        ul #tags {
            @for tag in &tags {
                li {
                    span.badge { (tag.name) }
                    " " span.muted { "added " (layout::time(&tag.created_at)) }
                    @if who.permissions.has(Permission::Delete) {
                        form.inline method="post" action={ (base) "/" (tag.id) "/delete" } {
                            (layout::csrf(ctx))
                            button.secondary type="submit" aria-label={ "Remove tag " (tag.name) } { "Remove" }
                        }
                    }
                }
            }
        }
        @if editable {
            form #add-tag method="post" action=(base) {
                (layout::csrf(ctx))
                label for="tag-name" { "New tag" }
                input #tag-name name="name" type="text" required aria-describedby="tag-name-error";
                (layout::field_error("tag-name", fb.for_field("add-tag", "name")))
                (layout::form_errors(&fb.rest("add-tag", &["name"])))
                button type="submit" { "Add tag" }
            }
        }
    };
    layout::respond(fb.status(), layout::org_page(ctx, &org, "/tags", body))
}

pub async fn add(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let name = form.raw("name").unwrap_or_default();
    match state
        .orgd
        .create_tag(ctx.who(), ctx.origin(), &org_id, name)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/console/orgs/{org_id}/tags?done=tag-added")).into_response()
        }
        Err(e) => match Feedback::for_error("add-tag", &e) {
            Some(fb) => render(&state, &ctx, &org_id, None, &fb).await,
            None => layout::domain_error(&e),
        },
    }
}

pub async fn remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((org_id, tag_id)): Path<(String, String)>,
    _checked: Form,
) -> Response {
    match state
        .orgd
        .delete_tag(ctx.who(), ctx.origin(), &org_id, &tag_id)
        .await
    {
        Ok(()) => {
            Redirect::to(&format!("/console/orgs/{org_id}/tags?done=tag-removed")).into_response()
        }
        Err(e) => layout::domain_error(&e),
    }
}
