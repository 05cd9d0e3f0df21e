//! What each kind of caller must get on each route: read off the route's row
//! (the permissions it needs, its scope), never off its path, so a new route
//! is judged by what its row says.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::routes::{Route, Scope};

pub const ALL: [&str; 4] = ["read", "write", "delete", "admin"];
/// An org id that names nothing.
pub const MISSING_ORG: &str = "no-such-org";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// No valid key at all: 401 everywhere but the public routes.
    Unauthenticated,
    /// A key of `s`, the target's sibling, with every permission.
    Sibling,
    /// A key of `t-child`, with every permission, used on its ancestors.
    Child,
    /// A key of `t` with only `read`.
    ReadOnly,
    /// A key of `t` with `read`, `write` and `delete`, but no `admin`.
    NoAdmin,
    /// A key of `t` with `write`, `delete` and `admin`, but no `read`.
    NoRead,
    /// A key of `t` with every permission, on the routes only a strict
    /// ancestor may use on `t` (governance).
    Own,
    /// A key of `t` with `read`, `write`, `admin` (no `delete`), minting a key
    /// with `delete` as well as on every route that needs `delete`.
    Escalating,
}

impl Kind {
    /// The permissions of a key of `t` of this kind.
    fn permissions(self) -> &'static [&'static str] {
        match self {
            Self::Unauthenticated => &[],
            Self::Sibling | Self::Child | Self::Own => &ALL,
            Self::ReadOnly => &["read"],
            Self::NoAdmin => &["read", "write", "delete"],
            Self::NoRead => &["write", "delete", "admin"],
            Self::Escalating => &["read", "write", "admin"],
        }
    }
}

/// What one caller must get on one route: the status, the orgs to try it on
/// and, when the route's sample body will not do, the body.
pub struct Expect {
    pub status: StatusCode,
    pub targets: Vec<&'static str>,
    pub body: Option<Value>,
}

/// What `kind` must get on `route` (a route of the authenticated API), or
/// `None` when this caller is not part of the matrix for that route (it
/// would succeed and change things, which other tests cover).
pub fn expect(kind: Kind, route: &Route) -> Option<Expect> {
    let status_on = |status: StatusCode, targets: Vec<&'static str>| Expect {
        status,
        targets,
        body: route.body(),
    };
    let allowed = route.allows(kind.permissions());
    match route.scope {
        Scope::Public => panic!("{route} is public: not part of the authenticated matrix"),
        // `/orgs`, `/me`, `/audit/checkpoints`, ...: a valid key of any org
        // may read them (they show only what it reaches, or nothing
        // org-specific), with the permissions they need; the root org's
        // only by keys of the root org (SPEC §12).
        Scope::Caller | Scope::RootOrg => {
            assert_eq!(route.method, Method::GET, "{route}: only reads take no org");
            Some(match kind {
                Kind::Unauthenticated => status_on(StatusCode::UNAUTHORIZED, vec![""]),
                _ if !allowed || route.scope == Scope::RootOrg => {
                    status_on(StatusCode::FORBIDDEN, vec![""])
                }
                _ => status_on(StatusCode::OK, vec![""]),
            })
        }
        // The org is the one the path names, or (creating one) the parent
        // the body names: the targets are those orgs either way.
        Scope::Path | Scope::Governed(_) | Scope::Parent => match kind {
            Kind::Unauthenticated => {
                Some(status_on(StatusCode::UNAUTHORIZED, vec!["t", MISSING_ORG]))
            }
            Kind::Sibling => Some(status_on(
                StatusCode::NOT_FOUND,
                vec!["t", "t-child", MISSING_ORG],
            )),
            Kind::Child => Some(status_on(
                StatusCode::NOT_FOUND,
                vec!["t", "root", MISSING_ORG],
            )),
            // A key of `t` reaches `t` and `t-child`: the permission decides.
            _ if !allowed => Some(status_on(StatusCode::FORBIDDEN, vec!["t", "t-child"])),
            // Allowed, but not on `t` itself: governance.
            _ if route.governed_body().is_some() => route.governed_body().map(|body| Expect {
                status: StatusCode::FORBIDDEN,
                targets: vec!["t"],
                body,
            }),
            Kind::Escalating
                if route.method == Method::POST && route.path == "/orgs/{org_id}/api_keys" =>
            {
                Some(Expect {
                    status: StatusCode::FORBIDDEN,
                    targets: vec!["t", "t-child"],
                    body: Some(json!({"name": "probe", "permissions": ["read", "delete"]})),
                })
            }
            _ => None,
        },
    }
}
