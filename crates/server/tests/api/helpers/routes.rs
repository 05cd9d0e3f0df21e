//! The route table the route-walking tests (the security matrix, the
//! security sweep, the conventions) walk: the server's own OpenAPI document,
//! each of its routes with a row here ([`ROUTES`]: who may call it and a
//! valid body), and each of its path parameters with a way to make one
//! (`FIXTURES`, in `fixtures.rs`). [`table`] joins them and fails, naming what is missing,
//! when a route has no row, a row no route, or a path parameter no fixture:
//! a new route is walked by construction, or the suite says what to add.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use super::TestApp;
pub use super::fixtures::Items;
use super::fixtures::{FIXTURES, fixture, is_org};

/// Who may call a route, besides the permissions of its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No key at all (the document says `security: [{}]`).
    Public,
    /// Any valid key; the answer shows only what the key reaches, or nothing
    /// org-specific (`/orgs`, `/me`).
    Caller,
    /// Keys of the root organization only (SPEC §12).
    RootOrg,
    /// The org its path names, within the key's reach (SPEC §2).
    Path,
    /// The org its path names, by a key of a strict ancestor of it (SPEC §2,
    /// governance); with a body, only when sent that body (`PATCH
    /// /orgs/{org_id}` is governed as a move only).
    Governed(Option<&'static str>),
    /// The org its body names as `parent_id`, within the key's reach.
    Parent,
}

/// One row a route must have: `(method, path, permissions it needs, scope,
/// a valid body as JSON text)`.
type RowSpec = (
    &'static str,
    &'static str,
    &'static [&'static str],
    Scope,
    Option<&'static str>,
);

const R: &[&str] = &["read"];
const W: &[&str] = &["write"];
const D: &[&str] = &["delete"];
const A: &[&str] = &["admin"];
/// Every webhook route, reading included (SPEC §11: a webhook delivers what
/// the feed serves, and the feed needs `read`).
const HOOKS: &[&str] = &["admin", "read"];
const NONE: &[&str] = &[];

const ITEM: &str = r#"{"name": "probe", "metadata": {"k": "v"}}"#;
const CONFIGS: &str = r#"{"applications.limit": 5}"#;

