//! The trails: an org's audit events (its own, or its descendants'), with
//! filters, paging and the chain's verification; and its access log.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use orgd_core::access_log::{AccessFilter, Outcome};
use orgd_core::checkpoints::{InclusionProof, PublicKey, check_proof};
use orgd_core::ids::OrgId;
use orgd_core::page::{PageRequest, decode_number_cursor, decode_time_cursor};
use orgd_core::store::AuditFilter;

use super::ctx::Ctx;
use super::layout;
use crate::state::AppState;

const PAGE: usize = 50;

/// A day from a date field (`YYYY-MM-DD`), as the instant it starts (UTC);
/// `days_later` moves it on, so an "until" day includes the whole day.
fn day(
    field: &str,
    raw: Option<&str>,
    days_later: i64,
    errors: &mut Vec<String>,
) -> Option<DateTime<Utc>> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) => d
            .checked_add_signed(chrono::Duration::days(days_later))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc()),
        Err(_) => {
            errors.push(format!("{field}: must be a date, YYYY-MM-DD"));
            None
        }
    }
}

/// The org's head in the latest signed checkpoint, and what checking its
/// inclusion proof under the signing key orgd publishes found.
struct Proved {
    proof: InclusionProof,
    /// Empty when the proof checks.
    problems: Vec<String>,
}

