//! Held feed reads: a long poll the test knows the server is holding.

use reqwest::StatusCode;
use serde_json::Value;

/// Waits until `metrics` (a node's `/metrics`) counts `n` requests in
/// flight. A state, not a time: the minute is only a guard against hanging.
pub async fn until_held(metrics: &str, n: i64) {
    let held = async {
        loop {
            let text = reqwest::get(metrics).await.unwrap().text().await.unwrap();
            let in_flight = text
                .lines()
                .find_map(|l| l.strip_prefix("orgd_http_requests_in_flight "))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            if in_flight >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), held)
        .await
        .expect("the read was never held");
}

/// The `after` cursor of a feed answer's `Link: rel="next"`.
pub fn next_after(res: &reqwest::Response) -> String {
    let link = res.headers()["link"].to_str().unwrap();
    let url = &link[1..link.find('>').unwrap()];
    let query = url.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "after")
        .unwrap()
        .1
        .into_owned()
}

/// Starts a feed read of the root org from `after` on the server at `base`
/// that may wait 30 s, and returns once it is held: from then on, only an
/// event's wake-up (or shutdown) can answer it. Its answer is the page and
/// the cursor of its `Link: rel="next"`.
pub async fn held_feed_read(
    base: &str,
    key: &str,
    after: &str,
) -> tokio::task::JoinHandle<(Vec<Value>, String)> {
    let url = format!("{base}/orgs/root/events?wait=30&after={after}");
    let key = key.to_owned();
    let held = tokio::spawn(async move {
        let res = reqwest::Client::new()
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let next = next_after(&res);
        (res.json().await.unwrap(), next)
    });
    // It and the scrape are the requests in flight.
    until_held(&format!("{base}/metrics"), 2).await;
    held
}
