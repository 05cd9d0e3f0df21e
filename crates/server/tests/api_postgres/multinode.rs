//! Two `orgd serve` processes on one PostgreSQL database: every guarantee
//! holds across them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Storage, start_binary_with};

/// Each node's caches trust what they hold for an hour: within a test, a
/// change can reach another node only through PostgreSQL's notifications.
const CACHE_FOR_AN_HOUR: &[&str] = &[
    "--org-cache-ttl-ms",
    "3600000",
    "--key-cache-ttl-ms",
    "3600000",
];

async fn start_node(database_url: &str, root: &str) -> (tokio::process::Child, String) {
    let (child, base, _) = start_binary_with(database_url, Some(root), CACHE_FOR_AN_HOUR).await;
    (child, base)
}

/// Polls `arrived` until it says yes. Not a timing check: the caches would
/// hold the old state for an hour, so only a notification can end the wait.
/// The minute is a guard against hanging forever, far beyond what delivery
/// takes.
async fn until<F, Fut>(what: &str, mut arrived: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !arrived().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_err()
    {
        panic!("{what} never reached the other node");
    }
}

struct Node {
    base: String,
    client: reqwest::Client,
    key: String,
}

impl Node {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.req(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_keep_every_guarantee() {
    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    // Both start at once: migrations and bootstrap race, and must not clash.
    let ((mut c1, b1), (mut c2, b2)) = tokio::join!(
        start_node(&storage.database_url, &root),
        start_node(&storage.database_url, &root),
    );
    let nodes = Arc::new([
        Node {
            base: b1,
            client: reqwest::Client::new(),
            key: root.clone(),
        },
        Node {
            base: b2,
            client: reqwest::Client::new(),
            key: root.clone(),
        },
    ]);
    use reqwest::Method;
    let (s, _) = nodes[0]
        .send(Method::POST, "/orgs", Some(json!({"id": "a", "name": "A"})))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = nodes[1]
        .send(
            Method::PATCH,
            "/orgs/a/configs",
            Some(json!({"applications.limit": 5})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // 64 creates from 32 clients, split across the nodes, against limit 5.
    let mut tasks = Vec::new();
    for t in 0..32usize {
        let nodes = nodes.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in [2 * t, 2 * t + 1] {
                let node = &nodes[n % 2];
                let (s, body) = node
                    .send(
                        Method::POST,
                        "/orgs/a/applications",
                        Some(json!({"name": format!("app {n}")})),
                    )
                    .await;
                out.push((s, body));
            }
            out
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        for (s, body) in t.await.unwrap() {
            match s {
                StatusCode::CREATED => created += 1,
                StatusCode::CONFLICT => {
                    assert_eq!(body["type"], "/problems/limit-exceeded", "{body}");
                    refused += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    assert_eq!((created, refused), (5, 59));
    let (_, items) = nodes[1]
        .send(Method::GET, "/orgs/a/applications", None)
        .await;
    assert_eq!(items.as_array().unwrap().len(), 5);

    // Concurrent audited changes to one org from both nodes: one chain.
    let mut tasks = Vec::new();
    for n in 0..40usize {
        let nodes = nodes.clone();
        tasks.push(tokio::spawn(async move {
            nodes[n % 2]
                .send(
                    Method::PATCH,
                    "/orgs/a",
                    Some(json!({"name": format!("name {n}")})),
                )
                .await
                .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let (_, v) = nodes[0]
        .send(Method::GET, "/orgs/a/audit/verify", None)
        .await;
    assert_eq!(v["valid"], true, "{v}");
    // org.create, configs.update, five application.create, forty org.update
    assert_eq!(v["events"], 47, "{v}");
    // Node 2 may answer from its cache until node 1's last change reaches it.
    until("the last rename", || async {
        let (_, org) = nodes[1].send(Method::GET, "/orgs/a", None).await;
        org["version"] == 42
    })
    .await;

    // An Idempotency-Key replayed on the other node replays.
    let post = |node: &Node| {
        node.req(Method::POST, "/orgs")
            .header("idempotency-key", "create-b")
            .json(&json!({"name": "B", "parent_id": "a"}))
            .send()
    };
    let first = post(&nodes[0]).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = post(&nodes[1]).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    let (_, children) = nodes[0].send(Method::GET, "/orgs/a/children", None).await;
    assert_eq!(children.as_array().unwrap().len(), 1);

    // A key revoked on node 1 is refused by node 2, although node 2 had just
    // resolved (and cached) it.
    let (s, key) = nodes[0]
        .send(
            Method::POST,
            "/orgs/a/api_keys",
            Some(json!({"name": "k", "permissions": ["read"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let secret = key["secret"].as_str().unwrap().to_owned();
    let me = |secret: String| {
        let node = nodes.clone();
        async move {
            node[1]
                .client
                .get(format!("{}/me", node[1].base))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(secret.clone()).await, StatusCode::OK);
    let (s, _) = nodes[0]
        .send(
            Method::DELETE,
            &format!("/orgs/a/api_keys/{}", key["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    until("the revocation", || async {
        me(secret.clone()).await == StatusCode::UNAUTHORIZED
    })
    .await;

    // Crossing moves, one on each node (x under y's child, y under x's
    // child): never both, so never a cycle.
    for round in 0..5 {
        let (x, y) = (format!("x{round}"), format!("y{round}"));
        for (id, parent) in [(&x, "a"), (&y, "a")] {
            let (s, _) = nodes[0]
                .send(
                    Method::POST,
                    "/orgs",
                    Some(json!({"id": id, "name": id, "parent_id": parent})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
            let (s, _) = nodes[0]
                .send(
                    Method::POST,
                    "/orgs",
                    Some(json!({"id": format!("{id}-child"), "name": "c", "parent_id": id})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let (n1, n2) = (nodes.clone(), nodes.clone());
        let (x1, y1) = (x.clone(), y.clone());
        let first = tokio::spawn(async move {
            n1[0]
                .send(
                    Method::PATCH,
                    &format!("/orgs/{x1}"),
                    Some(json!({"parent_id": format!("{y1}-child")})),
                )
                .await
                .0
        });
        let (x2, y2) = (x.clone(), y.clone());
        let second = tokio::spawn(async move {
            n2[1]
                .send(
                    Method::PATCH,
                    &format!("/orgs/{y2}"),
                    Some(json!({"parent_id": format!("{x2}-child")})),
                )
                .await
                .0
        });
        let mut statuses = [first.await.unwrap(), second.await.unwrap()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
    }

    c1.kill().await.unwrap();
    c2.kill().await.unwrap();
}

/// Each node serves hot reads from memory; a change committed on one node
/// reaches the other's cache through PostgreSQL's notifications, not through
/// the cache's own expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_the_other_nodes_cache_by_notification() {
    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    let (mut c1, b1) = start_node(&storage.database_url, &root).await;
    let (mut c2, b2) = start_node(&storage.database_url, &root).await;
    let node = |base: String| Node {
        base,
        client: reqwest::Client::new(),
        key: root.clone(),
    };
    let (one, two) = (node(b1), node(b2));
    use reqwest::Method;
    let (s, _) = one
        .send(Method::POST, "/orgs", Some(json!({"id": "a", "name": "A"})))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let name = |n: &Node| {
        let req = n.req(Method::GET, "/orgs/a");
        async move {
            let org: Value = req.send().await.unwrap().json().await.unwrap();
            org["name"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(name(&two).await, "A");

    // Node 2 answers from memory: a change made behind orgd's back (which
    // publishes nothing) is not seen.
    let mut db = crate::helpers::RawDb::connect(&storage.database_url).await;
    db.execute("UPDATE orgs SET name = 'behind' WHERE id = 'a'")
        .await
        .unwrap();
    assert_eq!(name(&two).await, "A");

    let (s, _) = one
        .send(Method::PATCH, "/orgs/a", Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    until("the rename", || async { name(&two).await == "Renamed" }).await;
    c1.kill().await.unwrap();
    c2.kill().await.unwrap();
}

/// A feed read held on one node is answered when an event commits on the
/// other: the notification that keeps caches true wakes it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_read_held_on_one_node_wakes_for_an_event_committed_on_the_other() {
    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    let (mut c1, b1) = start_node(&storage.database_url, &root).await;
    let (mut c2, b2) = start_node(&storage.database_url, &root).await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{b2}/orgs/root/events"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    let held = crate::helpers::held_feed_read(&b2, &root, &crate::helpers::next_after(&res)).await;
    let res = client
        .post(format!("{b1}/orgs"))
        .bearer_auth(&root)
        .json(&json!({"id": "elsewhere", "name": "Elsewhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (events, _) = held.await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["org_id"], "elsewhere");
    c1.kill().await.unwrap();
    c2.kill().await.unwrap();
}

/// One webhook, two nodes delivering, and events written on both nodes to
/// several orgs at once: the receiver gets every event exactly once, each
/// org's in order, and the queue holds one delivery per event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_each_event_to_a_webhook_exactly_once() {
    use std::collections::{BTreeMap, HashSet};

    use reqwest::Method;

    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    let mut flags = CACHE_FOR_AN_HOUR.to_vec();
    flags.push("--webhook-allow-private-targets");
    let (mut c1, b1, _) = start_binary_with(&storage.database_url, Some(&root), &flags).await;
    let (mut c2, b2, _) = start_binary_with(&storage.database_url, Some(&root), &flags).await;
    let nodes = Arc::new([b1, b2].map(|base| Node {
        base,
        client: reqwest::Client::new(),
        key: root.clone(),
    }));

    // The receiver: the org and webhook-id of every request, as they come.
    let got = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let record = got.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let record = record.clone();
                async move {
                    // A little time over each, so that attempts overlap.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    record.lock().unwrap().push((
                        event["org_id"].as_str().unwrap_or_default().to_owned(),
                        id.to_owned(),
                    ));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    const ORGS: usize = 5;
    for o in 0..ORGS {
        let (s, _) = nodes[0]
            .send(
                Method::POST,
                "/orgs",
                Some(json!({"id": format!("o{o}"), "name": "o"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, hook) = nodes[1]
        .send(
            Method::POST,
            "/orgs/root/webhooks",
            Some(json!({"url": url, "types": ["org.update"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let hook = format!("/orgs/root/webhooks/{}", hook["id"].as_str().unwrap());

    // 50 renames from 10 clients: each org renamed from both nodes at once.
    let mut tasks = Vec::new();
    for t in 0..10usize {
        let nodes = nodes.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..5 {
                let (s, _) = nodes[t % 2]
                    .send(
                        Method::PATCH,
                        &format!("/orgs/o{}", t % ORGS),
                        Some(json!({"name": format!("{t} {n}")})),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (s, events) = nodes[0]
        .send(
            Method::GET,
            "/orgs/root/events?types=org.update&limit=1000",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let events = events.as_array().unwrap().clone();
    assert_eq!(events.len(), 50);

    until("every event at the receiver", || async {
        let ids: HashSet<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id)| id.clone())
            .collect();
        ids.len() == 50
    })
    .await;
    until("every delivery logged as succeeded", || async {
        let (_, rows) = nodes[0]
            .send(
                Method::GET,
                &format!("{hook}/deliveries?status=succeeded&limit=1000"),
                None,
            )
            .await;
        rows.as_array().is_some_and(|r| r.len() == 50)
    })
    .await;
    let (_, rows) = nodes[1]
        .send(Method::GET, &format!("{hook}/deliveries?limit=1000"), None)
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 50, "one delivery per event");
    // A graceful stop waits for the attempts in flight: once both nodes have
    // exited, any second sending of an event has reached the receiver.
    for child in [&mut c1, &mut c2] {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        assert!(
            child.wait().await.unwrap().success(),
            "a node stops cleanly"
        );
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 50, "each event exactly once: {got:?}");
    let mut expected: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &events {
        expected
            .entry(e["org_id"].as_str().unwrap())
            .or_default()
            .push(e["id"].as_str().unwrap());
    }
    let mut delivered: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (org, id) in &got {
        delivered.entry(org).or_default().push(id);
    }
    assert_eq!(delivered, expected, "each org's events in the feed's order");

    server.abort();
}

/// Two nodes making a checkpoint every second while both take writes: one
/// chain of checkpoints, each naming the one before (no fork), all signed by
/// the one key the nodes share, every one valid; and each node's last
/// checkpoint, made as it stops, is in that chain too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_sign_one_chain_of_checkpoints() {
    use reqwest::Method;

    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    let mut flags = CACHE_FOR_AN_HOUR.to_vec();
    flags.extend(["--checkpoint-interval-secs", "1"]);
    let (c1, b1, _) = start_binary_with(&storage.database_url, Some(&root), &flags).await;
    let (c2, b2, _) = start_binary_with(&storage.database_url, Some(&root), &flags).await;
    let nodes = [b1, b2].map(|base| Node {
        base,
        client: reqwest::Client::new(),
        key: root.clone(),
    });
    for o in 0..4 {
        let (s, _) = nodes[o % 2]
            .send(
                Method::POST,
                "/orgs",
                Some(json!({"id": format!("o{o}"), "name": "o"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut db = crate::helpers::RawDb::connect(&storage.database_url).await;
    // Writes on both nodes, a few a second, until several checkpoints were
    // made (a minute is the guard against hanging, far beyond the 4 s
    // this takes).
    let writes = async {
        let mut n = 0;
        while db.scalar("SELECT count(*) FROM audit_checkpoints").await < 4 {
            let (s, _) = nodes[n % 2]
                .send(
                    Method::PATCH,
                    &format!("/orgs/o{}", n % 4),
                    Some(json!({"name": format!("{n}")})),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            n += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), writes)
        .await
        .expect("four checkpoints within a minute");
    // A last change on each, then both stop cleanly (a last checkpoint each).
    for (i, node) in nodes.iter().enumerate() {
        let (s, _) = node
            .send(
                Method::PATCH,
                &format!("/orgs/o{i}"),
                Some(json!({"name": "last"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    for mut child in [c1, c2] {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        assert!(child.wait().await.unwrap().success());
    }

    assert_eq!(db.scalar("SELECT count(*) FROM audit_keys").await, 1);
    assert_eq!(
        db.scalar("SELECT count(DISTINCT kid) FROM audit_checkpoints")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM audit_checkpoints").await,
        db.scalar("SELECT max(position) FROM audit_checkpoints")
            .await,
        "positions 1, 2, … with no gap"
    );
    let (code, out, err) = crate::helpers::run_cli(&[
        "audit",
        "verify-checkpoints",
        "--database-url",
        &storage.database_url,
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    // The last checkpoint holds both last changes.
    let (code, out, err) = crate::helpers::run_cli(&[
        "audit",
        "verify",
        "--all",
        "--database-url",
        &storage.database_url,
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let held: i64 = db
        .scalar(
            "SELECT count(*) FROM checkpoint_leaves l JOIN audit_events e \
             ON e.org_id = l.org_id AND e.seq = l.seq AND e.hash = l.hash \
             WHERE l.org_id IN ('o0', 'o1') AND e.action = 'org.update' \
             AND e.changes LIKE '%\"last\"%'",
        )
        .await;
    assert_eq!(held, 2, "each node's last change is in a checkpoint");
}
