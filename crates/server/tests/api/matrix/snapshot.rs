//! Everything a refused request could have changed, as the root key reads
//! it: every `GET` route of the server's route table (so a new resource is
//! in the snapshot by construction), on every org of the tree, and on the
//! items of `t`, unless named in [`UNSNAPPED`] with its reason.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::routes::{Items, Route, Scope};

/// The orgs of the tree the matrix walks.
const ORGS: [&str; 4] = ["root", "t", "t-child", "s"];

/// The `GET` routes left out of the snapshot, and why.
const UNSNAPPED: &[(&str, &str)] = &[(
    "/orgs/{org_id}/access_log",
    "SPEC §5 logs failures too: every refused request is in it",
)];

/// What a snapshot's `GET` asks beyond `limit=1000` (where the route takes a
/// `limit`) to see everything; `{month}` is the month of the run.
const QUERIES: &[(&str, &str)] = &[
    ("/orgs/{org_id}/children", "depth=all"),
    ("/orgs/{org_id}/consumption", "month={month}"),
];

/// Left out of every reading, by design: `last_used_at` of keys (a key that
/// authenticates is used, even when refused).
const VOLATILE: &str = "last_used_at";

fn forget_volatile(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove(VOLATILE);
            o.values_mut().for_each(forget_volatile);
        }
        Value::Array(a) => a.iter_mut().for_each(forget_volatile),
        _ => {}
    }
}

/// Every reading, by URL.
pub async fn snapshot(
    app: &TestApp,
    routes: &[Route],
    items: &Items,
    month: &str,
) -> BTreeMap<String, Value> {
    for (path, _) in UNSNAPPED.iter().chain(QUERIES) {
        assert!(
            routes
                .iter()
                .any(|r| r.method == Method::GET && r.path == *path),
            "{path} is named in matrix/snapshot.rs but is no GET route"
        );
    }
    let mut snap = BTreeMap::new();
    for route in routes {
        if route.method != Method::GET
            || route.scope == Scope::Public
            || UNSNAPPED.iter().any(|(p, _)| *p == route.path)
        {
            continue;
        }
        // Items exist in `t` only.
        let orgs: &[&str] = match (route.org_scoped(), route.has_inner_item()) {
            (false, _) => &[""],
            (true, false) => &ORGS,
            (true, true) => &["t"],
        };
        let mut query: Vec<String> = Vec::new();
        if route.query.contains("limit") {
            query.push("limit=1000".into());
        }
        for (_, q) in QUERIES.iter().filter(|(p, _)| *p == route.path) {
            query.push(q.replace("{month}", month));
        }
        for org in orgs {
            let mut url = items.fill(&route.path, org);
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let mut reading = read(app, route, &url).await;
            forget_volatile(&mut reading);
            if route.path.ends_with("/consumption") {
                // SPEC §7 counts authenticated requests naming the org.
                reading["metrics"]
                    .as_object_mut()
                    .unwrap()
                    .remove("api_requests");
            }
            snap.insert(url, reading);
        }
    }
    snap
}

/// One reading: every page of a paged list, else the one answer (JSON, or
/// text for other media types).
async fn read(app: &TestApp, route: &Route, url: &str) -> Value {
    let key = &app.root_key;
    if route.query.contains("cursor") {
        return Value::Array(app.all_pages(key, url, 1000).await);
    }
    let res = app.get(key, url).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {url} for the snapshot");
    let json = res
        .headers()
        .get("content-type")
        .is_some_and(|ct| ct.to_str().unwrap().starts_with("application/json"));
    if json {
        res.json().await.unwrap()
    } else {
        Value::String(res.text().await.unwrap())
    }
}
