//! An org's API keys: listed, created (the secret shown once, on the answer
//! to the form, never in a URL and never again), revoked.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use orgd_core::api_keys::service::CreatedKey;
use orgd_core::api_keys::{NewKey, Permission};
use orgd_core::page::{PageRequest, decode_id_cursor};

use super::ctx::Ctx;
use super::form::Form;
use super::layout::{self, Feedback};
use crate::state::AppState;

const PAGE: usize = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct KeysQuery {
    cursor: Option<String>,
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(q): Query<KeysQuery>,
) -> Response {
    render(&state, &ctx, &org_id, &q, &Feedback::default(), None).await
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    q: &KeysQuery,
    fb: &Feedback,
    created: Option<&CreatedKey>,
) -> Response {
    let who = ctx.who();
    let after = match q.cursor.as_deref().map(decode_id_cursor).transpose() {
        Ok(a) => a,
        Err(e) => return layout::domain_error(&e),
    };
    let page = PageRequest { limit: PAGE, after };
    let org = match state.orgd.get_org(who, org_id).await {
        Ok(org) => org.view(),
        Err(e) => return layout::domain_error(&e),
    };
    let admin = who.permissions.has(Permission::Admin);
    if !admin {
        return layout::ok(layout::org_page(
            ctx,
            &org,
            "/keys",
            layout::needs_admin("API keys"),
        ));
    }
    let keys = match state.orgd.list_keys(who, org_id, page).await {
        Ok(keys) => keys,
        Err(e) => return layout::domain_error(&e),
    };
    let base = format!("/console/orgs/{}/keys", org.id);
    let body = html! {
        (layout::flash(q.done.as_deref()))
        @if let Some(c) = created {
            (layout::secret_once(
                html! { "Key “" (c.key.name) "” created" },
                "Copy the secret now: it is shown this once, and orgd keeps only a digest of it.",
                &c.secret,
            ))
        }
        div.table-wrap {
            table #keys {
                thead { tr {
                    th scope="col" { "Name" }
                    th scope="col" { "Prefix" }
                    th scope="col" { "Permissions" }
                    th scope="col" class="hide-small" { "User" }
                    th scope="col" class="hide-small" { "Created" }
                    th scope="col" { "Last used" }
                    th scope="col" { "Expires" }
                    @if admin { th scope="col" { span.skip { "Revoke" } } }
                } }
                tbody {
                    @for k in &keys.items {
                        tr data-key=(k.id) {
                            td { (k.name) br; code.muted { (k.id) } }
                            td { code { (k.prefix) "…" } }
                            td { @for p in &k.permissions { span.badge { (p) } } }
                            td class="hide-small" { (k.user.as_deref().unwrap_or("")) }
                            td class="hide-small" { (layout::time(&k.created_at)) }
                            td { (layout::maybe_time(k.last_used_at.as_ref())) }
                            td { (layout::maybe_time(k.expires_at.as_ref())) }
                            @if admin {
                                td {
                                    form method="post" action={ (base) "/" (k.id) "/revoke" } {
                                        (layout::csrf(ctx))
                                        button.danger type="submit" aria-label={ "Revoke " (k.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if keys.items.is_empty() { p.muted { "No live keys." } }
        (layout::next_link(&base, &[], keys.next.as_deref()))
        @if admin {
            section.card {
                h2 { "New key" }
                form #new-key method="post" action=(base) {
                    (layout::csrf(ctx))
                    label for="key-name" { "Name" }
                    input #key-name name="name" type="text" required aria-describedby="key-name-error";
                    (layout::field_error("key-name", fb.for_field("new-key", "name")))
                    label for="key-user" { "Acts for " span.muted { "(optional: a person or system, shown in logs)" } }
                    input #key-user name="user" type="text" aria-describedby="key-user-error";
                    (layout::field_error("key-user", fb.for_field("new-key", "user")))
                    fieldset aria-describedby="permissions-error" {
                        legend { "Permissions" }
                        @for p in Permission::ALL {
                            label for={ "perm-" (p.as_str()) } {
                                input id={ "perm-" (p.as_str()) } type="checkbox" name="permissions" value=(p.as_str())
                                    checked[p == Permission::Read];
                                (p.as_str())
                            }
                        }
                    }
                    (layout::field_error("permissions", fb.for_field("new-key", "permissions")))
                    label for="key-expires" { "Expires " span.muted { "(optional, RFC 3339, e.g. 2027-01-31T00:00:00Z)" } }
                    input #key-expires name="expires_at" type="text" aria-describedby="key-expires-error";
                    (layout::field_error("key-expires", fb.for_field("new-key", "expires_at")))
                    (layout::form_errors(&fb.rest("new-key", &["name", "user", "permissions", "expires_at"])))
                    button type="submit" { "Create key" }
                }
            }
        }
    };
    layout::respond(fb.status(), layout::org_page(ctx, &org, "/keys", body))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let new = NewKey {
        name: form.raw("name").unwrap_or_default().to_owned(),
        user: form.get("user").map(str::to_owned),
        permissions: form.all("permissions"),
        expires_at: form.get("expires_at").map(str::to_owned),
        rate_limit_per_minute: None,
    };
    let q = KeysQuery::default();
    match state
        .orgd
        .create_key(ctx.who(), ctx.origin(), &org_id, new)
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
        Err(e) => match Feedback::for_error("new-key", &e) {
            Some(fb) => render(&state, &ctx, &org_id, &q, &fb, None).await,
            None => layout::domain_error(&e),
        },
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((org_id, key_id)): Path<(String, String)>,
    _checked: Form,
) -> Response {
    match state
        .orgd
        .delete_key(ctx.who(), ctx.origin(), &org_id, &key_id)
        .await
    {
        Ok(()) => {
            Redirect::to(&format!("/console/orgs/{org_id}/keys?done=revoked")).into_response()
        }
        Err(e) => layout::domain_error(&e),
    }
}
