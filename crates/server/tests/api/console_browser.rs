//! The console in a real browser: Debian's headless Chromium, driven through
//! chromedriver (see `browser/`). Two tests, each with one browser for all
//! its steps: every page walked (CSP, accessible names, CSRF fields,
//! screenshots, widths, the keyboard), and the forms' flows (limits, keys,
//! the reach of a key, a read-only key, a cross-site post).
//!
//! SQLite only: the browser drives the same domain service as the HTTP
//! suite, which proves the stores on both databases (`console.rs` too).

use axum::response::Html;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::TestApp;

/// Another origin on loopback (another port): the page that proves the CSP
/// check can fail, and a page that posts a form to the console.
struct OtherSite {
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl OtherSite {
    async fn start(console: &str) -> Self {
        let attack = format!(
            r#"<!doctype html><html lang="en"><title>Elsewhere</title>
<form id="attack" method="post" action="{console}/console/orgs/root/rename">
<label for="name">Name</label><input id="name" name="name" value="Taken over">
<button type="submit">Win a prize</button>
</form>"#
        );
        let app = axum::Router::new()
            .route(
                "/attack",
                axum::routing::get(move || {
                    let page = attack.clone();
                    async move { Html(page) }
                }),
            )
            .route(
                "/csp",
                axum::routing::get(|| async {
                    (
                        [("content-security-policy", "default-src 'self'")],
                        Html(
                            "<!doctype html><html lang=\"en\"><title>CSP</title>\
                             <p>An inline script, which the policy refuses:</p>\
                             <script>document.title = 'ran';</script>",
                        ),
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, server }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for OtherSite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A small tree with something on every tab: root/acme/eu and root/globex;
/// acme has two tags, a config, an application, usage, access-log entries
/// and a webhook (never delivered: the app has no webhook workers), and each
/// of those writes is an audit event.
async fn seed(app: &TestApp) {
    let k = &app.root_key;
    app.orgs("root/acme/eu root/globex").await;
    for tag in ["beta", "confidential"] {
        let res = app.post(k, "/orgs/acme/tags", json!({"name": tag})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "tag {tag}");
    }
    let res = app
        .patch(k, "/orgs/acme/configs", json!({"applications.limit": 5}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.application("acme", "portal").await;
    app.usage("acme", "storage.gb_hours", 42).await;
    app.usage("eu", "storage.gb_hours", 8).await;
    let entries = json!([
        {"user": "ada@example.com", "action": "LOGIN", "status": "SUCCESS"},
        {"user": "bob@example.com", "action": "LOGIN", "status": "FAILURE"},
    ]);
    let res = app.post(k, "/orgs/acme/access_log", entries).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let hook = json!({"url": "https://93.184.216.34/hook", "types": ["org.*"]});
    let res = app.post(k, "/orgs/acme/webhooks", hook).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.flush().await;
}

/// An app whose webhooks are never delivered (the seed's points nowhere).
async fn quiet_app() -> TestApp {
    TestApp::spawn_with(|c| c.webhooks.workers = 0).await
}

async fn org_name(app: &TestApp, org: &str) -> String {
    let body: Value = app.get_json(&app.root_key, &format!("/orgs/{org}")).await;
    body["name"].as_str().unwrap().to_owned()
}

/// The org's tabs: (screenshot name, path after `/console/orgs/ORG`, link text).
const TABS: &[(&str, &str, &str)] = &[
    ("org", "", "Overview"),
    ("configs", "/configs", "Configs"),
    ("customizations", "/customizations", "Customizations"),
    ("tags", "/tags", "Tags"),
    ("limits", "/limits", "Limits"),
    ("keys", "/keys", "API keys"),
    ("audit", "/audit", "Audit"),
    ("access-log", "/access-log", "Access log"),
    ("consumption", "/consumption", "Consumption"),
    ("webhooks", "/webhooks", "Webhooks"),
];

#[tokio::test]
async fn every_console_page_walked_in_a_browser() {
    let Some(mut b) = Browser::start().await else {
        return;
    };
    let app = quiet_app().await;
    seed(&app).await;
    // A signed checkpoint, so the audit page has a proof to show.
    app.service.make_checkpoint().await.unwrap();
    b.for_app(&app);
    let other = OtherSite::start(&app.base).await;

    // The CSP check can fail: a page that breaks its own policy is seen.
    b.go(&other.url("/csp")).await;
    let seen = std::sync::Mutex::new(Vec::new());
    b.until("the CSP violation in the browser log", || async {
        let new = b.csp_violations().await;
        let mut seen = seen.lock().unwrap();
        seen.extend(new);
        !seen.is_empty()
    })
    .await;
    let seen = seen.into_inner().unwrap();
    assert!(seen[0].contains("Content Security Policy"), "{seen:?}");

    // Without a session, every console page sends to the sign-in page.
    for path in ["/console", "/console/tree", "/console/orgs/acme/keys"] {
        b.go(path).await;
        assert_eq!(b.path().await, "/console/sign-in", "{path} signed out");
    }
    b.inspect("sign-in").await;
    assert_eq!(b.text("label[for=key]").await, "API key");
    assert_eq!(
        b.find("#key").await.attr("type").await.unwrap().as_deref(),
        Some("password")
    );

    // A wrong key: the form again, with the error beside the field.
    b.fill("#key", "orgd_notakeynotakeynotakeynotakeynotakey")
        .await;
    b.submit("#sign-in button[type=submit]").await;
    let errors = b.field_errors().await;
    assert!(errors.iter().any(|e| !e.is_empty()), "{errors:?}");
    assert!(b.exists("form#sign-in").await);
    assert!(!b.exists("nav#top").await, "not signed in");

    // Signing in with the keyboard alone: Tab to the field, type, Enter.
    b.go("/console/sign-in").await;
    let mut tabs = 0;
    while b.focused_id().await != "key" {
        tabs += 1;
        assert!(tabs <= 20, "Tab never reached #key");
        b.keys("\u{e004}").await; // Tab
    }
    b.keys(&app.root_key).await;
    b.keys_and_wait("\u{e007}").await; // Enter
    assert_eq!(b.path().await, "/console/tree", "signed in by keyboard");
    b.go("/console").await;
    assert_eq!(b.path().await, "/console/tree", "/console once signed in");

    // The tree.
    b.inspect("tree").await;
    let root_name = org_name(&app, "root").await;
    assert!(b.text("nav#top").await.contains("Tree"));
    assert!(b.exists("nav#top a[href='/console/orgs/root']").await);
    assert!(b.exists("form#sign-out").await);
    assert!(b.text("ol.breadcrumbs").await.contains(&root_name));
    let acme = "#children tr[data-org='acme']";
    assert_eq!(
        b.text(&format!("{acme} a[href='/console/orgs/acme']"))
            .await,
        "Org acme"
    );
    assert!(b.exists("#children tr[data-org='globex']").await);
    assert!(
        !b.exists("#children tr[data-org='globex'] a[href='/console/tree?at=globex']")
            .await,
        "no Expand for an org without children"
    );
    b.submit(&format!("{acme} a[href='/console/tree?at=acme']"))
        .await;
    assert_eq!(b.location().await, "/console/tree?at=acme");
    assert!(b.text("ol.breadcrumbs").await.contains("Org acme"));
    assert!(b.exists("#children tr[data-org='eu']").await);

    // Search: by id, by the start of a name, by tag.
    for (q, expected) in [
        ("eu", "eu"),
        ("Org glo", "globex"),
        ("confidential", "acme"),
    ] {
        b.fill("#q", q).await;
        b.submit("form#search button, form#search input[type=submit]")
            .await;
        let row = format!("#results tr[data-org='{expected}']");
        assert!(b.exists(&row).await, "searching {q:?} finds {expected}");
    }

    // The tree fits a phone's width and a desktop's.
    b.go("/console/tree").await;
    b.phone().await;
    assert!(b.fits_width().await, "the tree fits 390 px");
    b.desktop().await;
    assert!(b.fits_width().await, "the tree fits 1280 px");

    // The org's overview and each of its tabs, reached through its nav.
    b.submit("#children tr[data-org='acme'] a[href='/console/orgs/acme']")
        .await;
    assert_eq!(b.path().await, "/console/orgs/acme");
    assert_eq!(b.text("h1").await, "Org acme");
    let links = b
        .js("return [...document.querySelectorAll('#org-nav a')]
                .map(a => [a.textContent.trim(), a.getAttribute('href')]);")
        .await;
    let expected: Vec<Value> = TABS
        .iter()
        .map(|(_, path, text)| json!([text, format!("/console/orgs/acme{path}")]))
        .collect();
    assert_eq!(links, json!(expected), "#org-nav");
    for form in ["rename", "new-child", "move", "delete"] {
        assert!(b.exists(&format!("form#{form}")).await, "form#{form}");
    }
    assert!(b.text("#delete-count").await.contains('2'), "acme and eu");

    for (name, path, _) in TABS {
        let href = format!("/console/orgs/acme{path}");
        b.submit(&format!("#org-nav a[href='{href}']")).await;
        assert_eq!(b.path().await, href);
        b.inspect(name).await;
        tab_checks(&b, name).await;
    }

    // Audit of the children, from the root.
    b.go("/console/orgs/root/audit?scope=children").await;
    assert!(b.all("table#events tr").await.len() >= 2);

    b.sign_out().await;
    b.go("/console/tree").await;
    assert_eq!(b.path().await, "/console/sign-in", "the session is over");
    b.close().await;
}

/// What each of acme's tabs shows of the seed, and its forms at work.
async fn tab_checks(b: &Browser, tab: &str) {
    match tab {
        "configs" => {
            assert!(b.exists("form#configs input[name='children.limit']").await);
            assert_eq!(b.value("input[name='applications.limit']").await, "5");
            assert_eq!(b.value("input[name='children.limit']").await, "");
            // The link to the org the value comes from (its page or a tab of it).
            assert!(b.exists("#effective a[href^='/console/orgs/acme']").await);
        }
        "customizations" => {
            b.fill("#document", r#"{"theme": "dark"}"#).await;
            b.submit("form#customizations button[type=submit]").await;
            assert!(b.text("#effective").await.contains("dark"));
            b.fill("#document", r#"{"theme": "#).await;
            b.submit("form#customizations button[type=submit]").await;
            let errors = b.field_errors().await;
            assert!(errors.iter().any(|e| !e.is_empty()), "invalid JSON");
        }
        "tags" => {
            assert_eq!(b.all("ul#tags li").await.len(), 2);
            b.fill("#tag-name", "gold").await;
            b.submit("form#add-tag button[type=submit]").await;
            let tags = b.all("ul#tags li").await;
            assert_eq!(tags.len(), 3);
            let mut gold = None;
            for li in tags {
                if li.text().await.unwrap().contains("gold") {
                    gold = Some(li);
                }
            }
            let remove = gold.unwrap().find(fantoccini::Locator::Css("button")).await;
            assert_eq!(remove.as_ref().unwrap().text().await.unwrap(), "Remove");
            b.submit_element(remove.unwrap(), "Remove gold").await;
            assert_eq!(b.all("ul#tags li").await.len(), 2);
            assert!(!b.text("ul#tags").await.contains("gold"));
        }
        "limits" => {
            let apps = "table#limits tr[data-resource='applications']";
            assert!(b.exists(&format!("{apps} meter")).await);
            assert!(b.exists("table#limits tr[data-resource='children']").await);
            assert!(b.exists("table#limits tr[data-resource='api_keys']").await);
            assert!(!b.exists(&format!("{apps}.over")).await, "1 of 5");
        }
        "keys" => {
            assert!(b.exists("form#new-key #perm-read").await);
            assert!(b.exists("table#keys").await);
        }
        "audit" => {
            assert!(b.all("table#events tr").await.len() >= 2);
            assert!(b.text("#verify").await.contains("intact"));
            assert!(b.text("#proof").await.contains("proved"));
            // Its hashes wrap on a phone rather than widen the page.
            b.phone().await;
            assert!(b.fits_width().await, "the audit page fits 390 px");
            b.desktop().await;
        }
        "access-log" => {
            assert!(b.text("table#entries").await.contains("ada@example.com"));
            assert!(b.exists("form#filters").await);
        }
        "consumption" => {
            assert_eq!(
                b.find("input#month").await.attr("type").await.unwrap(),
                Some("month".to_owned())
            );
            assert!(b.exists("svg#chart").await);
            assert!(b.exists("table#subtree").await);
        }
        "webhooks" => {
            assert!(b.text("table#webhooks").await.contains("93.184.216.34"));
            assert!(b.exists("form#new-webhook input#webhook-url").await);
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_consoles_forms_within_the_reach_of_the_key() {
    let Some(mut b) = Browser::start().await else {
        return;
    };
    let app = quiet_app().await;
    seed(&app).await;
    app.org("root", "drifter").await;
    let k = app.root_key.clone();
    b.sign_in(&app, &k).await;

    // A new org, through the overview's form.
    b.go("/console/orgs/root").await;
    b.fill("#child-name", "Limited").await;
    b.fill("#child-id", "limited").await;
    b.submit("form#new-child button[type=submit]").await;
    assert_eq!(b.path().await, "/console/orgs/limited");
    assert_eq!(b.text("h1").await, "Limited");
    let limited: Value = app.get_json(&k, "/orgs/limited").await;
    assert_eq!(limited["parent_id"], "root");

    // Its children.limit, through the configs form.
    b.go("/console/orgs/limited/configs").await;
    b.fill("input[name='children.limit']", "1").await;
    b.submit("form#configs button[type=submit]").await;
    let limits: Value = app.get_json(&k, "/orgs/limited/limits").await;
    assert_eq!(limits["children"]["limit"], 1);
    assert_eq!(b.value("input[name='children.limit']").await, "1");

    // One child fits; a second is refused, and the error names the limit.
    b.go("/console/orgs/limited").await;
    b.fill("#child-name", "First").await;
    b.fill("#child-id", "first").await;
    b.submit("form#new-child button[type=submit]").await;
    assert_eq!(b.path().await, "/console/orgs/first");
    b.go("/console/orgs/limited").await;
    b.fill("#child-name", "Second").await;
    b.fill("#child-id", "second").await;
    b.submit("form#new-child button[type=submit]").await;
    let errors = b.field_errors().await;
    assert!(
        errors.iter().any(|e| {
            let e = e.to_lowercase();
            e.contains("children") && e.contains("limit")
        }),
        "{errors:?}"
    );
    let res = app.get(&k, "/orgs/second").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    b.go("/console/orgs/limited/limits").await;
    let children = b.find("table#limits tr[data-resource='children']").await;
    let class = children.attr("class").await.unwrap().unwrap_or_default();
    assert!(class.split_whitespace().any(|c| c == "over"), "{class}");
    let text = children.text().await.unwrap();
    assert!(
        text.contains("at limit") || text.contains("over limit"),
        "{text}"
    );
    assert!(
        b.exists("table#limits tr[data-resource='children'] meter")
            .await
    );

    // Rename.
    b.go("/console/orgs/first").await;
    b.fill("#rename-name", "First renamed").await;
    b.submit("form#rename button[type=submit]").await;
    assert_eq!(b.text("h1").await, "First renamed");
    assert_eq!(org_name(&app, "first").await, "First renamed");

    // Move.
    b.go("/console/orgs/drifter").await;
    b.fill("#move-parent", "globex").await;
    b.submit("form#move button[type=submit]").await;
    let drifter: Value = app.get_json(&k, "/orgs/drifter").await;
    assert_eq!(drifter["parent_id"], "globex");

    // Delete: the count of what goes, a wrong name refused, then the org and
    // its child gone.
    b.go("/console/orgs/limited").await;
    assert!(b.text("#delete-count").await.contains('2'));
    b.fill("#delete-confirm", "Not the name").await;
    b.submit("form#delete button[type=submit]").await;
    let errors = b.field_errors().await;
    assert!(errors.iter().any(|e| !e.is_empty()), "a wrong name");
    assert_eq!(app.get(&k, "/orgs/limited").await.status(), StatusCode::OK);
    b.go("/console/orgs/limited").await;
    b.fill("#delete-confirm", "Limited").await;
    b.submit("form#delete button[type=submit]").await;
    assert_eq!(b.path().await, "/console/orgs/root");
    for org in ["limited", "first"] {
        let res = app.get(&k, &format!("/orgs/{org}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{org} deleted");
    }

    // A key, made on the keys page: its secret shown once, working against
    // the API until it is revoked on the same page.
    b.go("/console/orgs/acme/keys").await;
    b.fill("#key-name", "deploy").await;
    b.check("#perm-read", true).await;
    b.check("#perm-write", false).await;
    b.submit("form#new-key button[type=submit]").await;
    let secret = b.text("code#new-secret").await;
    assert!(secret.starts_with("orgd_"), "{secret}");
    assert!(b.exists("button#copy-secret").await);
    assert_eq!(
        app.get(&secret, "/orgs/acme").await.status(),
        StatusCode::OK
    );
    let me: Value = app.get_json(&secret, "/me").await;
    let key_id = me["key"]["id"].as_str().unwrap().to_owned();
    b.go("/console/orgs/acme/keys").await;
    assert!(!b.exists("#new-secret").await, "the secret is shown once");
    let revoke = format!("table#keys tr[data-key='{key_id}'] button");
    assert_eq!(b.text(&revoke).await, "Revoke");
    b.submit(&revoke).await;
    let res = app.get(&secret, "/orgs/acme").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "revoked");

    // A form posted from another origin, with the session's cookie but no
    // CSRF token: refused, and nothing changed.
    let other = OtherSite::start(&app.base).await;
    let before = org_name(&app, "root").await;
    b.go(&other.url("/attack")).await;
    b.submit("#attack button[type=submit]").await;
    assert_eq!(b.text("h1").await, "Forbidden");
    assert_eq!(b.status().await, 403);
    assert_eq!(org_name(&app, "root").await, before);

    // A read-only key: the overview offers no form that writes.
    let (read_only, _) = app.key("acme", &["read"]).await;
    b.go("/console/tree").await;
    b.sign_out().await;
    b.sign_in(&app, &read_only).await;
    b.go("/console/orgs/acme").await;
    assert_eq!(b.text("h1").await, "Org acme");
    for form in ["rename", "delete", "new-child"] {
        assert!(!b.exists(&format!("form#{form}")).await, "no form#{form}");
    }

    // A child org's key: its tree starts at its org; the orgs above and
    // beside it are not found.
    let (acme_admin, _) = app.key("acme", &["read", "write", "delete", "admin"]).await;
    b.sign_out().await;
    b.sign_in(&app, &acme_admin).await;
    let crumbs = b.text("ol.breadcrumbs").await;
    assert!(crumbs.contains("Org acme"), "{crumbs}");
    assert!(!crumbs.contains(&before), "{crumbs}");
    assert!(b.exists("#children tr[data-org='eu']").await);
    assert!(b.exists("nav#top a[href='/console/orgs/acme']").await);
    for path in [
        "/console/orgs/root",
        "/console/orgs/globex",
        "/console/orgs/root/keys",
        // The tree at an org out of reach is not found either.
        "/console/tree?at=root",
    ] {
        b.go(path).await;
        assert_eq!(b.text("h1").await, "Not found", "{path}");
        assert_eq!(b.status().await, 404, "{path}");
    }
    b.close().await;
}
