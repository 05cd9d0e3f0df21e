//! What the HTTP tests share, by concern: the server under test and its
//! storage (here), assertions on answers (`assertions`), the route table
//! (`routes`) and its fixtures (`fixtures`), the real binary as a process
//! (`process`), the database reached directly (`raw_db`) and held feed reads
//! (`feed`).
//! Everything is re-exported here, so a test says `crate::helpers::X`.

mod assertions;
mod feed;
mod fixtures;
mod process;
mod raw_db;
pub mod routes;

pub use assertions::*;
pub use feed::*;
pub use process::*;
pub use raw_db::*;
pub use routes::{openapi_document, routes};

use std::sync::Arc;

use orgd::Config;
use orgd::config::DatabaseUrl;
use orgd_core::clock::OffsetClock;
use orgd_store_postgres::testing::{TempDatabase, temp_database};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Whether this test binary runs the suite on PostgreSQL (`api_postgres`)
/// rather than SQLite (`api`).
pub fn postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "api_postgres"
}

/// Where a test server keeps its data: a temporary directory (the SQLite
/// file, and anything else the test writes) and, on PostgreSQL, a database of
/// its own. Both are removed when dropped.
pub struct Storage {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    _pg: Option<TempDatabase>,
}

impl Storage {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if postgres() {
            let (url, guard) = temp_database()
                .await
                .expect("the PostgreSQL HTTP suite runs only with ORGD_TEST_POSTGRES_URL set");
            Self {
                dir,
                database_url: url,
                _pg: Some(guard),
            }
        } else {
            let database_url = format!("sqlite://{}", dir.path().join("orgd.db").display());
            Self {
                dir,
                database_url,
                _pg: None,
            }
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub root_key: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub clock: Arc<OffsetClock>,
    pub service: Arc<orgd_core::service::Orgd>,
    traffic: orgd::TrafficWriter,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
    storage: Option<Storage>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with the test configuration changed by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let storage = Storage::new().await;
        let root_key = orgd_core::api_keys::generate_secret();
        Self::start(storage, root_key, tweak).await
    }

    /// Starts a server on `storage` (as [`TestApp::stop`] hands it back),
    /// with the root key it was made with: what a test changes between a
    /// stop and a start, the new server meets.
    pub async fn start_on(
        storage: Storage,
        root_key: String,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start(storage, root_key, tweak).await
    }

    async fn start(storage: Storage, root_key: String, tweak: impl FnOnce(&mut Config)) -> Self {
        let database_url = storage.database_url.clone();
        let mut config = Config::new(
            "127.0.0.1:0".parse().unwrap(),
            DatabaseUrl::new(&database_url),
        );
        config.bootstrap_key = Some(root_key.clone().into());
        tweak(&mut config);
        let clock = Arc::new(OffsetClock::default());
        let app = orgd::Application::build_with_clock(config, clock.clone())
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let shutdown = app.shutdown_token();
        let service = app.service();
        let traffic = app.traffic();
        let server = tokio::spawn(async move { app.run().await.unwrap() });
        Self {
            base,
            root_key,
            client: reqwest::Client::new(),
            database_url,
            clock,
            service,
            traffic,
            shutdown,
            server: Some(server),
            storage: Some(storage),
        }
    }

