//! A database outage, on a PostgreSQL cluster of the test's own (`initdb` and
//! `pg_ctl` in a temporary directory; the machine's server is untouched):
//! 503 with `Retry-After` in time, `/readyz` failing, and recovery by itself
//! with nothing acknowledged lost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Remote, start_binary_with};

/// A throwaway PostgreSQL cluster, stopped and removed when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn bindir() -> PathBuf {
    let out = Command::new("pg_config").arg("--bindir").output().unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs a PostgreSQL program; as the `postgres` user when we are root (the
/// server refuses to run as root).
fn pg(program: &str, args: &[&str]) {
    let path = bindir().join(program);
    let root = nix::unistd::Uid::effective().is_root();
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if nix::unistd::Uid::effective().is_root() {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.path().join("data");
        pg(
            "initdb",
            &["-D", s(&data), "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        let cluster = Self { dir, port };
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        pg(
            "pg_ctl",
            &[
                "-D",
                s(&self.data()),
                "-o",
                &opts,
                "-l",
                s(&log),
                "-w",
                "start",
            ],
        );
    }

    fn down(&self) {
        pg(
            "pg_ctl",
            &["-D", s(&self.data()), "-m", "fast", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = std::panic::catch_unwind(|| {
            pg("pg_ctl", &["-D", s(&data), "-m", "immediate", "stop"]);
        });
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits for `what`; the minute only guards against hanging forever.
async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no end in a minute"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_answers_503_in_time_and_service_resumes_by_itself() {
    let cluster = Cluster::start();
    let root = orgd_core::api_keys::generate_secret();
    // The request timeout is far off: an answer that says `unavailable` (not
    // `timeout`) came from the database path giving up at its own bound.
    let (mut node, base, _) = start_binary_with(
        &cluster.url(),
        Some(&root),
        &[
            "--request-timeout-secs",
            "600",
            "--db-acquire-timeout-secs",
            "2",
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{base}{p}");
    let operator = Remote::new(&base, &root);

    let res = operator
        .post("/orgs", json!({"id": "a", "name": "A"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for n in 0..5 {
        let res = operator
            .patch("/orgs/a", json!({"name": format!("acknowledged {n}")}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    cluster.down();

    // Reads and writes: 503 with Retry-After, well within the request timeout.
    for (method, path, body) in [
        (reqwest::Method::GET, "/orgs/a", None),
        (
            reqwest::Method::PATCH,
            "/orgs/a",
            Some(json!({"name": "during the outage"})),
        ),
        (
            reqwest::Method::POST,
            "/orgs",
            Some(json!({"id": "b", "name": "B"})),
        ),
    ] {
        let mut req = operator.req(method.clone(), path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = guarded(&format!("{method} {path}"), req.send())
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}"
        );
        assert!(res.headers().contains_key("retry-after"));
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], "/problems/unavailable", "{method} {path}: {p}");
    }
    let res = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the process itself is alive");

    cluster.up();

    // Back by itself, with every acknowledged write there.
    guarded("recovery", async {
        while client.get(url("/readyz")).send().await.unwrap().status() != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let org: Value = operator.get_json("/orgs/a").await;
    assert_eq!(org["name"], "acknowledged 4");
    let res = operator
        .patch("/orgs/a", json!({"name": "after the outage"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = operator.get_json("/orgs/a/audit/verify").await;
    assert_eq!(v["valid"], true);
    node.kill().await.unwrap();
}
