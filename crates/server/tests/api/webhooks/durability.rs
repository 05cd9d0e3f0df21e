//! Durability: pending deliveries survive the process being killed.

use super::*;

/// Every delivery of a webhook, from the server at `remote`.
async fn remote_deliveries(remote: &Remote, hook: &str, status: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut next = Some(format!("{hook}/deliveries?limit=1000&status={status}"));
    while let Some(path) = next.take() {
        let res = remote.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        next = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = res.json().await.unwrap();
        rows.extend(page);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_deliveries_survive_sigkill_and_all_arrive_after_the_restart() {
    let storage = Storage::new().await;
    let db = storage.database_url.clone();
    let key = orgd_core::api_keys::generate_secret();
    let flags = ["--webhook-allow-private-targets"];
    let receiver = Receiver::start().await;
    // The first delivery is held unanswered, so at the kill it is leased and
    // the other 99 (of the same org) wait behind it.
    receiver.hang(true);

    let (mut child, base, _) = start_binary_with(&db, Some(&key), &flags).await;
    let remote = Remote::new(&base, &key);
    let res = remote
        .post("/orgs", json!({"id": "hot", "name": "hot"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = remote
        .post(
            "/orgs/hot/webhooks",
            json!({"url": receiver.url, "types": ["org.update"]}),
        )
        .await;
    let hook = json_body(res, StatusCode::CREATED).await;
    let hook = format!("/orgs/hot/webhooks/{}", hook["id"].as_str().unwrap());
    for n in 0..100 {
        let res = remote
            .patch("/orgs/hot", json!({"name": format!("hot {n}")}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let mut expected = Vec::new();
    let mut path = "/orgs/hot/events?types=org.update&limit=1000".to_owned();
    loop {
        let res = remote.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK);
        path = format!(
            "/orgs/hot/events?types=org.update&limit=1000&after={}",
            next_after(&res)
        );
        let page: Vec<Value> = res.json().await.unwrap();
        if page.is_empty() {
            break;
        }
        expected.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(expected.len(), 100);
    let remote_ref = &remote;
    let hook_ref = hook.as_str();
    let pending = until("100 pending deliveries", || async move {
        let rows = remote_deliveries(remote_ref, hook_ref, "pending").await;
        (rows.len() == 100).then_some(rows)
    })
    .await;
    let mut pending: Vec<String> = pending
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_owned())
        .collect();
    pending.reverse();
    assert_eq!(pending, expected);
    assert!(!receiver.received().is_empty(), "the first one was sent");

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let before_restart = receiver.received().len();
    receiver.hang(false);

    let (_child, base, _) = start_binary_with(&db, Some(&key), &flags).await;
    let remote = Remote::new(&base, &key);
    // A delivery leased at the kill waits for its 30 s lease to expire.
    let receiver_ref = &receiver;
    until_within(
        "all 100 events after the restart",
        Duration::from_secs(150),
        || async move {
            let ids: HashSet<String> = receiver_ref.ids()[before_restart..]
                .iter()
                .cloned()
                .collect();
            (ids.len() == 100).then_some(())
        },
    )
    .await;
    let after_restart: Vec<String> = receiver.ids()[before_restart..].to_vec();
    assert_eq!(after_restart, expected, "each once, in order");
    let remote_ref = &remote;
    until("100 successes logged", || async move {
        let rows = remote_deliveries(remote_ref, hook_ref, "succeeded").await;
        (rows.len() == 100).then_some(())
    })
    .await;
    assert!(
        remote_deliveries(&remote, &hook, "pending")
            .await
            .is_empty()
    );
}
