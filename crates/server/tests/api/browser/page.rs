//! The page: finding, reading, filling and clicking its elements, the
//! keyboard, and signing in and out of the console.

use std::time::Instant;

use fantoccini::Locator;
use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;

use super::{Browser, PATIENCE, POLL, screenshot_dir, strings};
use crate::helpers::TestApp;

impl Browser {
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
}
