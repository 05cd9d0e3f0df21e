//! Checks of a page: accessible names, CSRF fields, screenshots, widths.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::json;

use super::{Browser, DESKTOP, PHONE, screenshot_dir, strings};

impl Browser {
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
    pub(super) async fn png(&self) -> Option<Vec<u8>> {
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
