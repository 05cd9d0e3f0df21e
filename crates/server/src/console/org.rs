//! An org's overview, and what changes it: rename, move, delete (the org's
//! name typed to confirm, with the number of orgs the cascade removes), and
//! a new child. A form shows only where the key may use it; the service
//! decides either way.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use orgd_core::api_keys::Permission;
use orgd_core::orgs::service::OrgPatch;
use orgd_core::orgs::{NewOrg, Org};

use super::ctx::Ctx;
use super::form::Form;
use super::layout::{self, Feedback};
use crate::state::AppState;

#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

impl Done {
    /// Which change a redirect after a post reports (see `layout::flash`).
    pub fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    render(&state, &ctx, &org_id, done.done(), &Feedback::default()).await
}

/// Whether the caller may move or delete `org` (SPEC §2: a key of a strict
/// ancestor).
fn governs(ctx: &Ctx, org: &Org) -> bool {
    ctx.who()
        .governs_reached(&org.id, org.parent_id.is_none(), false)
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    done: Option<&str>,
    fb: &Feedback,
) -> Response {
    let org = match state.orgd.get_org(ctx.who(), org_id).await {
        Ok(org) => org.view(),
        Err(e) => return layout::domain_error(&e),
    };
    let can = |p| ctx.who().permissions.has(p);
    let may_delete = can(Permission::Delete) && governs(ctx, &org);
    let doomed = if may_delete {
        match state.orgd.subtree_size(ctx.who(), org_id).await {
            Ok(n) => n,
            Err(e) => return layout::domain_error(&e),
        }
    } else {
        0
    };
    let base = format!("/console/orgs/{}", org.id);
    let body = html! {
        (layout::flash(done))
        div.cards {
            section.card {
                h2 { "Details" }
                table.details {
                    tbody {
                        tr { th scope="row" { "Id" } td { code { (org.id) } } }
                        tr { th scope="row" { "Name" } td { (org.name) } }
                        tr { th scope="row" { "Parent" } td {
                            @match &org.parent_id {
                                Some(p) => a href={ "/console/orgs/" (p) } { (p) },
                                None => span.muted { "none (the root)" },
                            }
                        } }
                        tr { th scope="row" { "Tags" } td {
                            @for t in &org.tags { span.badge { (t) } }
                            @if org.tags.is_empty() { span.muted { "none" } }
                        } }
                        tr { th scope="row" { "Created" } td { (layout::time(&org.created_at)) } }
                        tr { th scope="row" { "Updated" } td { (layout::time(&org.updated_at)) } }
                        tr { th scope="row" { "Version" } td { (org.version) } }
                    }
                }
                p { a href={ "/console/tree?at=" (org.id) } { "Children in the tree" } }
            }
            @if can(Permission::Write) {
                section.card {
                    h2 { "Rename" }
                    form #rename method="post" action={ (base) "/rename" } {
                        (layout::csrf(ctx))
                        label for="rename-name" { "New name" }
                        input #rename-name name="name" type="text" required value=(org.name)
                            aria-describedby="rename-name-error";
                        (layout::field_error("rename-name", fb.for_field("rename", "name")))
                        (layout::form_errors(&fb.rest("rename", &["name"])))
                        button type="submit" { "Rename" }
                    }
                }
                section.card {
                    h2 { "New child organization" }
                    form #new-child method="post" action={ (base) "/children" } {
                        (layout::csrf(ctx))
                        label for="child-name" { "Name" }
                        input #child-name name="name" type="text" required
                            aria-describedby="child-name-error";
                        (layout::field_error("child-name", fb.for_field("new-child", "name")))
                        label for="child-id" { "Id " span.muted { "(optional; one is made if left empty)" } }
                        input #child-id name="id" type="text" aria-describedby="child-id-error";
                        (layout::field_error("child-id", fb.for_field("new-child", "id")))
                        (layout::form_errors(&fb.rest("new-child", &["name", "id"])))
                        button type="submit" { "Create org" }
                    }
                }
            }
            @if can(Permission::Write) && governs(ctx, &org) {
                section.card {
                    h2 { "Move" }
                    form #move method="post" action={ (base) "/move" } {
                        (layout::csrf(ctx))
                        label for="move-parent" { "New parent's id" }
                        input #move-parent name="parent_id" type="text" required
                            aria-describedby="move-parent-error";
                        (layout::field_error("move-parent", fb.for_field("move", "parent_id")))
                        (layout::form_errors(&fb.rest("move", &["parent_id"])))
                        button type="submit" { "Move" }
                    }
                }
            }
            @if may_delete {
                section.card.danger-zone {
                    h2 { "Delete" }
                    p {
                        "Deleting removes "
                        strong #delete-count { (doomed) }
                        @if doomed == 1 { " organization" } @else { " organizations" }
                        " (this one and everything below it), with their keys. Their audit trails stay."
                    }
                    form #delete method="post" action={ (base) "/delete" } {
                        (layout::csrf(ctx))
                        label for="delete-confirm" { "Type “" (org.name) "” to confirm" }
                        input #delete-confirm name="confirm" type="text" required autocomplete="off"
                            aria-describedby="delete-confirm-error";
                        (layout::field_error("delete-confirm", fb.for_field("delete", "confirm")))
                        (layout::form_errors(&fb.rest("delete", &["confirm"])))
                        button.danger type="submit" { "Delete" }
                    }
                }
            }
        }
    };
    layout::respond(fb.status(), layout::org_page(ctx, &org, "", body))
}

