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
//! - `t`'s keys with some permissions (read only; read+write+delete;
//!   write+delete+admin; read+write+admin): 403 on every route needing a
//!   permission they lack, as the route's row in `helpers::routes::ROUTES`
//!   says, on `t` and `t-child` (both reached, so the permission decides), and
//!   on `POST /orgs` under them: every non-GET route for the read-only key,
//!   the `api_keys` and `webhooks` routes without `admin`, every `webhooks`
//!   route and every read without `read` (a webhook delivers what the feed
//!   serves, SPEC §11), every route needing `delete` without it;
//! - `t`'s keys allowed by their permissions, its own all-permission key
//!   included: 403 on the governed routes of `t` itself (delete, move, the
//!   configs of both route families);
//! - `t`'s read+write+admin key: 403 minting a key with `delete`;
//! - every valid key with the permissions a route of no org needs: 200 on
//!   `GET /orgs`, `GET /me`, the known configs and the latest audit
//!   checkpoint, 403 without them; a key of any org but the root: 403 on the
//!   list of checkpoints (SPEC §12: root-org keys).
//!
//! What a caller must get is read off each route's row, never off its path,
//! and the snapshot that shows nothing changed reads every GET route of the
//! table (`snapshot.rs`): a new route is in the matrix by construction.
//!
//! Routes with an inner item (`{key_id}`, `{tag_id}`, …) are walked twice:
//! pointing at a real item of `t` (so a refusal that came too late would show
//! in the snapshot) and at a well-formed id of nothing (so a not-found of the
//! item cannot come before the refusal).

mod expect;
mod snapshot;

use std::collections::BTreeMap;
use std::io::Write as _;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::routes::{Items, Scope, table};
use crate::helpers::{TestApp, problem};
use expect::{ALL, Kind, expect};
use snapshot::snapshot;

struct Caller {
    name: &'static str,
    kind: Kind,
    /// The whole `Authorization` header, if any.
    authorization: Option<String>,
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

/// Asserts that two snapshots read the same.
fn unchanged(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (url, b) in before {
        assert_eq!(b, &after[url], "a refused request changed GET {url}");
    }
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

    // Something of every kind in `t`, for the inner path parameters (one
    // of each path parameter the route table has: `helpers::routes::FIXTURES`).
    let items = Items::make(&app, "t").await;
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

    // The server's own table (each route with its row: the permissions it
    // needs and its scope), plus the public routes outside it (SPEC §2).
    let table = table(&app).await;
    let mut public: Vec<String> = vec!["/openapi.json".into(), "/docs".into(), "/metrics".into()];
    let mut api = Vec::new();
    for route in &table {
        if route.scope == Scope::Public {
            assert_eq!(route.method, Method::GET);
            public.push(route.path.clone());
        } else {
            api.push(route.clone());
        }
    }

    // A signed checkpoint, so that reading the latest one is a 200.
    app.service.make_checkpoint().await.unwrap();
    let month = app.clock_now().format("%Y-%m").to_string();
    let mut before = snapshot(&app, &table, &items, &month).await;

    let mut checked = 0usize;
    let mut per_caller: BTreeMap<&str, usize> = BTreeMap::new();
    for caller in &callers {
        if caller.name == "expired key" {
            // Time changes what some readings show (an expired key no longer
            // counts against the limit): compare up to here, then start over.
            let now = snapshot(&app, &table, &items, &month).await;
            unchanged(&before, &now);
            app.clock.advance(chrono::Duration::hours(1));
            before = snapshot(&app, &table, &items, &month).await;
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

        for route in &api {
            let Some(want) = expect(caller.kind, route) else {
                continue;
            };
            let (method, path) = (&route.method, &route.path);
            let variants: Vec<&Items> = if route.has_inner_item() {
                vec![&items, &missing_items]
            } else {
                vec![&items]
            };
            for ids in variants {
                let mut refusals: Vec<(String, Value)> = Vec::new();
                for target in &want.targets {
                    let url = ids.fill(path, target);
                    let body = match &want.body {
                        Some(b) if route.scope == Scope::Parent => {
                            let mut b = b.clone();
                            b["parent_id"] = json!(target);
                            Some(b)
                        }
                        b => b.clone(),
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

    let after = snapshot(&app, &table, &items, &month).await;
    unchanged(&before, &after);

    // Every caller was tried on something beyond the public routes.
    for (name, n) in &per_caller {
        assert!(*n > public.len(), "{name}: only {n} cases");
    }
    // The eight unauthenticated callers alone try every API route, the
    // org-scoped ones on two orgs.
    let org_routes = api.iter().filter(|r| r.org_scoped()).count();
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
