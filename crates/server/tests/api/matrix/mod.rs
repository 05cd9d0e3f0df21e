//! The security matrix: every route of the server's own table × every kind of
//! caller, each answered with the status SPEC §2 prescribes, and nothing
//! changed by any refused request.
//!
//! The tree: `root` ⊃ `t` (the target) ⊃ `t-child`, and `root` ⊃ `s` (its
//! sibling). The public routes (`/healthz`, `/readyz`, `/audit/keys`,
//! `/openapi.json`, and `/docs`, `/metrics` when they exist) answer 200 to
//! every caller. Elsewhere:
//!
//! - no key, a malformed key, an empty `Bearer`, a valid secret under another
//!   scheme, an unknown key, a revoked key, an expired key: 401 with
//!   `WWW-Authenticate: Bearer` on every route, the org-scoped ones tried on
//!   `t` and on a missing org (same body);
//! - the sibling's key (`s`, all permissions): 404 on every org-scoped route of
//!   `t` and `t-child`, and on `POST /orgs` under them, with the very body a
//!   missing org gets;
//! - the child's key (`t-child`, all permissions): the same 404 on `t` and
//!   `root`;
//! - `t`'s read-only key: 403 on every non-GET route, on `t` and `t-child`
//!   (both reached, so the permission decides), and on `POST /orgs` under them;
//! - `t`'s read+write+delete key: 403 on the `api_keys` and `webhooks`
//!   routes (they need `admin`);
//! - `t`'s write+delete+admin key: 403 on every `webhooks` route, reading
//!   included (they need `read` as well: a webhook delivers what the feed
//!   serves, SPEC §11);
//! - `t`'s own all-permission key: 403 on the governed routes of `t` itself
//!   (delete, move, the configs of both route families);
//! - `t`'s read+write+admin key: 403 minting a key with `delete`;
//! - every valid key with `read`: 200 on `GET /orgs`, `GET /me`, the known configs and
//!   the latest audit checkpoint; a key of any org but the root: 403 on the
//!   list of checkpoints (SPEC §12: root-org keys).
//!
//! Routes with an inner item (`{key_id}`, `{tag_id}`, …) are walked twice:
//! pointing at a real item of `t` (so a refusal that came too late would show
//! in the snapshot) and at a well-formed id of nothing (so a not-found of the
//! item cannot come before the refusal).

use std::collections::BTreeMap;
use std::io::Write as _;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, routes, sample_body};

const ALL: [&str; 4] = ["read", "write", "delete", "admin"];
/// An org id that names nothing.
const MISSING_ORG: &str = "no-such-org";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
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
    /// with `delete`.
    Escalating,
}

struct Caller {
    name: &'static str,
    kind: Kind,
    /// The whole `Authorization` header, if any.
    authorization: Option<String>,
}

/// What one caller must get on one route: the status, the orgs to try it on
/// and, when the route's sample body will not do, the body.
struct Expect {
    status: StatusCode,
    targets: Vec<&'static str>,
    body: Option<Value>,
}

/// The items of `t` that inner path parameters point at.
struct Items {
    key_id: String,
    tag_id: String,
    application_id: String,
    workspace_id: String,
    usergroup_id: String,
    webhook_id: String,
    delivery_id: String,
}

impl Items {
    /// The same ids with their random part zeroed: well-formed, naming nothing.
    fn missing(&self) -> Self {
        fn zero(id: &str) -> String {
            let (prefix, rest) = id.split_once('_').unwrap();
            format!("{prefix}_{}", "0".repeat(rest.len()))
        }
        Self {
            key_id: zero(&self.key_id),
            tag_id: zero(&self.tag_id),
            application_id: zero(&self.application_id),
            workspace_id: zero(&self.workspace_id),
            usergroup_id: zero(&self.usergroup_id),
            webhook_id: zero(&self.webhook_id),
            delivery_id: zero(&self.delivery_id),
        }
    }
}

fn fill(path: &str, org: &str, items: &Items) -> String {
    let filled = path
        .replace("{org_id}", org)
        .replace("{orgId}", org)
        .replace("{key_id}", &items.key_id)
        .replace("{tag_id}", &items.tag_id)
        .replace("{application_id}", &items.application_id)
        .replace("{workspace_id}", &items.workspace_id)
        .replace("{usergroup_id}", &items.usergroup_id)
        .replace("{webhook_id}", &items.webhook_id)
        .replace("{delivery_id}", &items.delivery_id);
    assert!(
        !filled.contains('{'),
        "{path} has a path parameter this test does not know"
    );
    filled
}

