use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use orgd::Config;
use orgd::config::DatabaseUrl;
use orgd_core::clock::OffsetClock;
use orgd_store_postgres::testing::{TempDatabase, temp_database};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
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
    traffic: orgd::ingest::TrafficWriter,
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
        let root_key = orgd_core::keys::generate_secret();
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

/// Asserts an RFC 9457 problem body with the given status, and returns it.
pub async fn problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "status of {}", res.url());
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(body["request_id"].is_string());
    body
}

/// Asserts the response's status and returns its JSON body.
pub async fn json_body(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "status of {}", res.url());
    res.json().await.unwrap()
}

/// Asserts that `actual` has every field of `expected`, with the same value
/// (it may have others too).
pub fn assert_fields(actual: &Value, expected: Value) {
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&actual[field], value, "{field} of {actual}");
    }
}

/// The `field` of each entry of a problem's `errors`, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    strs(problem["errors"].as_array().unwrap(), "field")
}

/// The string `field` of each row, in order.
pub fn strs<'a>(rows: &'a [Value], field: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[field].as_str().unwrap()).collect()
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
    let doc = openapi_document(app).await;
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((m, path.clone()));
        }
    }
    assert!(out.len() > 10, "the route table looks empty");
    out
}

/// A valid body for each route that takes one. Every route of the table must
/// be listed here, so a new route cannot escape the route-walking tests.
pub fn sample_body(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/orgs") => Some(json!({"name": "probe"})),
        ("PATCH", "/orgs/{org_id}") => Some(json!({"name": "probe"})),
        ("POST", "/orgs/{org_id}/api_keys") => {
            Some(json!({"name": "probe", "permissions": ["read"]}))
        }
        (
            "PUT" | "PATCH",
            "/orgs/{org_id}/configs" | "/passportsvc/api/v1/organizations/{orgId}/configs",
        ) => Some(json!({"applications.limit": 5})),
        ("PUT", "/orgs/{org_id}/customizations") => Some(json!({"theme": "dark"})),
        ("POST", "/orgs/{org_id}/tags") => Some(json!({"name": "probe"})),
        ("POST", "/orgs/{org_id}/access_log") => {
            Some(json!([{"user": "probe", "action": "LOGIN", "status": "SUCCESS"}]))
        }
        ("POST", "/orgs/{org_id}/usage") => Some(json!([{"metric": "probe", "quantity": 1}])),
        (
            "POST",
            "/orgs/{org_id}/applications"
            | "/orgs/{org_id}/workspaces"
            | "/orgs/{org_id}/usergroups",
        ) => Some(json!({"name": "probe", "metadata": {"k": "v"}})),
        // A public address, so no name is resolved and no private target
        // refused; the matrix's server delivers nothing (no workers).
        ("POST", "/orgs/{org_id}/webhooks") => {
            Some(json!({"url": "https://93.184.216.34/hook", "types": ["org.*"]}))
        }
        ("PATCH", "/orgs/{org_id}/webhooks/{webhook_id}") => Some(json!({"description": "probe"})),
        ("POST", "/orgs/{org_id}/webhooks/{webhook_id}/replay") => {
            Some(json!({"since": "2000-01-01T00:00:00Z"}))
        }
        (
            "POST",
            "/orgs/{org_id}/webhooks/{webhook_id}/rotate_secret"
            | "/orgs/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        ) => None,
        ("GET" | "DELETE", _) => None,
        (m, p) => panic!("route {m} {p} has no sample body in tests/api/helpers.rs"),
    }
}

/// Requests, all with one key, to a server the test runs as a process.
#[derive(Clone)]
pub struct Remote {
    client: reqwest::Client,
    pub base: String,
    key: String,
}

impl Remote {
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    /// A request to `path` with the key, to finish and send.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.unwrap()
    }

    /// A GET that must answer 200 OK, and its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    /// A request with `body` as JSON.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> Response {
        self.req(method, path).json(&body).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.send(Method::PATCH, path, body).await
    }
}

