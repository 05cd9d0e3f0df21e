//! How to make each path parameter of the route table ([`FIXTURES`]), and
//! the values made ([`Items`]): one table, so a route with a new path
//! parameter fails `routes::table` until it says how to make one.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::TestApp;
use super::routes::{path_params, sample_body};

/// How to make a value for a path parameter.
#[derive(Debug, Clone, Copy)]
pub enum Make {
    /// The org the request is about: the target the test picks.
    Org,
    /// The `id` of what this `POST` (a route of [`ROUTES`], sent its row's
    /// body) creates.
    Created(&'static str),
    /// The `id` of the first row `listed` (a `GET`) answers after `made`
    /// (a `POST` of [`ROUTES`], sent its row's body) has made some.
    Listed {
        made: &'static str,
        listed: &'static str,
    },
}

/// Every path parameter of the server, and how to make one, in the order
/// they are made (a parameter may use those before it). A path parameter of
/// the document missing here fails [`table`], naming it.
pub const FIXTURES: &[(&str, Make)] = &[
    ("org_id", Make::Org),
    ("orgId", Make::Org),
    ("key_id", Make::Created("/orgs/{org_id}/api_keys")),
    ("tag_id", Make::Created("/orgs/{org_id}/tags")),
    (
        "application_id",
        Make::Created("/orgs/{org_id}/applications"),
    ),
    ("workspace_id", Make::Created("/orgs/{org_id}/workspaces")),
    ("usergroup_id", Make::Created("/orgs/{org_id}/usergroups")),
    ("webhook_id", Make::Created("/orgs/{org_id}/webhooks")),
    (
        "delivery_id",
        Make::Listed {
            made: "/orgs/{org_id}/webhooks/{webhook_id}/replay",
            listed: "/orgs/{org_id}/webhooks/{webhook_id}/deliveries",
        },
    ),
];

pub(super) fn is_org(param: &str) -> bool {
    matches!(fixture(param), Some(Make::Org))
}

pub(super) fn fixture(param: &str) -> Option<Make> {
    FIXTURES.iter().find(|(p, _)| *p == param).map(|(_, m)| *m)
}

/// A value for each inner path parameter (every one of [`FIXTURES`] but the
/// org's).
#[derive(Debug, Clone)]
pub struct Items(BTreeMap<&'static str, String>);

impl Items {
    /// One of each, made in `org` with the root key, as [`FIXTURES`] says.
    pub async fn make(app: &TestApp, org: &str) -> Self {
        let mut items = Self(BTreeMap::new());
        let key = &app.root_key;
        for (param, make) in FIXTURES {
            let id = match make {
                Make::Org => continue,
                Make::Created(collection) => {
                    let url = items.fill(collection, org);
                    let body = sample_body(&Method::POST, collection);
                    let res = app.send(Some(key), Method::POST, &url, body.as_ref()).await;
                    let v = super::json_body(res, StatusCode::CREATED).await;
                    v["id"].as_str().unwrap().to_owned()
                }
                Make::Listed { made, listed } => {
                    let url = items.fill(made, org);
                    let body = sample_body(&Method::POST, made);
                    let res = app.send(Some(key), Method::POST, &url, body.as_ref()).await;
                    assert!(res.status().is_success(), "POST {url}: {}", res.status());
                    let rows: Vec<Value> = app.get_json(key, &items.fill(listed, org)).await;
                    let first = rows
                        .first()
                        .unwrap_or_else(|| panic!("{listed}: none made"));
                    first["id"].as_str().unwrap().to_owned()
                }
            };
            items.0.insert(param, id);
        }
        items
    }

    /// Placeholders, for requests refused before any item is looked up.
    pub fn placeholders() -> Self {
        Self(
            FIXTURES
                .iter()
                .filter(|(_, m)| !matches!(m, Make::Org))
                .map(|(p, _)| (*p, format!("{p}_probe")))
                .collect(),
        )
    }

    /// The same ids with their random part zeroed: well-formed, naming nothing.
    pub fn missing(&self) -> Self {
        fn zero(id: &str) -> String {
            let (prefix, rest) = id.split_once('_').unwrap();
            format!("{prefix}_{}", "0".repeat(rest.len()))
        }
        Self(self.0.iter().map(|(p, id)| (*p, zero(id))).collect())
    }

    /// `path` with every path parameter filled: the org ones with `org`, the
    /// others with these items.
    pub fn fill(&self, path: &str, org: &str) -> String {
        let mut filled = path.to_owned();
        for p in path_params(path) {
            let value = match fixture(&p) {
                Some(Make::Org) => org,
                Some(_) => self
                    .0
                    .get(p.as_str())
                    .unwrap_or_else(|| panic!("{path}: {{{p}}} is made after what needs it")),
                None => panic!("{path}: {{{p}}} has no fixture in tests/api/helpers/fixtures.rs"),
            };
            filled = filled.replace(&format!("{{{p}}}"), value);
        }
        filled
    }
}
