//! What a new operator meets in the first hour: start-up order and messages,
//! logs, the command line's operator tools, and errors a person can act on.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    OrgdProcess, RawDb, Remote, Storage, TestApp, error_fields, openapi_document, postgres,
    problem, run_cli, serve,
};

fn key() -> String {
    orgd_core::api_keys::generate_secret()
}

async fn status_of(base: &str, key: &str, path: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_bootstrap_key_that_no_longer_applies_is_named_in_a_warning() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let first = key();
    let mut orgd = serve(&db, Some(&first));
    orgd.base().await;
    let (status, lines) = orgd.stop().await;
    assert!(status.success(), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("WARN")), "{lines:?}");

    // Started again with another key, as the old README walk-through did.
    let second = key();
    let mut orgd = serve(&db, Some(&second));
    let base = orgd.base().await;
    let warning = orgd
        .lines()
        .into_iter()
        .find(|l| l.contains("WARN"))
        .expect("a warning");
    assert!(warning.contains("ORGD_BOOTSTRAP_KEY"), "{warning}");
    assert!(warning.contains("orgd keys create"), "{warning}");
    assert!(!warning.contains(&second), "the secret is never echoed");
    assert_eq!(status_of(&base, &first, "/me").await, StatusCode::OK);
    assert_eq!(
        status_of(&base, &second, "/me").await,
        StatusCode::UNAUTHORIZED
    );
    orgd.stop().await;

    // The key that does work: no warning.
    let mut orgd = serve(&db, Some(&first));
    orgd.base().await;
    let (_, lines) = orgd.stop().await;
    assert!(!lines.iter().any(|l| l.contains("WARN")), "{lines:?}");
}

#[tokio::test]
async fn a_port_in_use_fails_at_once_before_any_database_is_made() {
    let storage = Storage::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let sqlite_file = storage.dir.path().join("never.db");
    let db = if postgres() {
        storage.database_url.clone()
    } else {
        format!("sqlite://{}", sqlite_file.display())
    };
    let orgd = OrgdProcess::spawn(
        &["serve", "--listen", &addr, "--database-url", &db],
        &[("ORGD_LOG", "info")],
    );
    let (status, lines) = orgd.exited().await;
    assert_eq!(status.code(), Some(1), "{lines:?}");
    let text = lines.join("\n");
    assert!(text.contains(&format!("cannot listen on {addr}")), "{text}");
    assert!(text.contains("already in use"), "{text}");
    assert!(!text.contains("shown once"), "no root key was made: {text}");
    if postgres() {
        let mut raw = RawDb::connect(&db).await;
        let tables = raw
            .scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .await;
        assert_eq!(tables, 0, "nothing was created in the database");
    } else {
        assert!(!sqlite_file.exists(), "no database file was created");
    }
}

#[tokio::test]
async fn listen_takes_host_names_bracketed_ipv6_and_bare_ports() {
    let storage = Storage::new().await;
    let root = key();
    for listen in ["localhost:0", "[::1]:0", ":0"] {
        let mut orgd = OrgdProcess::spawn(
            &[
                "serve",
                "--listen",
                listen,
                "--database-url",
                &storage.database_url,
            ],
            &[
                ("ORGD_LOG", "warn,orgd::cli=info"),
                ("ORGD_BOOTSTRAP_KEY", &root),
            ],
        );
        let base = orgd.base().await;
        // `:PORT` listens on every interface; reach it through loopback.
        let base = base.replace("0.0.0.0", "127.0.0.1");
        assert_eq!(
            status_of(&base, &root, "/me").await,
            StatusCode::OK,
            "{listen}"
        );
        orgd.stop().await;
    }
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_request_ids_and_401_reasons() {
    let storage = Storage::new().await;
    let root = key();
    let mut orgd = OrgdProcess::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &storage.database_url,
            "--log-format",
            "json",
        ],
        &[("ORGD_LOG", "info"), ("ORGD_BOOTSTRAP_KEY", &root)],
    );
    let base = orgd.base().await;
    let operator = Remote::new(&base, &root);
    let res = operator
        .req(reqwest::Method::POST, "/orgs")
        .header("x-request-id", "walk-1")
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (acme_key, acme_key_id) = {
        let read = json!({"name": "k", "permissions": ["read"]});
        let res = operator.post("/orgs/acme/api_keys", read).await;
        let body: Value = res.json().await.unwrap();
        (
            body["secret"].as_str().unwrap().to_owned(),
            body["id"].as_str().unwrap().to_owned(),
        )
    };
    let revoke = format!("/orgs/acme/api_keys/{acme_key_id}");
    operator
        .req(reqwest::Method::DELETE, &revoke)
        .send()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let unknown = key();
    for (secret, _) in [
        (Some(unknown.as_str()), "unknown"),
        (Some("not-a-key"), "malformed"),
        (Some(acme_key.as_str()), "revoked"),
        (None, "missing"),
    ] {
        let mut req = client.get(format!("{base}/orgs/acme"));
        if let Some(s) = secret {
            req = req.bearer_auth(s);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    let (status, lines) = orgd.stop().await;
    assert!(status.success());
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    for e in &events {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
        assert!(orgd_core::time::parse(e["timestamp"].as_str().unwrap()).is_some());
    }
    assert!(
        events
            .iter()
            .any(|e| e["message"].as_str().unwrap().starts_with("listening on"))
    );
    let served = events
        .iter()
        .find(|e| e["message"] == "served" && e["request_id"] == "walk-1")
        .expect("the create's served line carries its request id");
    assert_eq!(served["fields"]["status"], 201);
    assert_eq!(served["fields"]["method"], "POST");
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e["message"] == "authentication refused")
        .map(|e| {
            assert!(e["request_id"].is_string(), "{e}");
            e["fields"]["reason"].as_str().unwrap()
        })
        .collect();
    assert_eq!(reasons, ["unknown", "malformed", "revoked", "missing"]);
    let revoked = events
        .iter()
        .find(|e| e["fields"]["reason"] == "revoked")
        .unwrap();
    assert_eq!(revoked["fields"]["key_id"], acme_key_id.as_str());
    let all = lines.join("\n");
    for secret in [&root, &acme_key, &unknown] {
        assert!(!all.contains(secret.as_str()), "a secret reached the log");
    }
}

