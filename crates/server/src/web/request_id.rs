//! Every request's id: the client's `X-Request-Id` when it is sane, else a
//! new one. It is echoed in the response, written in the access log and the
//! audit trail, and named in every problem body.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being served on this task, for problem bodies.
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.to_string()).ok()
}

/// [`current`] without a copy.
pub fn shared() -> Option<Arc<str>> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `work` with `id` as the current request's id.
pub fn scope<F: Future>(id: Arc<str>, work: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(id, work)
}

/// The client's id when it is sane (1–128 characters of `[A-Za-z0-9._:-]`),
/// else a new one, so logs stay clean; the request's header is set to it.
pub fn assign(headers: &mut HeaderMap) -> String {
    if let Some(id) = sane(headers) {
        return id;
    }
    let mut buf = [0; ulid::ULID_LEN];
    let id = orgd_core::ids::lowercase_ulid(&mut buf);
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, v);
    }
    id.to_owned()
}

fn sane(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_any_other_replaced() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-1.2:3_4"));
        assert_eq!(assign(&mut h), "abc-1.2:3_4");
        h.insert(REQUEST_ID, HeaderValue::from_static("no spaces"));
        let id = assign(&mut h);
        assert_eq!(id.len(), 26);
        assert_eq!(
            h.get(REQUEST_ID).and_then(|v| v.to_str().ok()),
            Some(id.as_str())
        );
        let mut empty = HeaderMap::new();
        assert_eq!(assign(&mut empty).len(), 26);
    }
}
