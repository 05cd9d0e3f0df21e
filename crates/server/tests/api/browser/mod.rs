//! The console's browser tests' harness: Debian's Chromium, headless, driven
//! through `chromedriver` over WebDriver (`fantoccini`). [`Browser::start`]
//! hands back `None`, after saying SKIPPED loudly (which `.ci/run` fails on),
//! when either program is missing.
//!
//! Every wait here is a bounded poll on a condition; nothing sleeps in the
//! hope that the page is ready.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::error::CmdError;
use fantoccini::wd::{TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::TestApp;

mod checks;
mod page;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";

/// How long a wait for the page may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);
/// How often a bounded wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// The phone and desktop window sizes the console is checked at.
pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 900);

/// One headless Chromium, its chromedriver, and the WebDriver session.
pub struct Browser {
    pub client: Client,
    /// The console's server (`http://127.0.0.1:N`); [`Browser::go`]'s paths
    /// are relative to it.
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A chromedriver command of the session that fantoccini does not know:
/// `/session/{id}/{path}`.
#[derive(Debug)]
struct SessionCommand {
    method: Method,
    path: &'static str,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

fn installed() -> bool {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join(CHROMEDRIVER).is_file())
    });
    Path::new(CHROMIUM).is_file() && on_path
}

impl Browser {
    /// Starts chromedriver on a free port and a fresh headless Chromium
    /// through it; `None` (after saying SKIPPED on stderr) when either is not
    /// installed.
    pub async fn start() -> Option<Self> {
        if !installed() {
            use std::io::Write as _;
            // Straight to stderr: libtest would swallow eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: the console's browser tests did not run: \
                 chromium or chromedriver is not installed \
                 (apt-get install chromium chromium-driver) ***\n"
            );
            return None;
        }

        // Its own process group, so that Chromium, which chromedriver starts
        // and which outlives a killed chromedriver, goes with it on drop.
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let stdout = driver.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                // "ChromeDriver was started successfully on port 41235."
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .expect("chromedriver says its port in time")
        .expect("chromedriver says its port");
        // Keep reading what it prints, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            // The browser's console, CSP reports included, for `se/log`.
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let caps = caps.as_object().cloned().unwrap();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(PATIENCE),
                Some(Duration::ZERO),
            ))
            .await
            .unwrap();
        Some(Self {
            client,
            base: String::new(),
            driver,
            _profile: profile,
        })
    }

    /// Ends the session (chromedriver closes Chromium), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }

    /// Makes [`Browser::go`]'s paths relative to `app`'s server.
    pub fn for_app(&mut self, app: &TestApp) {
        self.base = app.base.clone();
    }

    // ---- raw chromedriver commands ----

    async fn session_command(
        &self,
        method: Method,
        path: &'static str,
        body: Option<Value>,
    ) -> Value {
        self.client
            .issue_cmd(SessionCommand { method, path, body })
            .await
            .unwrap_or_else(|e| panic!("chromedriver {path}: {e}"))
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    async fn cdp(&self, cmd: &'static str, params: Value) -> Result<Value, CmdError> {
        self.client
            .issue_cmd(SessionCommand {
                method: Method::POST,
                path: "goog/cdp/execute",
                body: Some(json!({"cmd": cmd, "params": params})),
            })
            .await
    }

    /// The browser's log since it was last read (chromedriver empties it on
    /// each read): `{level, message, source, timestamp}` entries.
    pub async fn browser_log(&self) -> Vec<Value> {
        let log = self
            .session_command(Method::POST, "se/log", Some(json!({"type": "browser"})))
            .await;
        log.as_array().cloned().unwrap_or_default()
    }

    /// The browser log's Content Security Policy violations since the log
    /// was last read (chromedriver reports them with source "security").
    pub async fn csp_violations(&self) -> Vec<String> {
        self.browser_log()
            .await
            .into_iter()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .filter(|m| m.contains("Content Security Policy"))
            .collect()
    }

    /// Runs `script` (a function body: `return …`) in the page. WebDriver's
    /// scripts are not subject to the page's CSP.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    // ---- navigation ----

    /// Opens `path` of the console's server, or `path` itself when it is a
    /// whole URL.
    pub async fn go(&self, path: &str) {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            path.to_owned()
        };
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        self.loaded().await;
    }

    /// The current page's path (`/console/tree`), without its query.
    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// The current page's path and query (`/console/tree?at=acme`).
    pub async fn location(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The HTTP status the current page was served with (after redirects).
    pub async fn status(&self) -> u16 {
        let s = self
            .js("return performance.getEntriesByType('navigation')[0]?.responseStatus ?? null;")
            .await;
        u16::try_from(s.as_u64().unwrap_or_else(|| panic!("no status: {s}"))).unwrap()
    }

    /// Waits until the document has finished loading.
    async fn loaded(&self) {
        self.until("the page to load", || async {
            self.client
                .execute("return document.readyState;", vec![])
                .await
                .is_ok_and(|s| s == "complete")
        })
        .await;
    }

    /// Polls `check` until it holds; fails the test after [`PATIENCE`].
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + PATIENCE;
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {what} (at {})",
                self.diagnosis().await
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed never reached `close`: Chromium would outlive
        // its chromedriver (which kill_on_drop kills), so end the whole
        // process group, which both are in.
        if let Some(pid) = self.driver.id() {
            let group = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
        }
    }
}

/// `$CARGO_TARGET_TMPDIR/console-screenshots`, made if need be.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
