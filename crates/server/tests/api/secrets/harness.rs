//! The harness: the real binary as a server, the probes sent to it, every
//! form of a secret, and the database dumped whole.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::helpers::{RawDb, Storage, postgres};

/// One response, as the client saw it.
#[derive(Clone)]
pub struct Seen {
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e})", self.what))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every header line and the body: where a leak would show.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }
}

/// A client that keeps every response it gets.
pub struct Probe {
    pub client: reqwest::Client,
    pub base: String,
    pub seen: Vec<Seen>,
}

impl Probe {
    pub fn req(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        match key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    pub async fn call(&mut self, what: impl Into<String>, req: RequestBuilder) -> Seen {
        let what = what.into();
        let res = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.unwrap().to_vec();
        let seen = Seen {
            what,
            status,
            headers,
            body,
        };
        self.seen.push(seen.clone());
        seen
    }

    pub async fn get(&mut self, what: &str, key: Option<&str>, path: &str) -> Seen {
        let req = self.req(Method::GET, path, key);
        self.call(format!("{what}: GET {path}"), req).await
    }

    pub async fn post(&mut self, what: &str, key: &str, path: &str, body: Value) -> Seen {
        let req = self.req(Method::POST, path, Some(key)).json(&body);
        self.call(format!("{what}: POST {path}"), req).await
    }

    /// A GET that must answer `status`.
    pub async fn expect(
        &mut self,
        what: &str,
        key: Option<&str>,
        path: &str,
        status: StatusCode,
    ) -> Seen {
        let seen = self.get(what, key, path).await;
        assert_eq!(
            seen.status,
            status,
            "{}: {}",
            seen.what,
            String::from_utf8_lossy(&seen.body)
        );
        seen
    }
}

/// A secret, and the index of the one response allowed to show it.
pub struct Secret {
    pub name: String,
    pub value: String,
    pub created_by: Option<usize>,
}

impl Secret {
    /// What a leak of this secret could look like: the secret itself, any 16
    /// of its characters past the visible prefix (a truncated or split copy),
    /// its hex (a `bytea` dump), its digest (which no response or log line may
    /// show either), and the `Basic` credentials this test sends it in.
    pub fn leak_forms(&self, with_digest: bool) -> Vec<String> {
        let s = &self.value;
        assert!(s.is_ascii() && s.len() >= 40, "{s}");
        let mut forms = vec![
            s.clone(),
            hex::encode(s),
            base64::engine::general_purpose::STANDARD.encode(format!("{s}:")),
        ];
        if with_digest {
            forms.push(orgd_core::api_keys::digest(s));
        }
        // The first 12 characters are the `prefix` the API shows on purpose.
        let tail = &s.as_bytes()[12..];
        forms.extend(
            tail.windows(16)
                .map(|w| String::from_utf8(w.to_vec()).unwrap()),
        );
        forms
    }
}

/// The first form of `secret` found in `haystack`.
pub fn find_leak<'a>(haystack: &str, forms: &'a [String]) -> Option<&'a str> {
    forms
        .iter()
        .find(|f| haystack.contains(f.as_str()))
        .map(String::as_str)
}

/// `orgd serve` with everything it prints kept to the end.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub stderr: JoinHandle<Vec<u8>>,
    pub stdout: JoinHandle<Vec<u8>>,
}

impl Server {
    pub async fn start(database_url: &str, bootstrap_key: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgd"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ORGD_DATABASE_URL", database_url)
            .env("ORGD_BOOTSTRAP_KEY", bootstrap_key)
            .env("ORGD_LOG", "trace")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let stderr = tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut all = Vec::new();
            loop {
                let mut line = Vec::new();
                if err.read_until(b'\n', &mut line).await.unwrap() == 0 {
                    break;
                }
                if let Some(addr) = crate::helpers::listening_on(&String::from_utf8_lossy(&line))
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                all.extend_from_slice(&line);
            }
            all
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = tokio::spawn(async move {
            let mut all = Vec::new();
            out.read_to_end(&mut all).await.unwrap();
            all
        });
        let addr = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("orgd did not start listening within 60 s")
            .expect("orgd exited before listening");
        Self {
            child,
            base: format!("http://{addr}"),
            stderr,
            stdout,
        }
    }

    /// SIGTERM; waits for a clean exit and returns (stderr, stdout).
    pub async fn stop(mut self) -> (Vec<u8>, Vec<u8>) {
        let pid = Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("orgd did not exit within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "orgd exited with {status}");
        (self.stderr.await.unwrap(), self.stdout.await.unwrap())
    }
}

/// Every row of every table, as text (and, for SQLite, the raw bytes of
/// the database files too), once the server has stopped.
pub async fn dump_database(storage: &Storage) -> Vec<u8> {
    let mut out = Vec::new();
    if !postgres() {
        // The files first, before a connection of ours touches them: this
        // also sees freed pages and the write-ahead log.
        for entry in std::fs::read_dir(storage.dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with("orgd.db") {
                out.extend(std::fs::read(entry.path()).unwrap());
                out.push(b'\n');
            }
        }
    }
    let mut db = RawDb::connect(&storage.database_url).await;
    match &mut db {
        RawDb::Sqlite(c) => {
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(&mut *c)
                    .await
                    .unwrap();
            assert!(tables.iter().any(|t| t == "api_keys"), "{tables:?}");
            for t in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                        .bind(&t)
                        .fetch_all(&mut *c)
                        .await
                        .unwrap();
                for col in columns {
                    let sql = format!(
                        "SELECT CAST(\"{}\" AS BLOB) FROM \"{}\"",
                        col.replace('"', "\"\""),
                        t.replace('"', "\"\"")
                    );
                    let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&sql)
                        .fetch_all(&mut *c)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                    for v in values.into_iter().flatten() {
                        out.extend(v);
                        out.push(b'\n');
                    }
                }
            }
        }
        RawDb::Postgres(c) => {
            let tables: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_schema::text, table_name::text FROM information_schema.tables \
                 WHERE table_type = 'BASE TABLE' \
                 AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap();
            assert!(tables.iter().any(|(_, t)| t == "api_keys"), "{tables:?}");
            for (schema, t) in tables {
                let sql = format!(
                    "SELECT r::text FROM \"{}\".\"{}\" r",
                    schema.replace('"', "\"\""),
                    t.replace('"', "\"\"")
                );
                let rows: Vec<String> = sqlx::query_scalar(&sql)
                    .fetch_all(&mut *c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                for r in rows {
                    out.extend(r.into_bytes());
                    out.push(b'\n');
                }
            }
        }
    }
    out
}
