//! Secrets never leak. The real binary, logging at `trace`, is driven through
//! a key's whole life (bootstrap, creation, use, failures, idempotent replay,
//! listing, revocation, malformed headers, audit and access log reads); then
//! every response (headers and body), the whole of its stderr and stdout up to
//! a graceful SIGTERM exit, and every row of its database are searched for
//! every secret. A key's secret may appear in exactly one place: the body of
//! the response that created it. The bootstrap key, given in the
//! environment, may appear nowhere.

use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::Storage;

mod harness;

use harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_anywhere_but_in_its_creating_response() {
    let storage = Storage::new().await;
    let bootstrap = orgd_core::api_keys::generate_secret();
    let server = Server::start(&storage.database_url, &bootstrap).await;
    let mut p = Probe {
        client: reqwest::Client::new(),
        base: server.base.clone(),
        seen: Vec::new(),
    };
    let b = bootstrap.as_str();
    let mut secrets = vec![Secret {
        name: "bootstrap".into(),
        value: bootstrap.clone(),
        created_by: None,
    }];

    // The tree: root > acme > acme-child.
    for (id, parent) in [("acme", "root"), ("acme-child", "acme")] {
        let s = p
            .post(
                "create org",
                b,
                "/orgs",
                json!({"id": id, "name": id, "parent_id": parent}),
            )
            .await;
        assert_eq!(s.status, StatusCode::CREATED, "{id}");
    }

    // Keys. The first one with an Idempotency-Key, replayed below.
    let k1_body = json!({"name": "acme admin", "user": "alice@example.com",
        "permissions": ["read", "write", "delete", "admin"]});
    let req = p
        .req(Method::POST, "/orgs/acme/api_keys", Some(b))
        .header("Idempotency-Key", "create-k1")
        .json(&k1_body);
    let created = p.call("create k1 (idempotent)", req).await;
    let k1_at = p.seen.len() - 1;
    let mut create = |name: &str, s: &Seen, at: usize| -> (String, String) {
        assert_eq!(
            s.status,
            StatusCode::CREATED,
            "{}: {}",
            s.what,
            String::from_utf8_lossy(&s.body)
        );
        let body = s.json();
        let secret = body["secret"].as_str().unwrap().to_owned();
        let id = body["id"].as_str().unwrap().to_owned();
        assert!(secret.starts_with(body["prefix"].as_str().unwrap()));
        secrets.push(Secret {
            name: name.into(),
            value: secret.clone(),
            created_by: Some(at),
        });
        (secret, id)
    };
    let (k1, k1_id) = create("k1", &created, k1_at);

    // The replay: the same key, body and response, without the secret.
    let req = p
        .req(Method::POST, "/orgs/acme/api_keys", Some(b))
        .header("Idempotency-Key", "create-k1")
        .json(&k1_body);
    let replay = p.call("replay of k1's creation", req).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("cache-control"), Some("no-store"));
    assert_eq!(replay.json()["id"], k1_id.as_str());
    assert!(replay.json().get("secret").is_none(), "{}", replay.json());
    // The same Idempotency-Key with another body: a conflict.
    let req = p
        .req(Method::POST, "/orgs/acme/api_keys", Some(b))
        .header("Idempotency-Key", "create-k1")
        .json(&json!({"name": "other", "permissions": ["read"]}));
    let reuse = p.call("idempotency key reused", req).await;
    assert_eq!(reuse.status, StatusCode::CONFLICT);

    // A key made by a key.
    let s = p
        .post(
            "k1 creates k2",
            &k1,
            "/orgs/acme/api_keys",
            json!({"name": "reader", "permissions": ["read"]}),
        )
        .await;
    let (k2, _k2_id) = create("k2", &s, p.seen.len() - 1);
    // One to revoke, on the child.
    let s = p
        .post(
            "create k3",
            b,
            "/orgs/acme-child/api_keys",
            json!({"name": "doomed", "user": "bob", "permissions": ["read", "write"]}),
        )
        .await;
    let (k3, k3_id) = create("k3", &s, p.seen.len() - 1);
    // One on the root, with an expiry and a rate limit.
    let s = p
        .post(
            "create k4",
            b,
            "/orgs/root/api_keys",
            json!({"name": "ops", "permissions": ["read", "admin"],
                "expires_at": "2999-01-01T00:00:00Z", "rate_limit_per_minute": 1000}),
        )
        .await;
    let (k4, _k4_id) = create("k4", &s, p.seen.len() - 1);

    // Every key, used: who am I, its own org, an org out of reach, an org
    // that does not exist, a body with an unknown field, a body that is not
    // JSON, a key it may not create.
    // The last field: may the key list keys (`admin`)?
    let keys = [
        ("bootstrap", b, "root", StatusCode::OK),
        ("k1", k1.as_str(), "acme", StatusCode::OK),
        ("k2", k2.as_str(), "acme", StatusCode::FORBIDDEN),
        ("k3", k3.as_str(), "acme-child", StatusCode::FORBIDDEN),
        ("k4", k4.as_str(), "root", StatusCode::OK),
    ];
    for (name, key, org, list_keys) in keys {
        let me = p.expect(name, Some(key), "/me", StatusCode::OK).await;
        assert_eq!(me.json()["org"]["id"], org);
        p.expect(name, Some(key), &format!("/orgs/{org}"), StatusCode::OK)
            .await;
        p.expect(name, Some(key), "/orgs/no-such-org", StatusCode::NOT_FOUND)
            .await;
        if org != "root" {
            p.expect(name, Some(key), "/orgs/root", StatusCode::NOT_FOUND)
                .await;
        }
        let s = p
            .post(
                name,
                key,
                "/orgs",
                json!({"name": "x", "parent_id": org, "bogus": true}),
            )
            .await;
        assert_eq!(s.status, StatusCode::BAD_REQUEST, "{}", s.what);
        let req = p
            .req(Method::POST, &format!("/orgs/{org}/tags"), Some(key))
            .header("content-type", "application/json")
            .body("{not json");
        let s = p.call(format!("{name}: broken JSON"), req).await;
        assert!(s.status.is_client_error(), "{}: {}", s.what, s.status);
        let req = p
            .req(Method::POST, &format!("/orgs/{org}/tags"), Some(key))
            .header("content-type", "text/plain")
            .body("name=x");
        let s = p.call(format!("{name}: not JSON"), req).await;
        assert!(s.status.is_client_error(), "{}: {}", s.what, s.status);
        let s = p
            .post(
                name,
                key,
                &format!("/orgs/{org}/api_keys"),
                json!({"name": "", "permissions": ["read", "sudo"]}),
            )
            .await;
        assert!(s.status.is_client_error(), "{}: {}", s.what, s.status);
        let s = p
            .get(name, Some(key), &format!("/orgs/{org}/api_keys"))
            .await;
        assert_eq!(s.status, list_keys, "{}", s.what);
    }
    // k2 (read only) may not make keys; k1 may not widen its reach.
    for (what, key, org, status) in [
        ("k2 escalates", &k2, "acme", StatusCode::FORBIDDEN),
        ("k1 out of reach", &k1, "root", StatusCode::NOT_FOUND),
    ] {
        let body = json!({"name": "x", "permissions": ["read"]});
        let s = p
            .post(what, key, &format!("/orgs/{org}/api_keys"), body)
            .await;
        assert_eq!(s.status, status);
    }

    // Lists of keys.
    for (key, org) in [
        (b, "root"),
        (b, "acme"),
        (b, "acme-child"),
        (&k1[..], "acme"),
    ] {
        let s = p
            .expect(
                "list keys",
                Some(key),
                &format!("/orgs/{org}/api_keys?limit=1000"),
                StatusCode::OK,
            )
            .await;
        assert!(!s.json().as_array().unwrap().is_empty());
    }

    // Revocation, then the revoked key.
    let req = p.req(
        Method::DELETE,
        &format!("/orgs/acme-child/api_keys/{k3_id}"),
        Some(b),
    );
    let s = p.call("revoke k3", req).await;
    assert_eq!(s.status, StatusCode::OK);
    for path in ["/me", "/orgs/acme-child", "/orgs/acme-child/audit"] {
        let s = p
            .expect("revoked k3", Some(&k3), path, StatusCode::UNAUTHORIZED)
            .await;
        assert!(s.header("www-authenticate").is_some(), "{}", s.what);
    }
    let s = p
        .post(
            "revoked k3",
            &k3,
            "/orgs/acme-child/tags",
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(s.status, StatusCode::UNAUTHORIZED);

    // Keys in malformed Authorization headers.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{k1}:"));
    let long = k1.repeat(6);
    for key in [&k1, &k4, &bootstrap] {
        let malformed = [
            format!("Token {key}"),
            format!("Basic {basic}"),
            key.to_string(),
            format!("Bearer{key}"),
            format!("Bearer {key} {key}"),
            format!("Bearer {key}x"),
            format!("Bearer {}", &key[..key.len() - 1]),
            format!("Bearer \"{key}\""),
            format!("Bearer {long}"),
        ];
        for (i, value) in malformed.into_iter().enumerate() {
            for path in ["/me", "/orgs/acme"] {
                let req = p
                    .req(Method::GET, path, None)
                    .header("authorization", value.as_str());
                let s = p
                    .call(format!("malformed header #{i}: GET {path}"), req)
                    .await;
                assert_eq!(s.status, StatusCode::UNAUTHORIZED, "{}", s.what);
            }
        }
    }
    let req = p
        .req(Method::GET, "/orgs/acme", None)
        .header("authorization", format!("Bearer {k3}"))
        .header("authorization", format!("Bearer {k1}"));
    let s = p.call("two Authorization headers", req).await;
    assert_eq!(s.status, StatusCode::UNAUTHORIZED, "{}", s.what);
    p.expect("no key", None, "/orgs/acme", StatusCode::UNAUTHORIZED)
        .await;

    // The audit trail.
    for org in ["root", "acme", "acme-child"] {
        for what in ["audit", "children_audit", "audit/verify"] {
            p.expect(
                "audit",
                Some(b),
                &format!("/orgs/{org}/{what}"),
                StatusCode::OK,
            )
            .await;
        }
    }
    let s = p
        .expect(
            "audit",
            Some(b),
            "/orgs/root/children_audit?limit=1000",
            StatusCode::OK,
        )
        .await;
    let creations = s
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.create")
        .count();
    assert!(creations >= 3, "{}", s.json());
    p.expect(
        "audit",
        Some(&k1),
        "/orgs/acme/audit?action=api_key.create",
        StatusCode::OK,
    )
    .await;

    // The access log: entries are written in batches, so wait for the
    // revoked key's failures to show.
    let mut refused = 0;
    for _ in 0..100 {
        let s = p
            .expect(
                "access log",
                Some(b),
                "/orgs/acme-child/access_log?status=FAILURE&limit=1000",
                StatusCode::OK,
            )
            .await;
        refused = s
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["http_status"] == 401)
            .count();
        if refused >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused >= 3, "the revoked key's failures were not logged");
    for (key, org) in [
        (b, "root"),
        (b, "acme"),
        (&k1[..], "acme"),
        (&k4[..], "acme"),
    ] {
        p.expect(
            "access log",
            Some(key),
            &format!("/orgs/{org}/access_log?limit=1000"),
            StatusCode::OK,
        )
        .await;
    }

    // What needs no key, and what is not there.
    for (path, status) in [
        ("/openapi.json", Some(StatusCode::OK)),
        ("/docs", Some(StatusCode::OK)),
        ("/healthz", Some(StatusCode::OK)),
        ("/readyz", Some(StatusCode::OK)),
        ("/metrics", Some(StatusCode::OK)),
        ("/no/such/route", Some(StatusCode::NOT_FOUND)),
    ] {
        let s = p.get("open", None, path).await;
        if let Some(status) = status {
            assert_eq!(s.status, status, "{}", s.what);
        }
    }
    let req = p.req(Method::PUT, "/me", Some(&k1));
    let s = p.call("wrong method", req).await;
    assert_eq!(s.status, StatusCode::METHOD_NOT_ALLOWED);

    // Stop it, and take everything it printed.
    let (stderr, stdout) = server.stop().await;
    let log = String::from_utf8_lossy(&stderr).into_owned();
    let out = String::from_utf8_lossy(&stdout).into_owned();

    // The log is the full one: every request left a line in it.
    assert!(log.contains("DEBUG") || log.contains("TRACE"), "{log}");
    for s in &p.seen {
        let id = s
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{}: no X-Request-Id", s.what));
        assert!(log.contains(id), "{}: request {id} not in the log", s.what);
    }
    assert!(
        log.contains("orgd::cli: stopped"),
        "the log was not read to the end"
    );

    // Headers every response carries; the creating responses' own.
    for s in &p.seen {
        assert_eq!(
            s.header("x-content-type-options"),
            Some("nosniff"),
            "{}",
            s.what
        );
    }
    for secret in &secrets {
        let Some(at) = secret.created_by else {
            continue;
        };
        let s = &p.seen[at];
        assert_eq!(s.header("cache-control"), Some("no-store"), "{}", s.what);
        let body = String::from_utf8_lossy(&s.body);
        assert_eq!(body.matches(secret.value.as_str()).count(), 1, "{body}");
        let digest = orgd_core::api_keys::digest(&secret.value);
        assert!(!body.contains(&digest), "{}: shows a digest", s.what);
    }

    // No secret anywhere else: responses, log, stdout.
    for secret in &secrets {
        let forms = secret.leak_forms(true);
        for (i, s) in p.seen.iter().enumerate() {
            if Some(i) == secret.created_by {
                // Its creating response shows the secret once (above), which
                // the search must see, and nowhere else: not in a header.
                let text = String::from_utf8_lossy(&s.bytes()).into_owned();
                assert_eq!(find_leak(&text, &forms), Some(secret.value.as_str()));
                let mut headers_only = s.clone();
                headers_only.body.clear();
                let text = String::from_utf8_lossy(&headers_only.bytes()).into_owned();
                assert_eq!(find_leak(&text, &forms), None, "{}", s.what);
                continue;
            }
            let text = String::from_utf8_lossy(&s.bytes()).into_owned();
            if let Some(leak) = find_leak(&text, &forms) {
                panic!(
                    "the secret of {} leaks ({leak:?}) in response #{i} ({}):\n{text}",
                    secret.name, s.what
                );
            }
        }
        if let Some(leak) = find_leak(&log, &forms) {
            let line = log.lines().find(|l| l.contains(leak)).unwrap_or_default();
            panic!(
                "the secret of {} leaks ({leak:?}) in the log:\n{line}",
                secret.name
            );
        }
        assert_eq!(find_leak(&out, &forms), None, "stdout: {out}");
    }

    // Nor in the database, which does hold each digest.
    let dump = dump_database(&storage).await;
    let dump = String::from_utf8_lossy(&dump).into_owned();
    for secret in &secrets {
        assert!(
            dump.contains(&orgd_core::api_keys::digest(&secret.value)),
            "the dump lacks the digest of {}: it missed the keys table",
            secret.name
        );
        if let Some(leak) = find_leak(&dump, &secret.leak_forms(false)) {
            let at = dump.find(leak).unwrap();
            let around = dump
                .get(at.saturating_sub(200)..(at + 200).min(dump.len()))
                .unwrap_or(leak);
            panic!(
                "the secret of {} is in the database ({leak:?}): …{around}…",
                secret.name
            );
        }
    }

    let _ = writeln_stderr(&format!(
        "secrets: {} secrets checked over {} responses ({} bytes), {} log bytes, \
         {} stdout bytes, {} database bytes",
        secrets.len(),
        p.seen.len(),
        p.seen.iter().map(|s| s.bytes().len()).sum::<usize>(),
        stderr.len(),
        stdout.len(),
        dump.len(),
    ));
}

/// Straight to stderr: libtest would swallow `eprintln!` of a passing test.
fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr(), "{line}")
}