    /// Stops the server gracefully, waits until it has, and hands back its
    /// storage.
    pub async fn stop(mut self) -> Storage {
        self.shutdown.cancel();
        if let Some(s) = self.server.take() {
            s.await.unwrap();
        }
        self.storage.take().unwrap()
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(self) -> Self {
        let key = self.root_key.clone();
        let storage = self.stop().await;
        Self::start(storage, key, |_| {}).await
    }

    /// Waits until every access entry and request count so far is stored.
    pub async fn flush(&self) {
        self.traffic.flush().await;
    }

    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use orgd_core::clock::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    /// A body sent as given, under `content_type`: for bodies `json!` cannot
    /// write (malformed JSON, `5.0`, other media types).
    pub async fn send_bytes(
        &self,
        key: &str,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// JSON text sent as written.
    pub async fn send_json_text(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: &str,
    ) -> Response {
        self.send_bytes(key, method, path, "application/json", body.to_owned())
            .await
    }

    pub async fn get(&self, key: &str, path: &str) -> Response {
        self.send(Some(key), Method::GET, path, None).await
    }

    /// A GET that must answer 200 OK, and its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str, path: &str) -> T {
        let res = self.get(key, path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    /// A GET that must fail with `status`: its problem body.
    pub async fn get_problem(&self, key: &str, path: &str, status: StatusCode) -> Value {
        problem(self.get(key, path).await, status).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Response {
        self.send(Some(key), Method::POST, path, Some(&body)).await
    }

    pub async fn put(&self, key: &str, path: &str, body: Value) -> Response {
        self.send(Some(key), Method::PUT, path, Some(&body)).await
    }

    pub async fn patch(&self, key: &str, path: &str, body: Value) -> Response {
        self.send(Some(key), Method::PATCH, path, Some(&body)).await
    }

    pub async fn delete(&self, key: &str, path: &str) -> Response {
        self.send(Some(key), Method::DELETE, path, None).await
    }

    /// A DELETE that must fail with `status`: its problem body.
    pub async fn delete_problem(&self, key: &str, path: &str, status: StatusCode) -> Value {
        problem(self.delete(key, path).await, status).await
    }

    /// A POST that must answer 201 Created: its JSON body.
    pub async fn created(&self, key: &str, path: &str, body: Value) -> Value {
        json_body(self.post(key, path, body).await, StatusCode::CREATED).await
    }

    /// Creates org `id` under `parent` with the root key.
    pub async fn org(&self, parent: &str, id: &str) -> Value {
        let res = self
            .post(
                &self.root_key,
                "/orgs",
                json!({"id": id, "name": format!("Org {id}"), "parent_id": parent}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating {id}");
        res.json().await.unwrap()
    }

    /// Creates, with the root key, the orgs along each `/`-separated path of
    /// `paths` (`"root/a/a1 root/b"`), each under the one before it: the first
    /// of a path exists already, and an org met again is made only once.
    pub async fn orgs(&self, paths: &str) {
        let mut made = std::collections::HashSet::new();
        for path in paths.split_whitespace() {
            let ids: Vec<&str> = path.split('/').collect();
            for pair in ids.windows(2) {
                if made.insert(pair[1]) {
                    self.org(pair[0], pair[1]).await;
                }
            }
        }
    }

    /// Reports `quantity` of `metric` for `org` with the root key.
    pub async fn usage(&self, org: &str, metric: &str, quantity: i64) {
        let res = self
            .post(
                &self.root_key,
                &format!("/orgs/{org}/usage"),
                json!([{"metric": metric, "quantity": quantity}]),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "usage of {org}");
    }

    /// Creates an application named `name` in `org` with the root key.
    pub async fn application(&self, org: &str, name: &str) {
        let res = self
            .post(
                &self.root_key,
                &format!("/orgs/{org}/applications"),
                json!({"name": name}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "application {name} of {org}"
        );
    }

    /// Mints a key for `org` with the root key; returns `(secret, key id)`.
    pub async fn key(&self, org: &str, permissions: &[&str]) -> (String, String) {
        let body = self
            .created(
                &self.root_key,
                &format!("/orgs/{org}/api_keys"),
                json!({"name": "test key", "permissions": permissions}),
            )
            .await;
        (
            body["secret"].as_str().unwrap().to_owned(),
            body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Follows `Link: rel="next"` from `path` to the last page; returns every
    /// row, checking that no page is longer than `page_size`.
    pub async fn all_pages(&self, key: &str, path: &str, page_size: usize) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next.take() {
            let res = self.get(key, &path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            next = res.headers().get("link").map(|l| {
                let l = l.to_str().unwrap();
                assert!(l.ends_with("rel=\"next\""), "{l}");
                l[1..l.find('>').unwrap()].to_owned()
            });
            let page: Vec<Value> = res.json().await.unwrap();
            assert!(page.len() <= page_size);
            rows.extend(page);
        }
        rows
    }

    /// `GET /audit/keys`, with no key, as an auditor reads it.
    pub async fn audit_keys(&self) -> Value {
        let res = self
            .client
            .get(self.url("/audit/keys"))
            .send()
            .await
            .unwrap();
        json_body(res, StatusCode::OK).await
    }

    /// The public key (base64url) of the signing key now active.
    pub async fn active_audit_key(&self) -> String {
        let keys = self.audit_keys().await;
        let active = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["retired_at"].is_null());
        active.unwrap_or_else(|| panic!("no active key in {keys}"))["public_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn verify(&self, org: &str) -> Value {
        let res = self
            .get(&self.root_key, &format!("/orgs/{org}/audit/verify"))
            .await;
        json_body(res, StatusCode::OK).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