fn org_scoped(path: &str) -> bool {
    path.contains("{org_id}") || path.contains("{orgId}")
}

fn has_inner_item(path: &str) -> bool {
    path.matches('{').count() > 1
}

/// Routes that need `admin`, reading included.
fn is_admin_route(path: &str) -> bool {
    path.starts_with("/orgs/{org_id}/api_keys") || is_webhook_route(path)
}

/// Routes that need `read` as well as `admin`, changes included.
fn is_webhook_route(path: &str) -> bool {
    path.starts_with("/orgs/{org_id}/webhooks")
}

/// Routes that need a key of a strict ancestor of the org they name (SPEC §2,
/// governance): deleting it, moving it, changing its configs. `PATCH
/// /orgs/{org_id}` is one only as a move, so it gets a moving body.
fn governed(method: &Method, path: &str) -> Option<Option<Value>> {
    let configs = path == "/orgs/{org_id}/configs"
        || path == "/passportsvc/api/v1/organizations/{orgId}/configs";
    match (method.as_str(), path) {
        ("DELETE", "/orgs/{org_id}") => Some(None),
        ("PATCH", "/orgs/{org_id}") => Some(Some(json!({"parent_id": "s"}))),
        ("PUT" | "PATCH" | "DELETE", _) if configs => Some(sample_body(method, path)),
        _ => None,
    }
}

/// What `kind` must get on `method path` (a route of the authenticated API),
/// or `None` when this caller is not part of the matrix for that route
/// (it would succeed and change things, which other tests cover).
fn expect(kind: Kind, method: &Method, path: &str) -> Option<Expect> {
    let get = *method == Method::GET;
    let status_on = |status: StatusCode, targets: Vec<&'static str>| Expect {
        status,
        targets,
        body: sample_body(method, path),
    };
    if !org_scoped(path) {
        // `/orgs`, `/me`, `/passportsvc/api/v1/organizations/configs`: a
        // valid key of any org may read them (they show only what it reaches,
        // or nothing org-specific). Creating an org is checked on the parent
        // its body names: the targets below are parents.
        let creating = path == "/orgs" && *method == Method::POST;
        return match (kind, get) {
            (Kind::Unauthenticated, _) if creating => {
                Some(status_on(StatusCode::UNAUTHORIZED, vec!["t", MISSING_ORG]))
            }
            (Kind::Unauthenticated, _) => Some(status_on(StatusCode::UNAUTHORIZED, vec![""])),
            // Here only for the webhooks; reading without `read` is
            // refused elsewhere as everywhere.
            (Kind::NoRead, _) => None,
            (_, true) if path == "/audit/checkpoints" => {
                Some(status_on(StatusCode::FORBIDDEN, vec![""]))
            }
            (_, true) => Some(status_on(StatusCode::OK, vec![""])),
            (Kind::Sibling, false) if creating => Some(status_on(
                StatusCode::NOT_FOUND,
                vec!["t", "t-child", MISSING_ORG],
            )),
            (Kind::Child, false) if creating => Some(status_on(
                StatusCode::NOT_FOUND,
                vec!["t", "root", MISSING_ORG],
            )),
            (Kind::ReadOnly, false) if creating => {
                Some(status_on(StatusCode::FORBIDDEN, vec!["t", "t-child"]))
            }
            (_, false) => None,
        };
    }
    match kind {
        Kind::Unauthenticated => Some(status_on(StatusCode::UNAUTHORIZED, vec!["t", MISSING_ORG])),
        Kind::Sibling => Some(status_on(
            StatusCode::NOT_FOUND,
            vec!["t", "t-child", MISSING_ORG],
        )),
        Kind::Child => Some(status_on(
            StatusCode::NOT_FOUND,
            vec!["t", "root", MISSING_ORG],
        )),
        Kind::ReadOnly if !get => Some(status_on(StatusCode::FORBIDDEN, vec!["t", "t-child"])),
        Kind::NoAdmin if is_admin_route(path) => {
            Some(status_on(StatusCode::FORBIDDEN, vec!["t", "t-child"]))
        }
        Kind::NoRead if is_webhook_route(path) => {
            Some(status_on(StatusCode::FORBIDDEN, vec!["t", "t-child"]))
        }
        Kind::Own => governed(method, path).map(|body| Expect {
            status: StatusCode::FORBIDDEN,
            targets: vec!["t"],
            body,
        }),
        Kind::Escalating if *method == Method::POST && path == "/orgs/{org_id}/api_keys" => {
            Some(Expect {
                status: StatusCode::FORBIDDEN,
                targets: vec!["t", "t-child"],
                body: Some(json!({"name": "probe", "permissions": ["read", "delete"]})),
            })
        }
        _ => None,
    }
}

