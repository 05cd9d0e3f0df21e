//! The real `orgd` binary as a process: started, read, stopped.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Storage;

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
