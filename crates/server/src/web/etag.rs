//! A versioned resource's version as a strong ETag, and the conditional
//! headers that name one: `If-Match` for a change, `If-None-Match` for a
//! read. Shared by the API's handlers and the problem a version conflict
//! answers (`problem.rs`, which says the current ETag).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgd_core::service::IfMatch;
use serde::Serialize;

/// A strong ETag for a versioned resource.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Reads `If-Match`: `*`, or one ETag this server issued (`"N"`, or weak `W/"N"`).
pub fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let v = headers.get(header::IF_MATCH)?;
    let s = v.to_str().unwrap_or("").trim();
    Some(if s == "*" {
        IfMatch::Any
    } else {
        parse_etag(s).map_or(IfMatch::Never, IfMatch::Version)
    })
}

fn parse_etag(s: &str) -> Option<i64> {
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// True when `If-None-Match` names the current version (or is `*`).
pub fn none_match(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| {
            s.split(',')
                .any(|t| t.trim() == "*" || parse_etag(t.trim()) == Some(version))
        })
}

/// A versioned resource with its ETag, or 304 when the client has it already.
pub fn versioned<T: Serialize>(headers: &HeaderMap, version: i64, body: &T) -> Response {
    if none_match(headers, version) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag(version))]).into_response();
    }
    ([(header::ETAG, etag(version))], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_parse_strong_and_weak() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("3"), None);
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(if_match(&h), Some(IfMatch::Never));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"1\", \"2\""),
        );
        assert!(none_match(&h, 2));
        assert!(!none_match(&h, 3));
    }
}