async fn call(
    app: &TestApp,
    authorization: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

/// Everything a refused request could have changed about `org`, as its
/// root-key readings show. Left out, by design: `last_used_at` of keys (a key
/// that authenticates is used, even when refused), the `api_requests` counter
/// of consumption (SPEC §7 counts authenticated requests naming the org) and
/// the access log (SPEC §5 logs failures too).
async fn snapshot(app: &TestApp, org: &str, month: &str) -> Value {
    let mut snap = serde_json::Map::new();
    for part in ["", "/configs", "/customizations"] {
        let path = format!("/orgs/{org}{part}");
        snap.insert(part.into(), app.get_json(&app.root_key, &path).await);
    }
    // Tags are not paged (an org has at most 64); every other list is.
    for list in [
        "/tags",
        "/api_keys?limit=1000",
        "/applications?limit=1000",
        "/workspaces?limit=1000",
        "/usergroups?limit=1000",
        "/children?depth=all&limit=1000",
        "/webhooks?limit=1000",
    ] {
        let path = format!("/orgs/{org}{list}");
        let mut rows = app.all_pages(&app.root_key, &path, 1000).await;
        for row in &mut rows {
            if let Some(row) = row.as_object_mut() {
                row.remove("last_used_at");
            }
        }
        snap.insert(list.into(), Value::Array(rows));
    }
    let path = format!("/orgs/{org}/consumption?month={month}");
    let mut consumption: Value = app.get_json(&app.root_key, &path).await;
    consumption["metrics"]
        .as_object_mut()
        .unwrap()
        .remove("api_requests");
    snap.insert("consumption".into(), consumption);
    let hooks = app
        .all_pages(&app.root_key, &format!("/orgs/{org}/webhooks"), 1000)
        .await;
    for w in hooks {
        let id = w["id"].as_str().unwrap();
        let path = format!("/orgs/{org}/webhooks/{id}/deliveries?limit=1000");
        let deliveries = app.all_pages(&app.root_key, &path, 1000).await;
        snap.insert(format!("deliveries of {id}"), Value::Array(deliveries));
    }
    snap.insert("verify".into(), app.verify(org).await);
    Value::Object(snap)
}

async fn snapshots(app: &TestApp, month: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for org in ["root", "t", "t-child", "s"] {
        all.push(snapshot(app, org, month).await);
    }
    all
}

async fn created(app: &TestApp, path: &str, body: Value) -> String {
    let v = app.created(&app.root_key, path, body).await;
    v["id"].as_str().unwrap().to_owned()
}

/// A key of `org` made by the root key with extra fields in the request.
async fn key_with(app: &TestApp, org: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": "matrix", "permissions": ALL});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let path = format!("/orgs/{org}/api_keys");
    let v = app.created(&app.root_key, &path, body).await;
    (
        v["secret"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    )
}

/// The problem body without what differs between any two responses.
fn comparable(mut p: Value) -> Value {
    p.as_object_mut().unwrap().remove("request_id");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_every_caller_as_the_spec_says_and_refusals_change_nothing() {
    // No deliverer: the webhook's deliveries stay as they are (queued by a
    // replay), so a snapshot shows only what requests changed.
    let app = TestApp::spawn_with(|c| c.webhooks.workers = 0).await;
    app.org("root", "t").await;
    app.org("t", "t-child").await;
    app.org("root", "s").await;

    // Something of every kind in `t`, for the inner path parameters.
    let items = Items {
        key_id: app.key("t", &["read"]).await.1,
        tag_id: created(&app, "/orgs/t/tags", json!({"name": "keep"})).await,
        application_id: created(&app, "/orgs/t/applications", json!({"name": "keep"})).await,
        workspace_id: created(&app, "/orgs/t/workspaces", json!({"name": "keep"})).await,
        usergroup_id: created(&app, "/orgs/t/usergroups", json!({"name": "keep"})).await,
        webhook_id: created(
            &app,
            "/orgs/t/webhooks",
            json!({"url": "https://93.184.216.34/"}),
        )
        .await,
        delivery_id: String::new(),
    };
    let replay = format!("/orgs/t/webhooks/{}/replay", items.webhook_id);
    let since = json!({"since": "2000-01-01T00:00:00Z"});
    assert_eq!(
        app.post(&app.root_key, &replay, since).await.status(),
        StatusCode::ACCEPTED
    );
    let deliveries = format!("/orgs/t/webhooks/{}/deliveries", items.webhook_id);
    let listed: Vec<Value> = app.get_json(&app.root_key, &deliveries).await;
    let items = Items {
        delivery_id: listed[0]["id"].as_str().unwrap().to_owned(),
        ..items
    };
    let missing_items = items.missing();
    let k = &app.root_key;
    let dark = json!({"theme": "dark"});
    let res = app.put(k, "/orgs/t/customizations", dark).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seven = json!({"applications.limit": 7});
    let res = app.patch(k, "/orgs/t/configs", seven).await;
    assert_eq!(res.status(), StatusCode::OK);

    let (revoked, revoked_id) = app.key("t", &ALL).await;
    let res = app
        .delete(k, &format!("/orgs/t/api_keys/{revoked_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let expires = orgd_core::time::format(app.clock_now() + chrono::Duration::minutes(30));
    let (expiring, _) = key_with(&app, "t", json!({"expires_at": expires})).await;
    assert_eq!(app.get(&expiring, "/me").await.status(), StatusCode::OK);

    let bearer = |secret: &str| Some(format!("Bearer {secret}"));
    let callers = vec![
        Caller {
            name: "no key",
            kind: Kind::Unauthenticated,
            authorization: None,
        },
        Caller {
            name: "malformed key",
            kind: Kind::Unauthenticated,
            authorization: Some("Bearer not-a-key".into()),
        },
        Caller {
            name: "empty bearer",
            kind: Kind::Unauthenticated,
            authorization: Some("Bearer".into()),
        },
        Caller {
            name: "root key under the Basic scheme",
            kind: Kind::Unauthenticated,
            authorization: Some(format!("Basic {}", app.root_key)),
        },
        Caller {
            name: "root key under the Token scheme",
            kind: Kind::Unauthenticated,
            authorization: Some(format!("Token {}", app.root_key)),
        },
        Caller {
            name: "unknown well-formed key",
            kind: Kind::Unauthenticated,
            authorization: bearer(&format!("orgd_{}", "0".repeat(43))),
        },
        Caller {
            name: "revoked key",
            kind: Kind::Unauthenticated,
            authorization: bearer(&revoked),
        },
        Caller {
            name: "sibling's key",
            kind: Kind::Sibling,
            authorization: bearer(&app.key("s", &ALL).await.0),
        },
        Caller {
            name: "child's key",
            kind: Kind::Child,
            authorization: bearer(&app.key("t-child", &ALL).await.0),
        },
        Caller {
            name: "read-only key",
            kind: Kind::ReadOnly,
            authorization: bearer(&app.key("t", &["read"]).await.0),
        },
        Caller {
            name: "key without admin",
            kind: Kind::NoAdmin,
            authorization: bearer(&app.key("t", &["read", "write", "delete"]).await.0),
        },
        Caller {
            name: "key without read",
            kind: Kind::NoRead,
            authorization: bearer(&app.key("t", &["write", "delete", "admin"]).await.0),
        },
        Caller {
            name: "the org's own key (governance)",
            kind: Kind::Own,
            authorization: bearer(&app.key("t", &ALL).await.0),
        },
        Caller {
            name: "key minting wider permissions",
            kind: Kind::Escalating,
            authorization: bearer(&app.key("t", &["read", "write", "admin"]).await.0),
        },
        // Last: the server's clock moves past its expiry just before (see the
        // loop), and the clock is shared by everything in this server.
        Caller {
            name: "expired key",
            kind: Kind::Unauthenticated,
            authorization: bearer(&expiring),
        },
    ];

    // The server's own table, plus the public routes outside it (SPEC §2).
    let table = routes(&app).await;
    let mut public: Vec<String> = vec!["/openapi.json".into(), "/docs".into(), "/metrics".into()];
    let mut api = Vec::new();
    for (method, path) in table {
        if matches!(path.as_str(), "/healthz" | "/readyz" | "/audit/keys") {
            assert_eq!(method, Method::GET);
            public.push(path);
        } else {
            api.push((method, path));
        }
    }
    assert_eq!(
        api.iter().filter(|(m, p)| governed(m, p).is_some()).count(),
        8,
        "the governed routes moved; update governed()"
    );

    // A signed checkpoint, so that reading the latest one is a 200.
    app.service.make_checkpoint().await.unwrap();
    let month = app.clock_now().format("%Y-%m").to_string();
    let before = snapshots(&app, &month).await;

    let mut checked = 0usize;
    let mut per_caller: BTreeMap<&str, usize> = BTreeMap::new();
    for caller in &callers {
        if caller.name == "expired key" {
            app.clock.advance(chrono::Duration::hours(1));
        }
        let auth = caller.authorization.as_deref();
        let mut count = 0usize;

        for path in &public {
            let res = call(&app, auth, Method::GET, path, None).await;
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "{} on GET {path}",
                caller.name
            );
            count += 1;
        }

        for (method, path) in &api {
            let Some(want) = expect(caller.kind, method, path) else {
                continue;
            };
            let variants: Vec<&Items> = if has_inner_item(path) {
                vec![&items, &missing_items]
            } else {
                vec![&items]
            };
            for ids in variants {
                let mut refusals: Vec<(String, Value)> = Vec::new();
                for target in &want.targets {
                    let url = fill(path, target, ids);
                    let body = match (&want.body, path.as_str(), method.as_str()) {
                        (Some(b), "/orgs", "POST") => {
                            let mut b = b.clone();
                            b["parent_id"] = json!(target);
                            Some(b)
                        }
                        (b, _, _) => b.clone(),
                    };
                    let case = format!("{} on {method} {url} (org {target:?})", caller.name);
                    let res = call(&app, auth, method.clone(), &url, body.as_ref()).await;
                    if want.status == StatusCode::OK {
                        assert_eq!(res.status(), StatusCode::OK, "{case}");
                    } else {
                        assert_eq!(res.status(), want.status, "{case}");
                        let challenge = res
                            .headers()
                            .get(WWW_AUTHENTICATE)
                            .map(|v| v.to_str().unwrap().to_owned());
                        let p = problem(res, want.status).await;
                        match want.status {
                            StatusCode::UNAUTHORIZED => {
                                assert_eq!(challenge.as_deref(), Some("Bearer"), "{case}");
                                assert_eq!(p["type"], "/problems/unauthorized", "{case}");
                            }
                            StatusCode::NOT_FOUND => {
                                assert_eq!(p["type"], "/problems/not-found", "{case}");
                                let detail = p["detail"].as_str().unwrap();
                                assert!(detail.ends_with("organization not found"), "{case}");
                            }
                            _ => assert_eq!(p["type"], "/problems/forbidden", "{case}"),
                        }
                        refusals.push((case, comparable(p)));
                    }
                    count += 1;
                }
                // 401 and 404 say nothing about whether the org exists: the
                // same body for a real org as for a missing one.
                if matches!(
                    want.status,
                    StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND
                ) {
                    for (case, p) in &refusals[1..] {
                        assert_eq!(p, &refusals[0].1, "{case} differs from {}", refusals[0].0);
                    }
                }
            }
        }
        per_caller.insert(caller.name, count);
        checked += count;
    }

    let after = snapshots(&app, &month).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "a refused request changed something");
    }

    // Every caller was tried on something beyond the public routes.
    for (name, n) in &per_caller {
        assert!(*n > public.len(), "{name}: only {n} cases");
    }
    // The eight unauthenticated callers alone try every API route, the
    // org-scoped ones on two orgs.
    let org_routes = api.iter().filter(|(_, p)| org_scoped(p)).count();
    let lower_bound = 8 * (api.len() + org_routes);
    assert!(
        checked >= lower_bound,
        "only {checked} cases (at least {lower_bound} expected)"
    );
    writeln!(
        std::io::stderr(),
        "security matrix: {checked} (route, caller) cases over {} API routes, the public {public:?} \
         and {} callers, all as SPEC §2 says: {per_caller:?}",
        api.len(),
        callers.len(),
    )
    .unwrap();
}
