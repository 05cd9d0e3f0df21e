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
use base64::Engine as _;
use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::wd::{TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::TestApp;

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

    // ---- the page ----

    /// The first element matching `css`, waited for.
    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => panic!("no {css} ({e}) on {}", self.diagnosis().await),
        }
    }

    /// What a failure message shows of the page: where it is, its heading
    /// and its messages; its picture goes to `failed.png` beside the
    /// screenshots.
    pub async fn diagnosis(&self) -> String {
        let at = self.location().await;
        let said = self
            .client
            .execute(
                "return [...document.querySelectorAll('h1, .flash, .field-error')]
                    .map(e => e.className ? `${e.className}: ${e.innerText}` : e.innerText);",
                vec![],
            )
            .await
            .map(|v| strings(&v))
            .unwrap_or_default();
        let shot = match self.png().await {
            Some(png) => {
                let file = screenshot_dir().join("failed.png");
                std::fs::write(&file, png).map_or_else(
                    |e| format!("(not saved: {e})"),
                    |()| file.display().to_string(),
                )
            }
            None => "(none taken)".to_owned(),
        };
        format!("{at}, which says {said:?}; screenshot {shot}")
    }

    /// Every element matching `css` now (none is fine).
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// Whether an element matches `css` now.
    pub async fn exists(&self, css: &str) -> bool {
        !self.all(css).await.is_empty()
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The texts of the page's `.field-error[role=alert]` messages, once
    /// at least one is shown.
    pub async fn field_errors(&self) -> Vec<String> {
        self.find(".field-error[role=alert]").await;
        let mut texts = Vec::new();
        for e in self.all(".field-error[role=alert]").await {
            texts.push(e.text().await.unwrap());
        }
        texts
    }

    /// The `value` of the form field matching `css`.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Replaces the value of the field matching `css` by typing `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        if !text.is_empty() {
            field.send_keys(text).await.unwrap();
        }
    }

    /// Ticks (`on`) or clears the checkbox matching `css`, by clicking it
    /// when it is not so already.
    pub async fn check(&self, css: &str, on: bool) {
        let boxed = self.find(css).await;
        if boxed.is_selected().await.unwrap() != on {
            boxed.click().await.unwrap();
        }
        assert_eq!(boxed.is_selected().await.unwrap(), on, "{css} ticked: {on}");
    }

    /// Clicks the element matching `css` (and nothing more: see
    /// [`Browser::submit`] for a click that loads a page).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Clicks the element matching `css` and waits for the page it loads.
    pub async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        self.replaced(old, css).await;
    }

    /// Clicks `element` and waits for the page it loads; `what` names it in
    /// a failure.
    pub async fn submit_element(&self, element: Element, what: &str) {
        let old = self.find("html").await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {what}: {e}"));
        self.replaced(old, what).await;
    }

    /// Waits until `old` (the former page's `<html>`) is gone, and the new
    /// page has loaded.
    async fn replaced(&self, old: Element, after: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match old.tag_name().await {
                Err(e) if e.is_stale_element_reference() => break,
                Err(CmdError::Standard(e)) if e.error.to_string().contains("no such") => break,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "no new page after {after} (at {})",
                self.diagnosis().await
            );
            tokio::time::sleep(POLL).await;
        }
        self.loaded().await;
    }

    /// Presses `keys` on the keyboard, one after the other (each a
    /// character or a [`fantoccini::key::Key`] as `char`), to whatever has the
    /// focus.
    pub async fn keys(&self, keys: &str) {
        let mut seq = KeyActions::new("keyboard".to_owned());
        for c in keys.chars() {
            seq = seq
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(seq).await.unwrap();
    }

    /// Presses `keys` and waits for the page they load (Enter in a form).
    pub async fn keys_and_wait(&self, keys: &str) {
        let old = self.find("html").await;
        self.keys(keys).await;
        self.replaced(old, "the keys").await;
    }

    /// The `id` of the element that has the focus (empty when none has one).
    pub async fn focused_id(&self) -> String {
        let id = self.js("return document.activeElement?.id ?? '';").await;
        id.as_str().unwrap_or_default().to_owned()
    }

    // ---- the console ----

    /// Signs in to `app`'s console with `key` through the sign-in form, and
    /// checks that it lands on the tree.
    pub async fn sign_in(&mut self, app: &TestApp, key: &str) {
        self.for_app(app);
        self.go("/console/sign-in").await;
        self.fill("#key", key).await;
        self.submit("#sign-in button[type=submit]").await;
        assert_eq!(self.path().await, "/console/tree", "signed in");
    }

    /// Signs out through the header's form.
    pub async fn sign_out(&self) {
        self.submit("#sign-out button").await;
        assert_eq!(self.path().await, "/console/sign-in", "signed out");
    }

    // ---- checks of a page ----

    /// The form fields (`<input>` but hidden ones and buttons, `<select>`,
    /// `<textarea>`) that have no accessible name: no `<label for>`, no
    /// enclosing `<label>`, no `aria-label` or `aria-labelledby`.
    pub async fn unnamed_fields(&self) -> Vec<String> {
        let found = self
            .js(r#"
                const buttons = ['hidden', 'submit', 'button', 'reset', 'image'];
                return [...document.querySelectorAll('input, select, textarea')]
                    .filter(f => !(f.tagName === 'INPUT' && buttons.includes(f.type)))
                    .filter(f => {
                        const byFor = f.id && [...document.querySelectorAll('label')]
                            .some(l => l.htmlFor === f.id && l.textContent.trim() !== '');
                        const wrapped = f.closest('label')?.textContent.trim() !== ''
                            && f.closest('label') !== null;
                        const aria = (f.getAttribute('aria-label') ?? '').trim() !== '';
                        const labelledBy = (f.getAttribute('aria-labelledby') ?? '')
                            .split(/\s+/).filter(Boolean)
                            .some(id => (document.getElementById(id)?.textContent ?? '').trim() !== '');
                        return !(byFor || wrapped || aria || labelledBy);
                    })
                    .map(f => f.outerHTML);
            "#)
            .await;
        strings(&found)
    }

    /// The `<form method=post>`s without a hidden `csrf` field. The sign-in
    /// form is the one exception: before signing in there is no session to
    /// take a token from, and the server checks its `Origin` instead.
    pub async fn post_forms_without_csrf(&self) -> Vec<String> {
        let found = self
            .js(r#"
                return [...document.querySelectorAll('form')]
                    .filter(f => f.method === 'post' && f.id !== 'sign-in')
                    .filter(f => !f.querySelector('input[type=hidden][name=csrf]')?.value)
                    .map(f => f.outerHTML.slice(0, 200));
            "#)
            .await;
        strings(&found)
    }

    /// The page's checks, then its screenshot `name`: no CSP violation since
    /// the log was last read, every field named, every POST form with its
    /// CSRF field.
    pub async fn inspect(&self, name: &str) {
        // The picture first: it shows what a failed check is about.
        self.screenshot(name).await;
        let path = self.location().await;
        let csp = self.csp_violations().await;
        assert!(csp.is_empty(), "{name} ({path}): CSP violations: {csp:#?}");
        let unnamed = self.unnamed_fields().await;
        assert!(
            unnamed.is_empty(),
            "{name} ({path}): fields without an accessible name: {unnamed:#?}"
        );
        let bare = self.post_forms_without_csrf().await;
        assert!(
            bare.is_empty(),
            "{name} ({path}): POST forms without a csrf field: {bare:#?}"
        );
    }

    /// A full-page PNG of the current page, written to
    /// `$CARGO_TARGET_TMPDIR/console-screenshots/<name>.png`, and copied to
    /// `docs/console/<name>.png` when `ORGD_UPDATE_CONSOLE_SCREENSHOTS=1`.
    /// Returns where it was written.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .png()
            .await
            .unwrap_or_else(|| panic!("no screenshot of {name}"));
        let file = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&file, &png).unwrap();
        if std::env::var("ORGD_UPDATE_CONSOLE_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
        file
    }

    /// The whole page (not only what the window shows) as a PNG, through
    /// the DevTools protocol: `None` when Chromium would not take it.
    async fn png(&self) -> Option<Vec<u8>> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await.ok()?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64()?.ceil(),
            size["height"].as_f64()?.ceil(),
        );
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                }),
            )
            .await
            .ok()?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str()?)
            .ok()?;
        png.starts_with(b"\x89PNG\r\n\x1a\n").then_some(png)
    }

    // ---- widths ----

    /// A phone's window: 390 × 844.
    pub async fn phone(&self) {
        self.resize(PHONE).await;
    }

    /// A desktop's window: 1280 × 900.
    pub async fn desktop(&self) {
        self.resize(DESKTOP).await;
    }

    async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.unwrap();
        self.until(&format!("a window {width} wide"), || async {
            self.js("return window.innerWidth;").await == json!(width)
        })
        .await;
    }

    /// Whether the page fits the window's width (nothing to scroll
    /// sideways). Against `clientWidth` as well as `innerWidth`: the latter
    /// counts a vertical scrollbar's 15 px, which would hide an overflow
    /// that small.
    pub async fn fits_width(&self) -> bool {
        self.js("const d = document.documentElement;
             return d.scrollWidth <= window.innerWidth && d.scrollWidth <= d.clientWidth;")
            .await
            .as_bool()
            .unwrap()
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
