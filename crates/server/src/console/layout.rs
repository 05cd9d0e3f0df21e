//! The page shell every console page shares, the org's header and tabs, the
//! error pages, and how a domain error reads on a page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use orgd_core::Error;
use orgd_core::orgs::Org;

use super::ctx::Ctx;

/// What every console answer carries: no script or style but the console's
/// own, no framing, no referrer leaving the console, never cached (a page
/// may show a secret once).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub fn secure_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A whole page: `<head>`, the top bar (when signed in), then `body`.
pub fn document(title: &str, ctx: Option<&Ctx>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · orgd" }
                link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/tree" { "orgd" }
                    @if let Some(ctx) = ctx {
                        nav #top aria-label="Console" {
                            a href="/console/tree" { "Tree" }
                            a href={ "/console/orgs/" (ctx.who().org_id) } {
                                "Signed in to " strong { (ctx.who().org_id) }
                            }
                        }
                        form #sign-out method="post" action="/console/sign-out" {
                            (csrf(ctx))
                            button.quiet type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// A page answered with `status`.
pub fn respond(status: StatusCode, page: Markup) -> Response {
    let mut res = (status, page).into_response();
    secure_headers(&mut res);
    res
}

/// A page answered 200.
pub fn ok(page: Markup) -> Response {
    respond(StatusCode::OK, page)
}

/// The hidden field every form carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A page saying what went wrong, with a way back.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    respond(
        status,
        document(
            title,
            None,
            html! {
                section.error-page {
                    h1 { (title) }
                    @if !detail.is_empty() { p { (detail) } }
                    p { a href="/console/tree" { "Back to the tree" } }
                }
            },
        ),
    )
}

/// The page for a domain error that ends a request: an org out of reach is
/// "Not found" exactly like one that does not exist.
pub fn domain_error(e: &Error) -> Response {
    match e {
        Error::NotFound(what) => error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("No {what} here, or it is out of your key's reach."),
        ),
        Error::Forbidden(why) => error_page(StatusCode::FORBIDDEN, "Forbidden", why),
        Error::Unauthenticated { .. } => error_page(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your key no longer works; sign in again.",
        ),
        Error::Unavailable(_) => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The database is unavailable; try again in a moment.",
        ),
        Error::Internal(why) => {
            tracing::error!(error = %why, "a console page failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "Something went wrong; it has been logged.",
            )
        }
        other => error_page(StatusCode::BAD_REQUEST, "Not done", &message(other)),
    }
}

