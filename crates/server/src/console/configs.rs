//! An org's configs page: its own values, editable by a key above it, and
//! the effective values with the org each comes from.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use orgd_core::api_keys::Permission;
use orgd_core::configs::REGISTRY;
use orgd_core::configs::service::ConfigsChange;
use orgd_core::orgs::Org;
use serde_json::{Map, Value};

use super::ctx::Ctx;
use super::form::Form;
use super::layout::{self, Feedback};
use super::org::Done;
use crate::state::AppState;

/// Whether the caller may change `org`'s configs: a key of a strict
/// ancestor, or the root's own key for the root (SPEC §2).
fn may_govern(ctx: &Ctx, org: &Org) -> bool {
    ctx.who().permissions.has(Permission::Write)
        && ctx
            .who()
            .governs_reached(&org.id, org.parent_id.is_none(), true)
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    render_configs(
        &state,
        &ctx,
        &org_id,
        done.done(),
        &Feedback::default(),
        None,
    )
    .await
}

async fn render_configs(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    done: Option<&str>,
    fb: &Feedback,
    sent: Option<&Form>,
) -> Response {
    let who = ctx.who();
    let (org, own, effective) = match tokio::try_join!(
        state.orgd.get_org(who, org_id),
        state.orgd.get_configs(who, org_id),
        state.orgd.effective_configs(who, org_id),
    ) {
        Ok(found) => found,
        Err(e) => return layout::domain_error(&e),
    };
    let org = org.view();
    let editable = may_govern(ctx, &org);
    let table = html! {
    div.table-wrap {
        table #effective {
            thead { tr {
                th scope="col" { "Key" }
                th scope="col" { "Own value" }
                th scope="col" class="num" { "Effective" }
                th scope="col" { "Set by" }
            } }
            tbody {
                @for spec in REGISTRY.iter() {
                    @let own_value = own.value.get(spec.key).map(|v| v.to_string());
                    @let shown = sent.map_or(own_value.clone(), |f| f.raw(spec.key).map(str::to_owned));
                    @let eff = effective.get(spec.key);
                    @let error = fb.for_field("configs", spec.key);
                    @let input_id = format!("config-{}", spec.key.replace('.', "-"));
                    tr {
                        td {
                            label for=(input_id) { code { (spec.key) } }
                            span.muted { (spec.display_text) }
                        }
                        td {
                            @if editable {
                                input id=(input_id) name=(spec.key) type="text" inputmode="numeric"
                                    value=[shown] placeholder="unset"
                                    aria-invalid=[error.map(|_| "true")]
                                    aria-describedby={ (input_id) "-error" };
                                (layout::field_error(&input_id, error))
                            } @else {
                                @match own_value {
                                    Some(v) => code { (v) },
                                    None => span.muted { "unset" },
                                }
                            }
                        }
                        td.num {
                            @match eff.and_then(|e| e.value) {
                                Some(v) => (v),
                                None => span.muted { "unlimited" },
                            }
                        }
                        td {
                            @if let Some(src) = eff.and_then(|e| e.source.as_deref()) {
                                a href={ "/console/orgs/" (src) "/configs" } { (src) }
                            }
                        }
                    }
                }
            }
        }
    }
    };
    let body = html! {
        (layout::flash(done))
        p.muted { "Limits and other settings. An org inherits each from the nearest ancestor that sets it; only a key above an org may change its configs." }
        @if editable {
            form #configs method="post" action={ "/console/orgs/" (org.id) "/configs" } {
                (layout::csrf(ctx))
                (table)
                (layout::form_errors(&fb.rest("configs", &REGISTRY.iter().map(|s| s.key).collect::<Vec<_>>())))
                p.muted { "Leave a field empty to unset it." }
                button type="submit" { "Save" }
            }
        } @else {
            (table)
            p.notice { "Your key cannot change this organization's configs: only a key of an organization above it can." }
        }
    };
    layout::respond(fb.status(), layout::org_page(ctx, &org, "/configs", body))
}

pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    // The whole set, as the form shows it: an empty field is unset. Values
    // go to the service as text; it parses and bounds them, and names a
    // bad one.
    let mut body = Map::new();
    for spec in REGISTRY.iter() {
        if let Some(v) = form.get(spec.key) {
            body.insert(spec.key.to_owned(), Value::String(v.to_owned()));
        }
    }
    let change = ConfigsChange::Replace(Value::Object(body));
    match state
        .orgd
        .change_configs(ctx.who(), ctx.origin(), &org_id, change, None)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/console/orgs/{org_id}/configs?done=saved")).into_response()
        }
        Err(e) => match Feedback::for_error("configs", &e) {
            Some(fb) => render_configs(&state, &ctx, &org_id, None, &fb, Some(&form)).await,
            None => layout::domain_error(&e),
        },
    }
}