/// The org's [`Proved`] head, or `None` while no checkpoint holds it (the
/// page has already found the org in reach, so a not-found is the proof's).
async fn checkpoint_proof(
    state: &AppState,
    who: &orgd_core::authz::Principal,
    org_id: &str,
) -> orgd_core::Result<Option<Proved>> {
    let proof = match state.orgd.audit_proof(who, org_id, None).await {
        Ok(p) => p,
        Err(orgd_core::Error::NotFound(_)) => return Ok(None),
        // The verification above says why there is no proof to show.
        Err(orgd_core::Error::Conflict {
            kind: orgd_core::error::ConflictKind::AuditChainInvalid,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let key = state
        .orgd
        .audit_keys()
        .await?
        .into_iter()
        .find(|k| k.kid == proof.checkpoint.kid)
        .and_then(|k| PublicKey::parse(&k.public_key).filter(|p| p.kid == k.kid));
    let problems = match key {
        Some(key) => check_proof(&proof, &key),
        None => vec![format!(
            "orgd publishes no key {} to check the signature with",
            proof.checkpoint.kid
        )],
    };
    Ok(Some(Proved { proof, problems }))
}

/// The checkpoint proof of an org's audit head: what a tenant keeps to show,
/// offline, that its history is in a checkpoint orgd signed.
fn proof_section(org_id: &str, proved: &Option<Proved>) -> Markup {
    html! {
        section #proof.card aria-labelledby="proof-title" {
            h2 #proof-title { "Signed checkpoint" }
            @match proved {
                None => p.muted { "No signed checkpoint holds this organization's audit head yet. orgd makes one each checkpoint interval (a minute by default) in which anything changed." },
                Some(Proved { proof, problems }) => {
                    @if problems.is_empty() {
                        p { span.badge.ok { "proved" } " Event " (proof.leaf.seq) " is this organization's head in checkpoint " code { (proof.checkpoint.id) } ", and its inclusion proof checks under signing key " code { (proof.checkpoint.kid) } "." }
                    } @else {
                        p { span.badge.bad { "does not check" } }
                        ul { @for problem in problems { li { (problem) } } }
                    }
                    dl.proof {
                        dt { "Checkpoint" } dd { code { (proof.checkpoint.id) } " · " (layout::time(&proof.checkpoint.created_at)) }
                        dt { "Tree" } dd { "leaf " (proof.leaf_index) " of " (proof.tree_size) }
                        dt { "Root hash" } dd { code { (proof.checkpoint.root_hash) } }
                        dt { "Leaf" } dd { "event " (proof.leaf.seq) ", hash " code { (proof.leaf.hash) } }
                        dt { "Audit path" } dd {
                            @if proof.path.is_empty() { "none: the tree has this one leaf" }
                            @else { ol { @for hash in &proof.path { li { code { (hash) } } } } }
                        }
                        dt { "Signature" } dd { code { (proof.checkpoint.signature) } }
                    }
                    p.muted { "To check it without orgd: " code { "GET /orgs/" (org_id) "/audit/proof" } " and the public key from " code { "GET /audit/keys" } " (docs/verifying-the-audit-trail.md)." }
                }
            }
        }
    }
}

fn text(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    scope: Option<String>,
    action: Option<String>,
    key_id: Option<String>,
    org: Option<String>,
    from: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let who = ctx.who();
    let children = q.scope.as_deref() == Some("children");
    let mut errors = Vec::new();
    let start = day("from", q.from.as_deref(), 0, &mut errors);
    let end = day("until", q.until.as_deref(), 1, &mut errors);
    let org_filter = match text(&q.org).map(|o| OrgId::parse(&o)) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(why)) => {
            errors.push(format!("organization: {why}"));
            None
        }
    };
    let after = match q.cursor.as_deref().map(decode_number_cursor).transpose() {
        Ok(a) => a,
        Err(e) => return layout::domain_error(&e),
    };
    let filter = AuditFilter {
        start,
        end,
        action: text(&q.action),
        key_id: text(&q.key_id),
        org_id: if children { org_filter } else { None },
    };
    let page = PageRequest { limit: PAGE, after };
    let org = match state.orgd.get_org(who, &org_id).await {
        Ok(org) => org.view(),
        Err(e) => return layout::domain_error(&e),
    };
    let events = if !errors.is_empty() {
        None
    } else if children {
        Some(state.orgd.children_audit(who, &org_id, filter, page).await)
    } else {
        Some(state.orgd.org_audit(who, &org_id, filter, page).await)
    };
    let events = match events.transpose() {
        Ok(e) => e,
        Err(e) => return layout::domain_error(&e),
    };
    let verification = if children {
        None
    } else {
        match state.orgd.verify_audit(who, &org_id).await {
            Ok(v) => Some(v),
            Err(e) => return layout::domain_error(&e),
        }
    };
    let proof = if children {
        None
    } else {
        match checkpoint_proof(&state, who, &org_id).await {
            Ok(p) => Some(p),
            Err(e) => return layout::domain_error(&e),
        }
    };
    let base = format!("/console/orgs/{}/audit", org.id);
    let scope = if children { "children" } else { "self" };
    let kept = [
        ("scope", scope),
        ("action", q.action.as_deref().unwrap_or("")),
        ("key_id", q.key_id.as_deref().unwrap_or("")),
        ("org", q.org.as_deref().unwrap_or("")),
        ("from", q.from.as_deref().unwrap_or("")),
        ("until", q.until.as_deref().unwrap_or("")),
    ];
    let body = html! {
        @if let Some(v) = &verification {
            section #verify.card aria-labelledby="verify-title" {
                h2 #verify-title { "Chain verification" }
                @if v.valid {
                    p { span.badge.ok { "intact" } " The hash chain of " (v.events) " events is intact"
                        @if let Some(cp) = &v.checkpoint_id { ", and agrees with signed checkpoint " code { (cp) } }
                        "." }
                } @else {
                    p { span.badge.bad { "broken" }
                        @if v.truncated { " The chain is shorter than its signed checkpoint: events were cut from its end." }
                        @if let Some(seq) = v.first_bad_seq { " The chain breaks at event " (seq) "." }
                        @if v.checkpoint_invalid { " The signed checkpoint it is held to no longer checks (its stored leaves or its signature were changed): the database was changed outside orgd." }
                    }
                }
                p.muted { "Head " code { (v.head) }
                    @if let Some(p) = v.pruned_through_seq { " · pruned through event " (p) " (kept by a signed anchor)" }
                }
            }
        }
        @if let Some(p) = &proof {
            (proof_section(&org.id, p))
        }
        form #filters method="get" action=(base) {
            div.inline {
                div {
                    label for="scope" { "Events of" }
                    select #scope name="scope" {
                        option value="self" selected[!children] { "this organization" }
                        option value="children" selected[children] { "its descendants" }
                    }
                }
                div { label for="action" { "Action" } input #action name="action" type="text" value=[q.action.as_deref()] placeholder="org.update"; }
                div { label for="key_id" { "Key id" } input #key_id name="key_id" type="text" value=[q.key_id.as_deref()]; }
                div { label for="org" { "Descendant id" } input #org name="org" type="text" value=[q.org.as_deref()]; }
                div { label for="from" { "From" } input #from name="from" type="date" value=[q.from.as_deref()]; }
                div { label for="until" { "Until" } input #until name="until" type="date" value=[q.until.as_deref()]; }
                button type="submit" { "Filter" }
            }
            (layout::form_errors(&errors.iter().map(String::as_str).collect::<Vec<_>>()))
        }
        @if let Some(events) = &events {
            div.table-wrap {
                table #events {
                    thead { tr {
                        th scope="col" { "#" }
                        th scope="col" { "When" }
                        @if children { th scope="col" { "Org" } }
                        th scope="col" { "Action" }
                        th scope="col" { "Target" }
                        th scope="col" { "By" }
                        th scope="col" class="hide-small" { "Changes" }
                    } }
                    tbody {
                        @for e in &events.items {
                            tr {
                                td.num { (e.seq) }
                                td { (layout::time(&e.timestamp)) }
                                @if children { td { a href={ "/console/orgs/" (e.org_id) "/audit" } { (e.org_id) } } }
                                td { code { (e.action) } }
                                td { (e.target.kind) " " code { (e.target.id) } }
                                td { (actor(&e.actor)) }
                                td class="hide-small" { (changes(&e.changes)) }
                            }
                        }
                    }
                }
            }
            @if events.items.is_empty() { p.muted { "No events." } }
            (layout::next_link(&base, &kept, events.next.as_deref()))
        }
    };
    layout::ok(layout::org_page(&ctx, &org, "/audit", body))
}

fn actor(a: &orgd_core::audit::Actor) -> Markup {
    html! {
        @if let Some(u) = &a.user { (u) br; }
        @if let Some(k) = &a.key_id { code.muted { (k) } }
    }
}

/// A change, briefly: its JSON on one line, cut short.
fn changes(v: &serde_json::Value) -> Markup {
    let text = v.to_string();
    let short: String = text.chars().take(160).collect();
    html! { code.muted { (short) @if short.len() < text.len() { "…" } } }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AccessQuery {
    user: Option<String>,
    action: Option<String>,
    status: Option<String>,
    from: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

pub async fn access_log(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(q): Query<AccessQuery>,
) -> Response {
    let who = ctx.who();
    let mut errors = Vec::new();
    let start = day("from", q.from.as_deref(), 0, &mut errors);
    let end = day("until", q.until.as_deref(), 1, &mut errors);
    let status = match text(&q.status) {
        None => None,
        Some(s) => match Outcome::parse(&s) {
            Some(o) => Some(o),
            None => {
                errors.push("status: must be SUCCESS or FAILURE".into());
                None
            }
        },
    };
    let after = match q.cursor.as_deref().map(decode_time_cursor).transpose() {
        Ok(a) => a,
        Err(e) => return layout::domain_error(&e),
    };
    let org = match state.orgd.get_org(who, &org_id).await {
        Ok(org) => org.view(),
        Err(e) => return layout::domain_error(&e),
    };
    let filter = AccessFilter {
        start,
        end,
        user: text(&q.user),
        action: text(&q.action),
        status,
    };
    let entries = if errors.is_empty() {
        match state
            .orgd
            .access_log(who, &org_id, filter, PageRequest { limit: PAGE, after })
            .await
        {
            Ok(e) => Some(e),
            Err(e) => return layout::domain_error(&e),
        }
    } else {
        None
    };
    let base = format!("/console/orgs/{}/access-log", org.id);
    let kept = [
        ("user", q.user.as_deref().unwrap_or("")),
        ("action", q.action.as_deref().unwrap_or("")),
        ("status", q.status.as_deref().unwrap_or("")),
        ("from", q.from.as_deref().unwrap_or("")),
        ("until", q.until.as_deref().unwrap_or("")),
    ];
    let chosen = q.status.as_deref().unwrap_or("");
    let body = html! {
        form #filters method="get" action=(base) {
            div.inline {
                div { label for="user" { "User" } input #user name="user" type="text" value=[q.user.as_deref()]; }
                div { label for="action" { "Action" } input #action name="action" type="text" value=[q.action.as_deref()] placeholder="org.get"; }
                div {
                    label for="status" { "Outcome" }
                    select #status name="status" {
                        option value="" selected[chosen.is_empty()] { "any" }
                        option value="SUCCESS" selected[chosen == "SUCCESS"] { "success" }
                        option value="FAILURE" selected[chosen == "FAILURE"] { "failure" }
                    }
                }
                div { label for="from" { "From" } input #from name="from" type="date" value=[q.from.as_deref()]; }
                div { label for="until" { "Until" } input #until name="until" type="date" value=[q.until.as_deref()]; }
                button type="submit" { "Filter" }
            }
            (layout::form_errors(&errors.iter().map(String::as_str).collect::<Vec<_>>()))
        }
        @if let Some(entries) = &entries {
            div.table-wrap {
                table #entries {
                    thead { tr {
                        th scope="col" { "When" }
                        th scope="col" { "Action" }
                        th scope="col" { "Outcome" }
                        th scope="col" { "User" }
                        th scope="col" class="hide-small" { "Request" }
                        th scope="col" class="hide-small" { "Client" }
                    } }
                    tbody {
                        @for e in &entries.items {
                            tr {
                                td { (layout::time(&e.timestamp)) }
                                td { code { (e.action) } }
                                td {
                                    @if e.status == Outcome::Success { span.badge.ok { "success" } }
                                    @else { span.badge.bad { "failure" } }
                                    @if let Some(s) = e.http_status { " " (s) }
                                }
                                td { (e.user.as_deref().unwrap_or("")) }
                                td class="hide-small" {
                                    @if let (Some(m), Some(p)) = (&e.method, &e.path) { code { (m) " " (p) } }
                                    @if let Some(ms) = e.latency_ms { " " span.muted { (ms) " ms" } }
                                }
                                td class="hide-small" { (e.ip.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            @if entries.items.is_empty() { p.muted { "No entries." } }
            (layout::next_link(&base, &kept, entries.next.as_deref()))
        }
    };
    layout::ok(layout::org_page(&ctx, &org, "/access-log", body))
}