/// `orgd serve` on `database_url`, listening on a free port, with the
/// start-up lines shown (`warn,orgd::cli=info`) and the bootstrap key if given.
pub fn serve(database_url: &str, bootstrap_key: Option<&str>) -> OrgdProcess {
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
    ];
    let mut env = vec![("ORGD_LOG", "warn,orgd::cli=info")];
    if let Some(k) = bootstrap_key {
        env.push(("ORGD_BOOTSTRAP_KEY", k));
    }
    OrgdProcess::spawn(&args, &env)
}

/// Starts the real `orgd serve` binary on a free port. Returns the process,
/// its base URL and the stderr lines it printed before listening.
pub async fn start_binary(
    database_url: &str,
    bootstrap_key: Option<&str>,
) -> (Child, String, Vec<String>) {
    start_binary_with(database_url, bootstrap_key, &[]).await
}

/// [`start_binary`] with more `orgd serve` flags.
pub async fn start_binary_with(
    database_url: &str,
    bootstrap_key: Option<&str>,
    flags: &[&str],
) -> (Child, String, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgd"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .env("ORGD_DATABASE_URL", database_url)
        // Warnings, and the start-up lines (which say where it listens).
        .env("ORGD_LOG", "warn,orgd::cli=info")
        .env_remove("ORGD_BOOTSTRAP_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(k) = bootstrap_key {
        cmd.env("ORGD_BOOTSTRAP_KEY", k);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = Vec::new();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("orgd exited before listening");
        if let Some(addr) = listening_on(&line) {
            break addr;
        }
        printed.push(line);
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"), printed)
}

/// The address in orgd's "listening on ADDR" start-up line, text or JSON.
pub fn listening_on(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    Some(rest.split('"').next().unwrap_or(rest).trim().to_owned())
}

/// Runs an `orgd` subcommand to completion: `(exit code, stdout, stderr)`.
pub async fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orgd"))
        .args(args)
        .env_remove("ORGD_DATABASE_URL")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A direct connection to a test server's database, for what only someone
/// with database access could do (tamper with rows, count them).
pub enum RawDb {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl RawDb {
    pub async fn connect(url: &str) -> Self {
        use sqlx::Connection as _;
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            Self::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    /// Runs one statement (no parameters); returns the rows it affected.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Self::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
            Self::Postgres(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
        }
    }

    /// The single integer a query (no parameters) returns.
    pub async fn scalar(&mut self, sql: &str) -> i64 {
        match self {
            Self::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            Self::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        }
    }

    /// Opens a transaction that holds what a write to `org` must wait for:
    /// SQLite's write lock, or the org's row lock on PostgreSQL.
    pub async fn lock_org_for_writes(&mut self, org: &str) {
        match self {
            Self::Sqlite(_) => {
                self.execute("BEGIN IMMEDIATE").await.unwrap();
            }
            Self::Postgres(_) => {
                self.execute("BEGIN").await.unwrap();
                let locked = self
                    .execute(&format!("SELECT 1 FROM orgs WHERE id = '{org}' FOR UPDATE"))
                    .await
                    .unwrap();
                assert_eq!(locked, 1);
            }
        }
    }

    /// Removes the trigger that keeps the audit trail append-only, as someone
    /// with the database could.
    pub async fn drop_audit_guard(&mut self) {
        let sql = match self {
            Self::Sqlite(_) => "DROP TRIGGER audit_events_append_only",
            Self::Postgres(_) => "DROP TRIGGER audit_events_append_only ON audit_events",
        };
        self.execute(sql).await.unwrap();
    }
}

/// A running `orgd` process whose stderr is collected line by line.
pub struct OrgdProcess {
    pub child: Child,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
    seen: Arc<tokio::sync::Notify>,
    reader: tokio::task::JoinHandle<()>,
}

impl OrgdProcess {
    /// Starts `orgd ARGS` with only the `ORGD_*` variables given in `env`.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgd"));
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("ORGD_") || k == "NO_COLOR" {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::new(tokio::sync::Notify::new());
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let (l, s) = (lines.clone(), seen.clone());
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                l.lock().unwrap().push(line);
                s.notify_waiters();
            }
            s.notify_waiters();
        });
        Self {
            child,
            lines,
            seen,
            reader,
        }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a stderr line matching `pick` and returns what it picked;
    /// `None` once the process has exited without printing one.
    pub async fn wait_for<T>(&mut self, pick: impl Fn(&str) -> Option<T>) -> Option<T> {
        loop {
            let notified = self.seen.notified();
            if let Some(found) = self.lines().iter().find_map(|l| pick(l)) {
                return Some(found);
            }
            if self.child.try_wait().unwrap().is_some() {
                // Let the reader drain what is left, then look once more.
                tokio::time::timeout(Duration::from_secs(5), notified)
                    .await
                    .ok();
                return self.lines().iter().find_map(|l| pick(l));
            }
            tokio::time::timeout(Duration::from_millis(200), notified)
                .await
                .ok();
        }
    }

    /// The base URL, once it listens.
    pub async fn base(&mut self) -> String {
        let addr = self
            .wait_for(listening_on)
            .await
            .unwrap_or_else(|| panic!("orgd exited before listening: {:?}", self.lines()));
        format!("http://{addr}")
    }

    /// SIGTERM, then the exit status and every stderr line.
    pub async fn stop(self) -> (std::process::ExitStatus, Vec<String>) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if let Some(id) = self.child.id() {
            let _ = kill(Pid::from_raw(i32::try_from(id).unwrap()), Signal::SIGTERM);
        }
        self.exited().await
    }

    /// Waits for the process to end by itself: its status and every stderr line.
    pub async fn exited(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("orgd exits")
            .unwrap();
        // The reader ends at the pipe's end of file.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.reader).await;
        (status, self.lines())
    }
}