fn done(org_id: &str, what: &str) -> Response {
    Redirect::to(&format!("/console/orgs/{org_id}?done={what}")).into_response()
}

pub async fn rename(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let patch = OrgPatch {
        name: Some(form.raw("name").unwrap_or_default().to_owned()),
        ..OrgPatch::default()
    };
    update(&state, &ctx, &org_id, patch, "rename", "renamed").await
}

pub async fn move_org(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let patch = OrgPatch {
        parent_id: Some(form.get("parent_id").unwrap_or_default().to_owned()),
        ..OrgPatch::default()
    };
    update(&state, &ctx, &org_id, patch, "move", "moved").await
}

/// Applies `patch`, asked for by `form`; `done` names the change for the
/// page after it.
async fn update(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    patch: OrgPatch,
    form: &'static str,
    done_what: &str,
) -> Response {
    match state
        .orgd
        .update_org(ctx.who(), ctx.origin(), org_id, patch, None)
        .await
    {
        Ok(_) => done(org_id, done_what),
        Err(e) => failed(state, ctx, org_id, form, &e).await,
    }
}

pub async fn create_child(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let new = NewOrg {
        id: form.get("id").map(str::to_owned),
        name: form.raw("name").unwrap_or_default().to_owned(),
        parent_id: Some(org_id.clone()),
        customizations: None,
        tags: vec![],
        configs: None,
    };
    match state.orgd.create_org(ctx.who(), ctx.origin(), new).await {
        Ok(child) => done(&child.id, "created"),
        Err(e) => failed(&state, &ctx, &org_id, "new-child", &e).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let org = match state.orgd.get_org(ctx.who(), &org_id).await {
        Ok(org) => org,
        Err(e) => return layout::domain_error(&e),
    };
    // The typed name is asked of a key that may delete; any other key's post
    // goes to the service, which refuses it as it would the API's.
    let may_delete = ctx.who().permissions.has(Permission::Delete)
        && ctx
            .who()
            .governs_reached(org.id.as_str(), org.parent_id.is_none(), false);
    if may_delete && form.raw("confirm").map(str::trim) != Some(org.name.trim()) {
        let fb = Feedback {
            form: "delete",
            fields: vec![(
                "confirm".into(),
                format!(
                    "Type the organization's name, “{}”, exactly to confirm.",
                    org.name
                ),
            )],
        };
        return render(&state, &ctx, &org_id, None, &fb).await;
    }
    match state
        .orgd
        .delete_org(ctx.who(), ctx.origin(), &org_id, true, None)
        .await
    {
        Ok(()) => match &org.parent_id {
            Some(parent) => done(parent.as_str(), "deleted"),
            None => Redirect::to("/console/tree").into_response(),
        },
        Err(e) => failed(&state, &ctx, &org_id, "delete", &e).await,
    }
}

/// A change the service refused: the org's page again, the message beside
/// the form that asked. A not-found is the form's (a move's parent, say)
/// while the org itself is still in reach; otherwise it and every other
/// error that ends a request get their own page.
async fn failed(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    form: &'static str,
    e: &orgd_core::Error,
) -> Response {
    let feedback = match e {
        orgd_core::Error::NotFound(what) if state.orgd.get_org(ctx.who(), org_id).await.is_ok() => {
            Some(Feedback {
                form,
                fields: vec![(String::new(), format!("No such {what} in your reach."))],
            })
        }
        _ => Feedback::for_error(form, e),
    };
    match feedback {
        Some(fb) => render(state, ctx, org_id, None, &fb).await,
        None => layout::domain_error(e),
    }
}
