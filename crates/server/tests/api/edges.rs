//! The edges an attacker reaches first (issue 28): connections that never
//! finish a request's head, a body declared too long, a guesser keeping the
//! right key out of the console, and a long poll holding up shutdown.

use std::time::{Duration, Instant};

use reqwest::header::{LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{StatusCode, redirect};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Remote, Storage, TestApp, held_feed_read, next_after, serve};

/// Far more than any clock under test needs, far less than "never".
const CLOSED_WITHIN: Duration = Duration::from_secs(15);

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Waits until the server closes `stream` (end of file or a reset); fails
/// if it answers anything first, or if it is still open after `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(within, stream.read(&mut buf)).await;
    match read {
        Err(_) => false,
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "the server sent {:?} instead of closing",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

/// A response read off a raw connection: status, lower-cased headers, body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response with a `Content-Length` off `stream`.
async fn read_response(stream: &mut TcpStream) -> Raw {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("a Content-Length");
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-body");
        body.extend_from_slice(&buf[..n]);
    }
    Raw {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn a_connection_that_does_not_send_its_head_in_time_is_closed() {
    let app = TestApp::spawn_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let addr = addr(&app);

    // Some send nothing; some trickle header lines, each in time for the
    // one before but never ending the head; one stops half-way.
    let mut clients = Vec::new();
    for kind in ["silent", "trickle", "half"] {
        for _ in 0..4 {
            let addr = addr.clone();
            clients.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(&addr).await.unwrap();
                let (mut rd, mut wr) = stream.split();
                let attack = async {
                    if kind != "silent" {
                        let _ = wr.write_all(b"GET /healthz HTTP/1.1\r\nHost: orgd\r\n").await;
                    }
                    if kind == "trickle" {
                        loop {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            if wr.write_all(b"X-Slow: 1\r\n").await.is_err() {
                                break;
                            }
                        }
                    }
                    std::future::pending::<()>().await;
                };
                let mut buf = [0u8; 1024];
                let closed = tokio::time::timeout(CLOSED_WITHIN, async {
                    tokio::select! {
                        read = rd.read(&mut buf) => match read {
                            Ok(0) | Err(_) => {}
                            Ok(n) => panic!("{kind}: answered {:?}", String::from_utf8_lossy(&buf[..n])),
                        },
                        () = attack => {}
                    }
                })
                .await;
                assert!(closed.is_ok(), "a {kind} connection was still open");
            }));
        }
    }
    for c in clients {
        c.await.unwrap();
    }

    // Honest clients are served as ever.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_keep_alive_connection_outlives_the_head_clock_and_closes_on_its_own() {
    let app = TestApp::spawn_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.keep_alive_timeout = Duration::from_secs(5);
    })
    .await;
    let now = app.get(&app.root_key, "/orgs/root/events").await;
    let cursor = next_after(&now);
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let get = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: orgd\r\nAuthorization: Bearer {}\r\n\r\n",
            app.root_key
        )
    };

    // A long poll held past the head's clock is answered: only the head is
    // timed, not the answer.
    stream
        .write_all(get(&format!("/orgs/root/events?wait=2&after={cursor}")).as_bytes())
        .await
        .unwrap();
    let res = read_response(&mut stream).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));

    // Idle between requests for longer than a head may take, shorter than
    // the keep-alive: the next request on the same connection is served.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(get("/healthz").as_bytes()).await.unwrap();
    let res = read_response(&mut stream).await;
    assert_eq!(res.status, 200);

    // The same after a quick answer, one that may begin and end between
    // two of the connection's reads: the idle clock, not the head's, runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(get("/healthz").as_bytes()).await.unwrap();
    let res = read_response(&mut stream).await;
    assert_eq!(res.status, 200);

    // Left idle, it is closed once the keep-alive runs out.
    assert!(
        closed_by_server(&mut stream, CLOSED_WITHIN).await,
        "an idle connection was kept for ever"
    );
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_at_once() {
    let app = TestApp::spawn().await;
    for expect in ["", "Expect: 100-continue\r\n"] {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        // Declares 2 MB, sends none of it: nothing is worth waiting for.
        let head = format!(
            "POST /orgs HTTP/1.1\r\nHost: orgd\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 2000000\r\n{expect}\r\n",
            app.root_key
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Well inside the 30 s request timeout it once waited out.
        let res = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
            .await
            .expect("answered at once, not after the request timeout");
        assert_eq!(res.status, 413, "{expect}");
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        let problem: Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(problem["type"], "/problems/payload-too-large");
        assert_eq!(problem["status"], 413);
        assert!(problem["request_id"].is_string(), "{problem}");
        assert_eq!(res.header("connection"), Some("close"));
        assert!(res.header("x-request-id").is_some());
        assert!(closed_by_server(&mut stream, CLOSED_WITHIN).await);
    }

    // A body within the limit is read as ever.
    let res = app
        .post(
            &app.root_key,
            "/orgs",
            serde_json::json!({"id": "a", "name": "A"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Signs in to the console with `key` from the test's one address:
/// `(status, whether a session cookie came, where it leads)`.
async fn sign_in(app: &TestApp, key: &str) -> (StatusCode, bool, String) {
    let client = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(app.url("/console/sign-in"))
        .header(ORIGIN, &app.base)
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let cookie = res.headers().get(SET_COOKIE).is_some_and(|c| {
        c.to_str().unwrap().starts_with("orgd_console=")
            && !c.to_str().unwrap().contains("Max-Age=0")
    });
    let location = res
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cookie, location)
}

#[tokio::test]
async fn the_right_key_signs_in_from_an_address_that_guessed_wrong() {
    let app = TestApp::spawn().await;
    let wrong = "orgd_wrongwrongwrongwrongwrongwrongwrong";
    let mut refused_at = None;
    for attempt in 1..=12 {
        let (status, cookie, _) = sign_in(&app, wrong).await;
        assert!(!cookie);
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(attempt);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(refused_at, Some(12), "wrong guesses are still throttled");

    // Behind a proxy everyone shares this address: the right key still
    // signs in, as often as it is given.
    for _ in 0..2 {
        let (status, cookie, location) = sign_in(&app, &app.root_key).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(cookie, "a session");
        assert_eq!(location, "/console/tree");
    }

    // And wrong guesses stay refused, the right one notwithstanding.
    let (status, cookie, _) = sign_in(&app, wrong).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!cookie);
}

#[tokio::test]
async fn shutdown_answers_a_held_feed_read_and_exits_promptly() {
    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    let mut orgd = serve(&storage.database_url, Some(&root));
    let base = orgd.base().await;
    let remote = Remote::new(&base, &root);

    // Where the feed stands now: the held read starts there.
    let res = remote.get("/orgs/root/events").await;
    assert_eq!(res.status(), StatusCode::OK);
    let cursor = next_after(&res);

    let held = held_feed_read(&base, &root, &cursor).await;
    // Beside it, a connection idle between requests and one that has sent
    // nothing yet: neither may hold shutdown up.
    let idle = reqwest::Client::new();
    assert!(
        idle.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let silent = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();

    let pid = nix::unistd::Pid::from_raw(i32::try_from(orgd.child.id().unwrap()).unwrap());
    let asked = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();

    // Answered as when its wait runs out: an empty page, and the cursor it
    // was given to read on from.
    let (body, after) = held.await.unwrap();
    assert!(body.is_empty(), "{body:?}");
    assert_eq!(after, cursor);

    let (exit, lines) = orgd.exited().await;
    let took = asked.elapsed();
    assert!(exit.success(), "{exit:?}: {lines:?}");
    // Docker's stop grace is 10 s; the wait asked for was 30.
    assert!(
        took < Duration::from_secs(10),
        "stopping took {took:?} with a read held"
    );
    drop((idle, silent));
}
