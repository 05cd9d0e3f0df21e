//! The tree: one level at a time (an org's children, paged, each expandable
//! by following it), so a tree of 100,000 orgs costs a page of 50; and a
//! search by id, name prefix or tag.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use orgd_core::orgs::Org;
use orgd_core::orgs::service::OrgFilter;
use orgd_core::page::{PageRequest, decode_id_cursor};

use super::ctx::Ctx;
use super::layout;
use crate::state::AppState;

/// Rows a page of the tree shows.
const PAGE: usize = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct TreeQuery {
    at: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<TreeQuery>,
) -> Response {
    let at = query
        .at
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(ctx.who().org_id.as_str())
        .to_owned();
    let after = match query.cursor.as_deref().map(decode_id_cursor).transpose() {
        Ok(after) => after,
        Err(e) => return layout::domain_error(&e),
    };
    let page = PageRequest { limit: PAGE, after };
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let body = match q {
        Some(q) => match search(&state, &ctx, q, page).await {
            Ok(body) => body,
            Err(e) => return layout::domain_error(&e),
        },
        None => match state.orgd.tree_level(ctx.who(), &at, page).await {
            Ok(level) => level_view(&at, &level),
            Err(e) => return layout::domain_error(&e),
        },
    };
    layout::ok(layout::document(
        "Tree",
        Some(&ctx),
        html! {
            h1 { "Organizations" }
            form #search method="get" action="/console/tree" role="search" {
                label for="q" { "Search by id, name or tag" }
                div.inline {
                    div { input #q name="q" type="search" value=[q] placeholder="acme, org_01…, gold"; }
                    button type="submit" { "Search" }
                }
            }
            (body)
        },
    ))
}

fn level_view(at: &str, level: &orgd_core::orgs::tree::TreeLevel) -> Markup {
    html! {
        ol.breadcrumbs aria-label="Path" {
            @for a in &level.ancestors {
                li { a href={ "/console/tree?at=" (a.id) } { (a.name) } }
            }
            li aria-current="location" {
                a href={ "/console/orgs/" (level.org.id) } { strong { (level.org.name) } }
                " " code.muted { (level.org.id) }
            }
        }
        @if level.children.items.is_empty() {
            p.muted { "No child organizations." }
        } @else {
            div.table-wrap {
                table #children {
                    caption.muted { "Children of " (level.org.name) }
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Id" }
                        th scope="col" class="hide-small" { "Tags" }
                        th scope="col" class="num" { "Children" }
                        th scope="col" { span.skip { "Expand" } }
                    } }
                    tbody {
                        @for (child, n) in &level.children.items {
                            tr data-org=(child.id) {
                                td { a href={ "/console/orgs/" (child.id) } { (child.name) } }
                                td { code { (child.id) } }
                                td class="hide-small" { (tags(child)) }
                                td.num { (n) }
                                td {
                                    @if *n > 0 {
                                        a href={ "/console/tree?at=" (child.id) }
                                            aria-label={ "Expand " (child.name) } { "Expand" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (layout::next_link("/console/tree", &[("at", at)], level.children.next.as_deref()))
    }
}

fn tags(org: &Org) -> Markup {
    html! { @for t in &org.tags { span.badge { (t) } } }
}

/// Orgs whose id is `q`, whose name starts with `q`, or that carry the tag
/// `q`, within the key's reach: one page of each, merged by id.
async fn search(
    state: &AppState,
    ctx: &Ctx,
    q: &str,
    page: PageRequest<String>,
) -> orgd_core::Result<Markup> {
    let by_name = state
        .orgd
        .list_orgs(
            ctx.who(),
            OrgFilter {
                name_prefix: Some(q.to_owned()),
                ..OrgFilter::default()
            },
            page.clone(),
        )
        .await?;
    let by_tag = match orgd_core::tags::parse_name(q) {
        Ok(tag) => {
            state
                .orgd
                .list_orgs(
                    ctx.who(),
                    OrgFilter {
                        tags: vec![tag],
                        ..OrgFilter::default()
                    },
                    page.clone(),
                )
                .await?
                .items
        }
        Err(_) => vec![],
    };
    let by_id = match state.orgd.get_org(ctx.who(), q).await {
        Ok(org) => vec![org.view()],
        Err(orgd_core::Error::NotFound(_)) => vec![],
        Err(e) => return Err(e),
    };
    let mut found: Vec<Org> = by_id;
    for org in by_name.items.into_iter().chain(by_tag) {
        if !found.iter().any(|o| o.id == org.id) {
            found.push(org);
        }
    }
    Ok(html! {
        h2 { "Results for “" (q) "”" }
        @if found.is_empty() {
            p.muted { "Nothing in your reach matches." }
        } @else {
            div.table-wrap {
                table #results {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Id" }
                        th scope="col" { "Parent" } th scope="col" { "Tags" }
                    } }
                    tbody {
                        @for org in &found {
                            tr data-org=(org.id) {
                                td { a href={ "/console/orgs/" (org.id) } { (org.name) } }
                                td { code { (org.id) } }
                                td { @if let Some(p) = &org.parent_id { code { (p) } } }
                                td { (tags(org)) }
                            }
                        }
                    }
                }
            }
        }
        (layout::next_link("/console/tree", &[("q", q)], by_name.next.as_deref()))
        p { a href="/console/tree" { "Back to the tree" } }
    })
}