#[tokio::test]
async fn an_expired_key_is_refused_with_its_reason() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            &app.root_key,
            "/orgs/root/api_keys",
            json!({"name": "short", "permissions": ["read"], "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let created = res.json::<Value>().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::days(365 * 80));
    match app.service.authenticate(&secret).await {
        Err(orgd_core::Error::Unauthenticated { reason, key_id }) => {
            assert_eq!(reason, orgd_core::error::AuthFailure::Expired);
            assert!(key_id.unwrap().starts_with("key_"));
        }
        other => panic!("expected an expired key, got {other:?}"),
    }
    app.get_problem(&secret, "/me", StatusCode::UNAUTHORIZED)
        .await;
}

#[tokio::test]
async fn text_logs_have_no_colours_when_stderr_is_not_a_terminal() {
    let storage = Storage::new().await;
    let root = key();
    let mut orgd = serve(&storage.database_url, Some(&root));
    let base = orgd.base().await;
    status_of(&base, &root, "/me").await;
    let (_, lines) = orgd.stop().await;
    assert!(lines.iter().any(|l| l.contains(" INFO ")), "{lines:?}");
    assert!(!lines.join("\n").contains('\u{1b}'), "{lines:?}");
}

#[tokio::test]
async fn an_invalid_log_filter_is_an_error_at_start() {
    let storage = Storage::new().await;
    let orgd = OrgdProcess::spawn(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("ORGD_LOG", "orgd=loudest"),
            ("ORGD_DATABASE_URL", &storage.database_url),
        ],
    );
    let (status, lines) = orgd.exited().await;
    assert_eq!(status.code(), Some(2), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ORGD_LOG") && l.contains("not a valid log filter")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_bad_bootstrap_key_is_refused_without_being_echoed() {
    let storage = Storage::new().await;
    let bad = "short-but-secret-value";
    let orgd = OrgdProcess::spawn(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("ORGD_BOOTSTRAP_KEY", bad),
            ("ORGD_DATABASE_URL", &storage.database_url),
        ],
    );
    let (status, lines) = orgd.exited().await;
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("ORGD_BOOTSTRAP_KEY is not usable"), "{text}");
    assert!(!text.contains(bad), "{text}");

    let (code, out, err) = run_cli(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &storage.database_url,
        "--bootstrap-key",
        bad,
    ])
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--bootstrap-key is not usable"), "{err}");
    assert!(!err.contains(bad) && !out.contains(bad), "{err}");
}

#[tokio::test]
async fn operation_ids_are_unique_and_conditional_headers_are_declared() {
    let app = TestApp::spawn().await;
    let doc = openapi_document(&app).await;
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
            let headers: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "header")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let answers = |s: &str| op["responses"].get(s).is_some();
            assert_eq!(
                answers("412"),
                headers.contains(&"If-Match"),
                "{method} {path}"
            );
            assert_eq!(
                answers("304"),
                headers.contains(&"If-None-Match"),
                "{method} {path}"
            );
        }
    }
    for honoured in [
        "GET /orgs/{org_id}",
        "PATCH /orgs/{org_id}",
        "DELETE /orgs/{org_id}",
        "PUT /orgs/{org_id}/customizations",
        "PATCH /orgs/{org_id}/configs",
        "PUT /passportsvc/api/v1/organizations/{orgId}/configs",
    ] {
        let (m, p) = honoured.split_once(' ').unwrap();
        let op = &doc["paths"][p][m.to_lowercase()];
        assert!(
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "If-Match" || x["name"] == "If-None-Match"),
            "{honoured}"
        );
    }
}

