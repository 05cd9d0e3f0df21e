//! An org's customizations page: a JSON editor, validated by the service,
//! and the effective view with the source of each key.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use orgd_core::api_keys::Permission;
use serde_json::Value;

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
    render_customizations(
        &state,
        &ctx,
        &org_id,
        done.done(),
        &Feedback::default(),
        None,
    )
    .await
}

async fn render_customizations(
    state: &AppState,
    ctx: &Ctx,
    org_id: &str,
    done: Option<&str>,
    fb: &Feedback,
    sent: Option<&str>,
) -> Response {
    let who = ctx.who();
    let (org, effective) = match tokio::try_join!(
        state.orgd.get_org(who, org_id),
        state.orgd.effective_customizations(who, org_id),
    ) {
        Ok(found) => found,
        Err(e) => return layout::domain_error(&e),
    };
    let own = serde_json::to_string_pretty(&org.customizations).unwrap_or_default();
    let org = org.view();
    let editable = who.permissions.has(Permission::Write);
    let error = fb.for_field("customizations", "document");
    let others = fb.rest("customizations", &["document"]);
    let body = html! {
        (layout::flash(done))
        div.cards {
            section.card {
                h2 { "Own customizations" }
                @if editable {
                    form #customizations method="post" action={ "/console/orgs/" (org.id) "/customizations" } {
                        (layout::csrf(ctx))
                        label for="document" { "JSON object" }
                        textarea #document name="document" spellcheck="false"
                            aria-invalid=[(error.is_some() || !others.is_empty()).then_some("true")]
                            aria-describedby="document-error" {
                            (sent.unwrap_or(&own))
                        }
                        (layout::field_error("document", error))
                        (layout::form_errors(&others))
                        button type="submit" { "Save" }
                    }
                } @else {
                    (layout::json_block(&org.customizations))
                }
            }
            section #effective.card {
                h2 { "Effective" }
                p.muted { "Merged down the tree: an org's own keys win over its ancestors'." }
                (layout::json_block(&effective.customizations))
                @if !effective.sources.is_empty() {
                    table #sources {
                        thead { tr { th scope="col" { "Key" } th scope="col" { "From" } } }
                        tbody {
                            @for (key, src) in &effective.sources {
                                tr {
                                    td { code { (key) } }
                                    td { a href={ "/console/orgs/" (src) "/customizations" } { (src) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::respond(
        fb.status(),
        layout::org_page(ctx, &org, "/customizations", body),
    )
}

pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    form: Form,
) -> Response {
    let text = form.raw("document").unwrap_or_default();
    let parsed: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let fb = Feedback {
                form: "customizations",
                fields: vec![("document".into(), format!("Not valid JSON: {e}"))],
            };
            return render_customizations(&state, &ctx, &org_id, None, &fb, Some(text)).await;
        }
    };
    match state
        .orgd
        .replace_customizations(ctx.who(), ctx.origin(), &org_id, parsed, None)
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/orgs/{org_id}/customizations?done=saved"))
            .into_response(),
        Err(e) => match Feedback::for_error("customizations", &e) {
            Some(fb) => render_customizations(&state, &ctx, &org_id, None, &fb, Some(text)).await,
            None => layout::domain_error(&e),
        },
    }
}
