//! The console over HTTP (SPEC §13): sessions, the cross-site checks, what
//! each kind of key sees and may do, and that the console's pages and
//! changes land in the access log and the audit trail like API calls. The
//! browser tests (`console_browser.rs`) drive the same pages in Chromium.

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{StatusCode, redirect};
use serde_json::Value;

use crate::helpers::{RawDb, TestApp};

/// A browser, as far as HTTP goes: its session cookie and the token its
/// forms carry.
struct Session {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
    csrf: String,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

fn csrf_of(body: &str) -> Option<String> {
    let at = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(body[at..at + 64].to_owned())
}

impl Session {
    fn anonymous(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            csrf: String::new(),
        }
    }

    async fn signed_in(app: &TestApp, key: &str) -> Self {
        let mut s = Self::anonymous(app);
        let res = s.sign_in(key).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let tree = s.get("/console/tree").await;
        assert_eq!(tree.status, StatusCode::OK);
        s.csrf = csrf_of(&tree.body).expect("a signed-in page carries the token");
        s
    }

    async fn sign_in(&mut self, key: &str) -> Page {
        let res = self
            .client
            .post(format!("{}/console/sign-in", self.base))
            .header(ORIGIN, &self.base)
            .form(&[("key", key)])
            .send()
            .await
            .unwrap();
        if let Some(c) = res.headers().get(SET_COOKIE) {
            let c = c.to_str().unwrap();
            self.cookie = Some(c.split(';').next().unwrap().to_owned());
        }
        page(res).await
    }

    async fn get(&self, path: &str) -> Page {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        page(req.send().await.unwrap()).await
    }

    /// A form post as the console's own page sends it.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_as(path, fields, Some(&self.base), Some(&self.csrf))
            .await
    }

    async fn post_as(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
        csrf: Option<&str>,
    ) -> Page {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(t) = csrf {
            form.push(("csrf", t));
        }
        let mut req = self.client.post(format!("{}{path}", self.base)).form(&form);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        page(req.send().await.unwrap()).await
    }
}

async fn page(res: reqwest::Response) -> Page {
    Page {
        status: res.status(),
        location: res
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned()),
        body: res.text().await.unwrap(),
    }
}

/// Every page of an org, and every form's post with what it sends.
fn pages(org: &str) -> Vec<String> {
    [
        "",
        "/configs",
        "/customizations",
        "/tags",
        "/limits",
        "/keys",
        "/audit",
        "/access-log",
        "/consumption",
        "/webhooks",
    ]
    .iter()
    .map(|tab| format!("/console/orgs/{org}{tab}"))
    .collect()
}

fn posts(org: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            format!("/console/orgs/{org}/rename"),
            vec![("name", "Renamed")],
        ),
        (
            format!("/console/orgs/{org}/move"),
            vec![("parent_id", "root")],
        ),
        (
            format!("/console/orgs/{org}/delete"),
            vec![("confirm", "T")],
        ),
        (
            format!("/console/orgs/{org}/children"),
            vec![("name", "New"), ("id", "new-child")],
        ),
        (
            format!("/console/orgs/{org}/configs"),
            vec![("applications.limit", "3")],
        ),
        (
            format!("/console/orgs/{org}/customizations"),
            vec![("document", "{\"theme\":\"dark\"}")],
        ),
        (format!("/console/orgs/{org}/tags"), vec![("name", "gold")]),
        (
            format!("/console/orgs/{org}/keys"),
            vec![("name", "k"), ("permissions", "read")],
        ),
        (
            format!("/console/orgs/{org}/webhooks"),
            vec![("url", "https://example.com/hook")],
        ),
    ]
}

/// What a refused post must leave alone: the org as read, its audit chain's
/// length, its keys, tags and webhooks.
async fn snapshot(app: &TestApp, org: &str) -> Vec<Value> {
    let k = &app.root_key;
    let mut out = vec![];
    for path in [
        format!("/orgs/{org}"),
        format!("/orgs/{org}/configs/effective"),
        format!("/orgs/{org}/api_keys"),
        format!("/orgs/{org}/tags"),
        format!("/orgs/{org}/webhooks"),
        format!("/orgs/{org}/children"),
    ] {
        out.push(app.get_json(k, &path).await);
    }
    out.push(app.verify(org).await["events"].clone());
    out
}