#[tokio::test]
async fn a_412_carries_the_current_etag() {
    let app = TestApp::spawn().await;
    app.org("root", "acme").await;
    app.patch(&app.root_key, "/orgs/acme", json!({"name": "Acme 2"}))
        .await;
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            "/orgs/acme",
            Some(json!({"name": "x"})),
        ),
        (
            reqwest::Method::PUT,
            "/orgs/acme/customizations",
            Some(json!({"a": 1})),
        ),
        (
            reqwest::Method::PATCH,
            "/orgs/acme/configs",
            Some(json!({"applications.limit": 1})),
        ),
        (reqwest::Method::DELETE, "/orgs/acme", None),
    ] {
        let mut req = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&app.root_key)
            .header("if-match", "\"1\"");
        if let Some(b) = &body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["etag"], "\"2\"", "{method} {path}");
        problem(res, StatusCode::PRECONDITION_FAILED).await;
    }
    // The ETag a 412 gave is the one that then matches.
    let res = app
        .client
        .patch(app.url("/orgs/acme"))
        .bearer_auth(&app.root_key)
        .header("if-match", "\"2\"")
        .json(&json!({"name": "Acme 3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_and_named() {
    let app = TestApp::spawn().await;
    app.org("root", "acme").await;
    let k = &app.root_key;
    let body = app
        .get_problem(
            k,
            "/orgs?name=x&limit=5&colour=red",
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(error_fields(&body), ["name", "colour"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("name_prefix")
    );
    // A route that takes no query at all, and one that takes only some.
    for path in ["/orgs/acme?verbose=1", "/orgs/acme/tags?limit=10"] {
        app.get_problem(k, path, StatusCode::BAD_REQUEST).await;
    }
    // Declared ones pass, repeated ones too.
    let res = app
        .get(k, "/orgs?name_prefix=Org&tag=a&tag=b&limit=5")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Authentication comes first: no key, no word about the query.
    let res = app
        .send(None, reqwest::Method::GET, "/orgs?name=x", None)
        .await;
    problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn one_api_key_can_be_read_by_its_id() {
    let app = TestApp::spawn().await;
    app.org("root", "acme").await;
    app.org("root", "other").await;
    let (_, id) = app.key("acme", &["read", "write"]).await;
    let k = &app.root_key;
    let path = format!("/orgs/acme/api_keys/{id}");
    let key: Value = app.get_json(k, &path).await;
    assert_eq!(key["id"], id.as_str());
    assert_eq!(key["permissions"], json!(["read", "write"]));
    assert!(key.get("secret").is_none() && key.get("digest").is_none());
    // Another org's path, an unknown id, a key without admin, a revoked key.
    for other in [
        format!("/orgs/other/api_keys/{id}"),
        "/orgs/acme/api_keys/key_nope".to_owned(),
    ] {
        app.get_problem(k, &other, StatusCode::NOT_FOUND).await;
    }
    let (reader, _) = app.key("acme", &["read"]).await;
    app.get_problem(&reader, &path, StatusCode::FORBIDDEN).await;
    app.delete(k, &path).await;
    app.get_problem(k, &path, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_misspelt_field_in_a_create_body_is_named_first() {
    let app = TestApp::spawn().await;
    for (path, body) in [
        ("/orgs", json!({"nmae": "Acme"})),
        (
            "/orgs/root/api_keys",
            json!({"nmae": "k", "permissions": ["read"]}),
        ),
        ("/orgs/root/applications", json!({"nmae": "crm"})),
    ] {
        let res = app.post(&app.root_key, path, body).await;
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["errors"][0]["field"], "nmae", "{path}: {p}");
        assert_eq!(p["errors"][0]["message"], "unknown field", "{path}: {p}");
    }
}

#[tokio::test]
async fn metrics_show_the_process_the_pools_the_access_log_queue_and_the_build() {
    let app = TestApp::spawn().await;
    app.get(&app.root_key, "/orgs/root").await;
    app.flush().await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for metric in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "orgd_access_log_queue_depth",
        "orgd_access_log_flush_seconds_count",
        "orgd_db_pool_waits_total",
        "orgd_db_pool_waiting",
    ] {
        assert!(text.contains(metric), "{metric} missing");
    }
    let pool = if postgres() { "main" } else { "readers" };
    assert!(
        text.contains(&format!(
            "orgd_db_pool_connections{{pool=\"{pool}\",state=\"idle\"}}"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "orgd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(!text.contains("root"), "no tenant data in metrics");
}

/// `orgd migrate` on a terminal (`script` gives it one), with or without
/// `NO_COLOR`: what it printed.
async fn on_a_terminal(database_url: &str, no_color: bool) -> String {
    let command = format!(
        "{} migrate --database-url {database_url}",
        env!("CARGO_BIN_EXE_orgd")
    );
    let mut cmd = tokio::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("ORGD_LOG")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd
        .output()
        .await
        .expect("`script` (util-linux) runs a command on a terminal");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn text_logs_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let storage = Storage::new().await;
    let coloured = on_a_terminal(&storage.database_url, false).await;
    assert!(coloured.contains("migration"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "{coloured:?}");
    let plain = on_a_terminal(&storage.database_url, true).await;
    assert!(plain.contains("no migration was pending"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}