/// A database with a root (key `root`) and orgs `a`, `b`, `b1`, one deleted.
pub async fn populated(storage: &Storage, root: &str) {
    let mut orgd = serve(&storage.database_url, Some(root));
    let remote = Remote::new(&orgd.base().await, root);
    for (id, parent) in [("a", "root"), ("b", "root"), ("b1", "b"), ("gone", "a")] {
        let res = remote
            .post("/orgs", json!({"id": id, "name": id, "parent_id": parent}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = remote
        .req(Method::DELETE, "/orgs/gone")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = orgd.stop().await;
    assert!(status.success());
}

/// Waits until `metrics` (a node's `/metrics`) counts `n` requests in
/// flight. A state, not a time: the minute is only a guard against hanging.
pub async fn until_held(metrics: &str, n: i64) {
    let held = async {
        loop {
            let text = reqwest::get(metrics).await.unwrap().text().await.unwrap();
            let in_flight = text
                .lines()
                .find_map(|l| l.strip_prefix("orgd_http_requests_in_flight "))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            if in_flight >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), held)
        .await
        .expect("the read was never held");
}

/// The `after` cursor of a feed answer's `Link: rel="next"`.
pub fn next_after(res: &reqwest::Response) -> String {
    let link = res.headers()["link"].to_str().unwrap();
    let url = &link[1..link.find('>').unwrap()];
    let query = url.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "after")
        .unwrap()
        .1
        .into_owned()
}

/// Starts a feed read of the root org from `after` on the server at `base`
/// that may wait 30 s, and returns once it is held: from then on, only an
/// event's wake-up (or shutdown) can answer it. Its answer is the page and
/// the cursor of its `Link: rel="next"`.
pub async fn held_feed_read(
    base: &str,
    key: &str,
    after: &str,
) -> tokio::task::JoinHandle<(Vec<Value>, String)> {
    let url = format!("{base}/orgs/root/events?wait=30&after={after}");
    let key = key.to_owned();
    let held = tokio::spawn(async move {
        let res = reqwest::Client::new()
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let next = next_after(&res);
        (res.json().await.unwrap(), next)
    });
    // It and the scrape are the requests in flight.
    until_held(&format!("{base}/metrics"), 2).await;
    held
}