/// root ⊃ t ⊃ t-child, root ⊃ s; t named "T".
async fn tree(app: &TestApp) {
    app.orgs("root/t/t-child").await;
    app.org("root", "s").await;
    let res = app
        .patch(&app.root_key, "/orgs/t", serde_json::json!({"name": "T"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_in_sets_a_strict_cookie_and_the_key_is_neither_echoed_nor_stored() {
    let app = TestApp::spawn().await;
    let mut s = Session::anonymous(&app);
    let res = s.sign_in(&app.root_key).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location.as_deref(), Some("/console/tree"));

    let raw = s
        .client
        .post(app.url("/console/sign-in"))
        .header(ORIGIN, &app.base)
        .form(&[("key", app.root_key.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = raw.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("orgd_console="), "{cookie}");
    for attribute in ["; HttpOnly", "; SameSite=Strict", "; Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let id = cookie["orgd_console=".len()..].split(';').next().unwrap();
    assert!(id.len() >= 43, "a long random id: {id}");

    // Behind a trusted proxy that says HTTPS, the cookie is Secure. The test
    // server trusts no proxy, so the header alone changes nothing.
    let spoofed = s
        .client
        .post(app.url("/console/sign-in"))
        .header(ORIGIN, app.base.replace("http://", "https://"))
        .header("x-forwarded-proto", "https")
        .form(&[("key", app.root_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);

    // The key is in no page, and the database holds neither it nor the id.
    for path in ["/console/tree".to_owned()]
        .into_iter()
        .chain(pages("root"))
    {
        let p = s.get(&path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert!(!p.body.contains(&app.root_key), "{path} shows the key");
    }
    let mut db = RawDb::connect(&app.database_url).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM console_sessions").await, 2);
    let leaked = format!(
        "SELECT COUNT(*) FROM console_sessions WHERE id_hash = '{id}' OR key_digest = '{}'",
        app.root_key
    );
    assert_eq!(db.scalar(&leaked).await, 0);
}

#[tokio::test]
async fn without_a_session_pages_lead_to_sign_in_and_posts_are_refused() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let before = snapshot(&app, "t").await;
    let s = Session::anonymous(&app);
    for path in ["/console".to_owned(), "/console/tree".to_owned()]
        .into_iter()
        .chain(pages("t"))
    {
        let p = s.get(&path).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
        let to = p.location.unwrap();
        assert!(
            to == "/console/sign-in" || (path == "/console" && to == "/console/tree"),
            "{path} → {to}"
        );
    }
    for (path, fields) in posts("t") {
        let p = s.post_as(&path, &fields, Some(&app.base), None).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
    }
    let sign_in = s.get("/console/sign-in").await;
    assert_eq!(sign_in.status, StatusCode::OK);
    assert!(sign_in.body.contains("id=\"sign-in\""));
    assert_eq!(snapshot(&app, "t").await, before);
}

#[tokio::test]
async fn a_key_sees_its_subtree_only_a_sibling_gets_the_not_found_page() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let (sibling, _) = app.key("s", &["read", "write", "delete", "admin"]).await;
    let (child, _) = app
        .key("t-child", &["read", "write", "delete", "admin"])
        .await;
    let before = snapshot(&app, "t").await;
    for (key, orgs) in [
        (sibling, &["t", "t-child"][..]),
        (child, &["t", "root"][..]),
    ] {
        let s = Session::signed_in(&app, &key).await;
        for org in orgs {
            for path in pages(org) {
                let p = s.get(&path).await;
                assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}");
                assert!(p.body.contains("<h1>Not found</h1>"), "{path}");
                assert!(!p.body.contains("\"T\""));
            }
            for (path, fields) in posts(org) {
                let p = s.post(&path, &fields).await;
                assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}: {}", p.body);
            }
        }
        // Its own tree starts at its own org.
        let tree = s.get("/console/tree").await;
        assert!(!tree.body.contains("data-org=\"t\""));
        let search = s.get("/console/tree?q=t").await;
        assert!(
            !search.body.contains("data-org=\"t\""),
            "search stays in reach"
        );
    }
    assert_eq!(snapshot(&app, "t").await, before);
}

#[tokio::test]
async fn a_read_only_key_gets_no_write_forms_and_a_forged_post_is_refused() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let (read_only, _) = app.key("t", &["read"]).await;
    // Signed in first: signing in is a use of the key (its `last_used_at`).
    let s = Session::signed_in(&app, &read_only).await;
    let before = snapshot(&app, "t").await;
    for org in ["t", "t-child"] {
        for path in pages(org) {
            let p = s.get(&path).await;
            assert_eq!(p.status, StatusCode::OK, "{path}");
            let posts = p.body.matches("method=\"post\"").count();
            assert_eq!(posts, 1, "{path}: only the sign-out form");
        }
        for (path, fields) in posts(org) {
            let p = s.post(&path, &fields).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.body);
            assert!(p.body.contains("<h1>Forbidden</h1>"));
        }
    }
    assert_eq!(snapshot(&app, "t").await, before);
}

#[tokio::test]
async fn a_post_from_another_origin_or_without_the_token_changes_nothing() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let s = Session::signed_in(&app, &app.root_key).await;
    let other = Session::signed_in(&app, &app.root_key).await;
    let before = snapshot(&app, "t").await;
    let path = "/console/orgs/t/rename";
    let name = [("name", "Forged")];
    for (origin, csrf, why) in [
        (
            Some("http://evil.example"),
            Some(s.csrf.as_str()),
            "another origin",
        ),
        (Some("null"), Some(s.csrf.as_str()), "an opaque origin"),
        (
            None,
            Some(s.csrf.as_str()),
            "no origin and no fetch metadata",
        ),
        (Some(app.base.as_str()), None, "no token"),
        (
            Some(app.base.as_str()),
            Some("0".repeat(64).as_str()),
            "a wrong token",
        ),
        (
            Some(app.base.as_str()),
            Some(other.csrf.as_str()),
            "another session's token",
        ),
    ] {
        let p = s.post_as(path, &name, origin, csrf).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{why}");
    }
    // Sign-in is checked for its origin too (no signing a browser in to an
    // attacker's key).
    let mut victim = Session::anonymous(&app);
    victim.base = app.base.clone();
    let res = victim
        .client
        .post(app.url("/console/sign-in"))
        .header(ORIGIN, "http://evil.example")
        .form(&[("key", app.root_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(SET_COOKIE).is_none());
    assert_eq!(snapshot(&app, "t").await, before);

    // The same post from the console's own page goes through.
    let p = s.post(path, &name).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let org: Value = app.get_json(&app.root_key, "/orgs/t").await;
    assert_eq!(org["name"], "Forged");
}

#[tokio::test]
async fn a_session_ends_at_sign_out_after_twelve_idle_hours_and_with_its_key() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let tree_page = "/console/tree";

    let s = Session::signed_in(&app, &app.root_key).await;
    let out = s.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(s.get(tree_page).await.status, StatusCode::SEE_OTHER);

    // Idle: 11 h 59 min is fine (and refreshes the session), 12 h is not.
    let s = Session::signed_in(&app, &app.root_key).await;
    app.clock.advance(chrono::Duration::minutes(12 * 60 - 1));
    assert_eq!(s.get(tree_page).await.status, StatusCode::OK);
    app.clock.advance(chrono::Duration::minutes(12 * 60 - 1));
    assert_eq!(s.get(tree_page).await.status, StatusCode::OK);
    app.clock.advance(chrono::Duration::hours(12));
    let p = s.get(tree_page).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/console/sign-in"));

    // A revoked key ends its sessions at once: their rows go with it.
    let (key, key_id) = app.key("t", &["read", "write", "delete", "admin"]).await;
    let s = Session::signed_in(&app, &key).await;
    assert_eq!(s.get("/console/orgs/t").await.status, StatusCode::OK);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    let of_key = format!("SELECT COUNT(*) FROM console_sessions WHERE key_digest = '{digest}'");
    let mut db = RawDb::connect(&app.database_url).await;
    assert_eq!(db.scalar(&of_key).await, 1);
    let res = app
        .delete(&app.root_key, &format!("/orgs/t/api_keys/{key_id}"))
        .await;
    assert!(res.status().is_success());
    assert_eq!(db.scalar(&of_key).await, 0);
    assert_eq!(s.get("/console/orgs/t").await.status, StatusCode::SEE_OTHER);

    // A wrong key is refused with the sign-in page and a message.
    let mut s = Session::anonymous(&app);
    let p = s.sign_in("orgd_nope").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("field-error"));
    assert!(s.cookie.is_none());
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_client_address() {
    let app = TestApp::spawn().await;
    let mut s = Session::anonymous(&app);
    let mut refused_at = None;
    for attempt in 1..=12 {
        let p = s.sign_in("orgd_wrongwrongwrongwrongwrongwrongwrong").await;
        if p.status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(attempt);
            break;
        }
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        refused_at,
        Some(12),
        "ten a minute, plus the one that tips it"
    );
    // Blocked: another wrong key waits, and is told how long; the right
    // key signs in all the same (edges.rs).
    let p = s.sign_in("orgd_wrongwrongwrongwrongwrongwrongwrong").await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.body.contains("try again in"));
}

#[tokio::test]
async fn console_pages_and_changes_are_logged_and_audited_like_api_calls() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let (key, key_id) = app.key("root", &["read", "write", "delete", "admin"]).await;
    let s = Session::signed_in(&app, &key).await;
    assert_eq!(s.get("/console/orgs/t/limits").await.status, StatusCode::OK);
    let p = s
        .post("/console/orgs/t/configs", &[("children.limit", "2")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    app.flush().await;

    let log: Vec<Value> = app
        .get_json(
            &app.root_key,
            "/orgs/t/access_log?action=console.limits.get",
        )
        .await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["key_id"], key_id);
    let audit: Vec<Value> = app
        .get_json(&app.root_key, "/orgs/t/audit?action=configs.replace")
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"]["key_id"], key_id);

    // The limit bites (t has t-child already), and the refusal reads beside
    // the form.
    let first = s
        .post(
            "/console/orgs/t/children",
            &[("name", "One"), ("id", "one")],
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let second = s
        .post(
            "/console/orgs/t/children",
            &[("name", "Two"), ("id", "two")],
        )
        .await;
    assert_eq!(second.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(second.body.contains("field-error"), "{}", second.body);
    assert!(second.body.contains("limit of 2"), "{}", second.body);
    let limits = s.get("/console/orgs/t/limits").await;
    assert!(
        limits
            .body
            .contains("data-resource=\"children\" class=\"over\""),
        "{}",
        limits.body
    );
}

#[tokio::test]
async fn a_delete_needs_the_orgs_name_typed_and_shows_what_it_removes() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let s = Session::signed_in(&app, &app.root_key).await;
    let page = s.get("/console/orgs/t").await;
    assert!(
        page.body.contains("<strong id=\"delete-count\">2</strong>"),
        "t and t-child"
    );
    // A move to nowhere reads beside the move form; the org stays.
    let nowhere = s
        .post("/console/orgs/t/move", &[("parent_id", "no-such-org")])
        .await;
    assert_eq!(nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        nowhere
            .body
            .contains("No such parent organization in your reach."),
        "{}",
        nowhere.body
    );
    let wrong = s.post("/console/orgs/t/delete", &[("confirm", "t")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&app.root_key, "/orgs/t").await.status(),
        StatusCode::OK
    );
    let right = s.post("/console/orgs/t/delete", &[("confirm", "T")]).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(
        right.location.as_deref(),
        Some("/console/orgs/root?done=deleted")
    );
    for org in ["t", "t-child"] {
        let gone = app.get(&app.root_key, &format!("/orgs/{org}")).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_audit_page_shows_the_orgs_checkpoint_proof_and_whether_it_checks() {
    let app = TestApp::spawn().await;
    tree(&app).await;
    let (key, _) = app.key("t", &["read"]).await;
    let s = Session::signed_in(&app, &key).await;

    let before = s.get("/console/orgs/t/audit").await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(
        before.body.contains("No signed checkpoint holds"),
        "{}",
        before.body
    );

    app.service.make_checkpoint().await.unwrap();
    let proof: Value = app.get_json(&key, "/orgs/t/audit/proof").await;
    let page = s.get("/console/orgs/t/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("proved"), "{}", page.body);
    let shown = |v: &Value| page.body.contains(v.as_str().unwrap());
    assert!(shown(&proof["checkpoint"]["id"]));
    assert!(shown(&proof["checkpoint"]["root_hash"]));
    assert!(shown(&proof["checkpoint"]["signature"]));
    assert!(shown(&proof["leaf"]["hash"]));
    let path = proof["path"].as_array().unwrap();
    assert!(!path.is_empty(), "three orgs with events: {proof}");
    assert!(path.iter().all(shown), "{}", page.body);

    // A signature that does not check reads as such, not as proved (the
    // table is append-only: its trigger goes first).
    let mut db = RawDb::connect(&app.database_url).await;
    let drop_trigger = if app.database_url.starts_with("sqlite") {
        "DROP TRIGGER audit_checkpoints_append_only"
    } else {
        "DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints"
    };
    db.execute(drop_trigger).await.unwrap();
    db.execute("UPDATE audit_checkpoints SET signature = 'AAAA'")
        .await
        .unwrap();
    let forged = s.get("/console/orgs/t/audit").await;
    assert_eq!(forged.status, StatusCode::OK);
    assert!(forged.body.contains("does not check"), "{}", forged.body);
    assert!(
        !forged.body.contains("badge ok\">proved"),
        "{}",
        forged.body
    );
}
