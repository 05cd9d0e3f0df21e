//! An org's limits: for each limited thing, what is used against the
//! effective limit, as a meter, with the org that sets the limit; a limit
//! reached or passed is marked.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;

use super::ctx::Ctx;
use super::layout;
use crate::state::AppState;

pub async fn page(State(state): State<AppState>, ctx: Ctx, Path(org_id): Path<String>) -> Response {
    let who = ctx.who();
    let (org, limits) = match tokio::try_join!(
        state.orgd.get_org(who, &org_id),
        state.orgd.limits(who, &org_id),
    ) {
        Ok(found) => found,
        Err(e) => return layout::domain_error(&e),
    };
    let org = org.view();
    let body = html! {
        p.muted { "Limits come from the configs (" a href={ "/console/orgs/" (org.id) "/configs" } { "change them there" } "); an org inherits the nearest one set above it." }
        div.table-wrap {
            table #limits {
                thead { tr {
                    th scope="col" { "Resource" }
                    th scope="col" class="num" { "Used" }
                    th scope="col" class="num" { "Limit" }
                    th scope="col" { "Usage" }
                    th scope="col" { "State" }
                    th scope="col" { "Set by" }
                } }
                tbody {
                    @for (name, s) in &limits {
                        @let at_or_over = s.limit.is_some_and(|l| s.used >= l);
                        tr data-resource=(name) class=[at_or_over.then_some("over")] {
                            td { (name.replace('_', " ")) }
                            td.num { (s.used) }
                            td.num {
                                @match s.limit { Some(l) => (l), None => span.muted { "none" } }
                            }
                            td {
                                @if let Some(l) = s.limit {
                                    meter min="0" max=(l.max(1)) high=((l.max(1) * 9 + 9) / 10) value=(s.used.min(l.max(1)))
                                        aria-label={ (name) ": " (s.used) " of " (l) } {}
                                }
                            }
                            td.state {
                                @if s.over_limit { "over limit" }
                                @else if at_or_over { "at limit" }
                                @else if s.limit.is_some() { span.muted { "within" } }
                            }
                            td {
                                @if let Some(src) = &s.source {
                                    a href={ "/console/orgs/" (src) "/configs" } { (src) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::ok(layout::org_page(&ctx, &org, "/limits", body))
}