/// A domain error as a sentence for a form.
pub fn message(e: &Error) -> String {
    match e {
        Error::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        Error::PreconditionFailed { .. } => {
            "someone else changed this meanwhile; reload and try again".into()
        }
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

/// What a failed form post shows beside its fields: which form, and each
/// field's message (`""` for the form as a whole).
#[derive(Debug, Default)]
pub struct Feedback {
    pub form: &'static str,
    pub fields: Vec<(String, String)>,
}

impl Feedback {
    /// The feedback of `form` for domain error `e`, when `e` is one a
    /// person can act on beside the form (a bad value, a name taken, a limit
    /// reached, a change made meanwhile); `None` for the errors that end
    /// the request with their own page (not found, forbidden, unavailable).
    pub fn for_error(form: &'static str, e: &Error) -> Option<Self> {
        let fields = match e {
            Error::Validation(fields) => fields
                .iter()
                .map(|f| (f.field.clone(), f.message.clone()))
                .collect(),
            Error::Conflict { .. }
            | Error::LimitExceeded { .. }
            | Error::PreconditionFailed { .. } => {
                vec![(String::new(), message(e))]
            }
            _ => return None,
        };
        Some(Self { form, fields })
    }

    /// The message for `field` of `form`, if any.
    pub fn for_field(&self, form: &str, field: &str) -> Option<&str> {
        (self.form == form)
            .then(|| {
                self.fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(_, m)| m.as_str())
            })
            .flatten()
    }

    /// The messages of `form` that name no field shown in it.
    pub fn rest(&self, form: &str, shown: &[&str]) -> Vec<&str> {
        if self.form != form {
            return vec![];
        }
        self.fields
            .iter()
            .filter(|(f, _)| !shown.contains(&f.as_str()))
            .map(|(_, m)| m.as_str())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The status a page showing this feedback answers with.
    pub fn status(&self) -> StatusCode {
        if self.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

/// A field's message, tied to its input by `id` (the input names it in
/// `aria-describedby`).
pub fn field_error(id: &str, message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.field-error id={ (id) "-error" } role="alert" { (m) }
        }
    }
}

/// The messages of a form that belong to no one field, under its button.
pub fn form_errors(messages: &[&str]) -> Markup {
    html! {
        @for m in messages {
            p.field-error role="alert" { (m) }
        }
    }
}

/// A secret just made, shown this once, with the copy button `console.js`
/// wires up (by `data-copy`): a new key's, a new webhook's.
pub fn secret_once(title: Markup, note: &str, secret: &str) -> Markup {
    html! {
        section.notice aria-labelledby="secret-title" {
            h2 #secret-title { (title) }
            p { (note) }
            div.secret {
                code #new-secret { (secret) }
                button #copy-secret.secondary type="button" data-copy="new-secret" hidden { "Copy" }
            }
        }
    }
}

/// A notice after a change, from a fixed list (never text from the URL).
pub fn flash(done: Option<&str>) -> Markup {
    let text = match done {
        Some("renamed") => "Renamed.",
        Some("moved") => "Moved.",
        Some("created") => "Created.",
        Some("saved") => "Saved.",
        Some("tag-added") => "Tag added.",
        Some("tag-removed") => "Tag removed.",
        Some("revoked") => "Key revoked.",
        Some("retried") => "Delivery queued again.",
        Some("deleted") => "Deleted.",
        _ => return html! {},
    };
    html! { div.flash role="status" { (text) } }
}

/// An org's page: its name and id, the way up the tree, its tabs (`tab` is
/// the current one), then `body`.
pub fn org_page(ctx: &Ctx, org: &Org, tab: &str, body: Markup) -> Markup {
    let tabs = ctx
        .pages
        .iter()
        .filter(|p| p.under_org)
        .filter_map(|p| Some((p.path, p.tab?)));
    let title = tabs
        .clone()
        .find(|(t, _)| *t == tab)
        .map_or("", |(_, name)| name);
    document(
        &format!("{title} · {}", org.name),
        Some(ctx),
        html! {
            header.org-head {
                p.crumbs {
                    a href={ "/console/tree?at=" (org.id) } { "Show in tree" }
                    @if let Some(parent) = &org.parent_id {
                        " · parent " a href={ "/console/orgs/" (parent) } { (parent) }
                    }
                }
                h1 { (org.name) }
                p.meta { code { (org.id) } " · version " (org.version) }
            }
            nav #org-nav aria-label="Organization" {
                @for (path, name) in tabs {
                    @if path == tab {
                        a href={ "/console/orgs/" (org.id) (path) } aria-current="page" { (name) }
                    } @else {
                        a href={ "/console/orgs/" (org.id) (path) } { (name) }
                    }
                }
            }
            (body)
        },
    )
}

/// What a page needing the `admin` permission shows a key without it.
pub fn needs_admin(what: &str) -> Markup {
    html! {
        p.notice { (what) " need the " code { "admin" } " permission, which your key does not have." }
    }
}

/// A timestamp as people read it, in UTC, with the exact value on hover.
pub fn time(t: &DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S")) }
    }
}

/// An optional timestamp; a dash for none.
pub fn maybe_time(t: Option<&DateTime<Utc>>) -> Markup {
    match t {
        Some(t) => time(t),
        None => html! { span.muted { "—" } },
    }
}

/// "Next page" for a list whose next page starts at `cursor`: the page's
/// own query, with the cursor replaced.
pub fn next_link(path: &str, query: &[(&str, &str)], cursor: Option<&str>) -> Markup {
    let Some(cursor) = cursor else {
        return html! {};
    };
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        if !v.is_empty() && *k != "cursor" {
            q.append_pair(k, v);
        }
    }
    q.append_pair("cursor", cursor);
    html! {
        p.pager { a rel="next" href={ (path) "?" (q.finish()) } { "Next page →" } }
    }
}

/// JSON shown as text, indented.
pub fn json_block(v: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    html! { pre.json { code { (text) } } }
}