/// Every route of the server, with what it needs. A route of the document
/// missing here fails [`table`], naming it.
pub const ROUTES: &[RowSpec] = &[
    // Public (SPEC §2).
    ("GET", "/healthz", NONE, Scope::Public, None),
    ("GET", "/readyz", NONE, Scope::Public, None),
    ("GET", "/audit/keys", NONE, Scope::Public, None),
    // Any key.
    ("GET", "/me", NONE, Scope::Caller, None),
    ("GET", "/orgs", R, Scope::Caller, None),
    (
        "GET",
        "/audit/checkpoints/latest",
        NONE,
        Scope::Caller,
        None,
    ),
    (
        "GET",
        "/passportsvc/api/v1/organizations/configs",
        NONE,
        Scope::Caller,
        None,
    ),
    ("GET", "/audit/checkpoints", R, Scope::RootOrg, None),
    // Orgs.
    (
        "POST",
        "/orgs",
        W,
        Scope::Parent,
        Some(r#"{"name": "probe"}"#),
    ),
    ("GET", "/orgs/{org_id}", R, Scope::Path, None),
    ("DELETE", "/orgs/{org_id}", D, Scope::Governed(None), None),
    (
        "PATCH",
        "/orgs/{org_id}",
        W,
        Scope::Governed(Some(r#"{"parent_id": "s"}"#)),
        Some(r#"{"name": "probe"}"#),
    ),
    ("GET", "/orgs/{org_id}/children", R, Scope::Path, None),
    ("GET", "/orgs/{org_id}/children_audit", R, Scope::Path, None),
    // Access log, usage, consumption, limits, events.
    ("GET", "/orgs/{org_id}/access_log", R, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/access_log",
        W,
        Scope::Path,
        Some(r#"[{"user": "probe", "action": "LOGIN", "status": "SUCCESS"}]"#),
    ),
    (
        "POST",
        "/orgs/{org_id}/usage",
        W,
        Scope::Path,
        Some(r#"[{"metric": "probe", "quantity": 1}]"#),
    ),
    ("GET", "/orgs/{org_id}/consumption", R, Scope::Path, None),
    ("GET", "/orgs/{org_id}/limits", R, Scope::Path, None),
    ("GET", "/orgs/{org_id}/events", R, Scope::Path, None),
    // Audit.
    ("GET", "/orgs/{org_id}/audit", R, Scope::Path, None),
    ("GET", "/orgs/{org_id}/audit/export", R, Scope::Path, None),
    ("GET", "/orgs/{org_id}/audit/proof", R, Scope::Path, None),
    ("GET", "/orgs/{org_id}/audit/verify", R, Scope::Path, None),
    // API keys.
    ("GET", "/orgs/{org_id}/api_keys", A, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/api_keys",
        A,
        Scope::Path,
        Some(r#"{"name": "probe", "permissions": ["read"]}"#),
    ),
    (
        "GET",
        "/orgs/{org_id}/api_keys/{key_id}",
        A,
        Scope::Path,
        None,
    ),
    (
        "DELETE",
        "/orgs/{org_id}/api_keys/{key_id}",
        A,
        Scope::Path,
        None,
    ),
    // Items.
    ("GET", "/orgs/{org_id}/applications", R, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/applications",
        W,
        Scope::Path,
        Some(ITEM),
    ),
    (
        "GET",
        "/orgs/{org_id}/applications/{application_id}",
        R,
        Scope::Path,
        None,
    ),
    (
        "DELETE",
        "/orgs/{org_id}/applications/{application_id}",
        D,
        Scope::Path,
        None,
    ),
    ("GET", "/orgs/{org_id}/workspaces", R, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/workspaces",
        W,
        Scope::Path,
        Some(ITEM),
    ),
    (
        "GET",
        "/orgs/{org_id}/workspaces/{workspace_id}",
        R,
        Scope::Path,
        None,
    ),
    (
        "DELETE",
        "/orgs/{org_id}/workspaces/{workspace_id}",
        D,
        Scope::Path,
        None,
    ),
    ("GET", "/orgs/{org_id}/usergroups", R, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/usergroups",
        W,
        Scope::Path,
        Some(ITEM),
    ),
    (
        "GET",
        "/orgs/{org_id}/usergroups/{usergroup_id}",
        R,
        Scope::Path,
        None,
    ),
    (
        "DELETE",
        "/orgs/{org_id}/usergroups/{usergroup_id}",
        D,
        Scope::Path,
        None,
    ),
    // Tags (removing one is a write, SPEC §3).
    ("GET", "/orgs/{org_id}/tags", R, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/tags",
        W,
        Scope::Path,
        Some(r#"{"name": "probe"}"#),
    ),
    (
        "DELETE",
        "/orgs/{org_id}/tags/{tag_id}",
        W,
        Scope::Path,
        None,
    ),
    // Configs and customizations, in both route families.
    ("GET", "/orgs/{org_id}/configs", R, Scope::Path, None),
    (
        "PUT",
        "/orgs/{org_id}/configs",
        W,
        Scope::Governed(None),
        Some(CONFIGS),
    ),
    (
        "PATCH",
        "/orgs/{org_id}/configs",
        W,
        Scope::Governed(None),
        Some(CONFIGS),
    ),
    (
        "DELETE",
        "/orgs/{org_id}/configs",
        D,
        Scope::Governed(None),
        None,
    ),
    (
        "GET",
        "/orgs/{org_id}/configs/effective",
        R,
        Scope::Path,
        None,
    ),
    (
        "GET",
        "/passportsvc/api/v1/organizations/{orgId}/configs",
        R,
        Scope::Path,
        None,
    ),
    (
        "PUT",
        "/passportsvc/api/v1/organizations/{orgId}/configs",
        W,
        Scope::Governed(None),
        Some(CONFIGS),
    ),
    (
        "PATCH",
        "/passportsvc/api/v1/organizations/{orgId}/configs",
        W,
        Scope::Governed(None),
        Some(CONFIGS),
    ),
    (
        "DELETE",
        "/passportsvc/api/v1/organizations/{orgId}/configs",
        D,
        Scope::Governed(None),
        None,
    ),
    ("GET", "/orgs/{org_id}/customizations", R, Scope::Path, None),
    (
        "PUT",
        "/orgs/{org_id}/customizations",
        W,
        Scope::Path,
        Some(r#"{"theme": "dark"}"#),
    ),
    (
        "GET",
        "/orgs/{org_id}/customizations/effective",
        R,
        Scope::Path,
        None,
    ),
    // Webhooks. A public address, so no name is resolved and no private
    // target refused; the matrix's server delivers nothing (no workers).
    ("GET", "/orgs/{org_id}/webhooks", HOOKS, Scope::Path, None),
    (
        "POST",
        "/orgs/{org_id}/webhooks",
        HOOKS,
        Scope::Path,
        Some(r#"{"url": "https://93.184.216.34/hook", "types": ["org.*"]}"#),
    ),
    (
        "GET",
        "/orgs/{org_id}/webhooks/{webhook_id}",
        HOOKS,
        Scope::Path,
        None,
    ),
    (
        "PATCH",
        "/orgs/{org_id}/webhooks/{webhook_id}",
        HOOKS,
        Scope::Path,
        Some(r#"{"description": "probe"}"#),
    ),
    (
        "DELETE",
        "/orgs/{org_id}/webhooks/{webhook_id}",
        HOOKS,
        Scope::Path,
        None,
    ),
    (
        "POST",
        "/orgs/{org_id}/webhooks/{webhook_id}/rotate_secret",
        HOOKS,
        Scope::Path,
        None,
    ),
    (
        "POST",
        "/orgs/{org_id}/webhooks/{webhook_id}/replay",
        HOOKS,
        Scope::Path,
        Some(r#"{"since": "2000-01-01T00:00:00Z"}"#),
    ),
    (
        "GET",
        "/orgs/{org_id}/webhooks/{webhook_id}/deliveries",
        HOOKS,
        Scope::Path,
        None,
    ),
    (
        "POST",
        "/orgs/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        HOOKS,
        Scope::Path,
        None,
    ),
];

/// One route of the server's document, with its row.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: String,
    /// The permissions a key needs for it.
    pub needs: BTreeSet<&'static str>,
    pub scope: Scope,
    /// Its path parameters, in order.
    pub params: Vec<String>,
    /// The query parameters the document declares for it.
    pub query: BTreeSet<String>,
    body: Option<&'static str>,
}

impl Route {
    /// A valid body, if the route takes one.
    pub fn body(&self) -> Option<Value> {
        self.body.map(|b| serde_json::from_str(b).unwrap())
    }

    /// Whether its path names an org.
    pub fn org_scoped(&self) -> bool {
        self.params.iter().any(|p| is_org(p))
    }

    /// Whether its path names an item inside the org as well.
    pub fn has_inner_item(&self) -> bool {
        self.params.iter().any(|p| !is_org(p))
    }

    /// For a governed route, the body that makes a request governed.
    pub fn governed_body(&self) -> Option<Option<Value>> {
        match self.scope {
            Scope::Governed(Some(b)) => Some(Some(serde_json::from_str(b).unwrap())),
            Scope::Governed(None) => Some(self.body()),
            _ => None,
        }
    }

    /// Whether a key with `permissions` has every one this route needs.
    pub fn allows(&self, permissions: &[&str]) -> bool {
        self.needs.iter().all(|n| permissions.contains(n))
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The `{name}`s of a path, in order.
pub(super) fn path_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .map(|s| s.split_once('}').unwrap().0.to_owned())
        .collect()
}

/// The OpenAPI document the running server serves.
pub async fn openapi_document(app: &TestApp) -> Value {
    app.client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every (method, path) of the running server's own route table.
pub async fn routes(app: &TestApp) -> Vec<(Method, String)> {
    table(app)
        .await
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// Every route of the running server's OpenAPI document, with its row of
/// [`ROUTES`]. Fails, naming them, on a route with no row, a row with no
/// route, a path parameter with no fixture, a fixture no route uses, and a
/// public route the document and its row disagree on.
pub async fn table(app: &TestApp) -> Vec<Route> {
    let doc = openapi_document(app).await;
    let mut out = Vec::new();
    let mut unlisted = Vec::new();
    let mut unknown_params = BTreeSet::new();
    let mut used_params = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let params = path_params(path);
            for p in &params {
                used_params.insert(p.clone());
                if fixture(p).is_none() {
                    unknown_params.insert(format!("{{{p}}} (in {m} {path})"));
                }
            }
            let Some(&(_, _, needs, scope, body)) = ROUTES
                .iter()
                .find(|(rm, rp, ..)| *rm == m.as_str() && rp == path)
            else {
                unlisted.push(format!("{m} {path}"));
                continue;
            };
            let public = op["security"] == serde_json::json!([{}]);
            assert_eq!(
                public,
                scope == Scope::Public,
                "{m} {path}: the document says public is {public}, its row in \
                 tests/api/helpers/routes.rs says {scope:?}"
            );
            assert_eq!(
                params.iter().any(|p| is_org(p)),
                matches!(scope, Scope::Path | Scope::Governed(_)),
                "{m} {path}: its row's scope {scope:?} does not fit its path"
            );
            let query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            out.push(Route {
                method: m,
                path: path.clone(),
                needs: needs.iter().copied().collect(),
                scope,
                params,
                query,
                body,
            });
        }
    }
    assert!(
        unknown_params.is_empty(),
        "path parameters with no fixture: {unknown_params:?}; say how to make one in \
         FIXTURES of tests/api/helpers/fixtures.rs"
    );
    assert!(
        unlisted.is_empty(),
        "routes with no row: {unlisted:?}; give each one in ROUTES of \
         tests/api/helpers/routes.rs (the permissions it needs, its scope, a valid body)"
    );
    let stale: Vec<_> = ROUTES
        .iter()
        .filter(|(m, p, ..)| !out.iter().any(|r| r.method == *m && r.path == *p))
        .map(|(m, p, ..)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "rows of ROUTES (tests/api/helpers/routes.rs) for routes the server no longer has: {stale:?}"
    );
    let unused: Vec<_> = FIXTURES
        .iter()
        .filter(|(p, _)| !used_params.contains(*p))
        .map(|(p, _)| *p)
        .collect();
    assert!(
        unused.is_empty(),
        "FIXTURES (tests/api/helpers/fixtures.rs) for path parameters no route has: {unused:?}"
    );
    assert!(out.len() > 10, "the route table looks empty");
    out
}

/// A valid body for `method path`, from its row.
pub fn sample_body(method: &Method, path: &str) -> Option<Value> {
    let (.., body) = ROUTES
        .iter()
        .find(|(m, p, ..)| *m == method.as_str() && *p == path)
        .unwrap_or_else(|| panic!("{method} {path} has no row in tests/api/helpers/routes.rs"));
    body.map(|b| serde_json::from_str(b).unwrap())
}
