//! Assertions on responses and bodies.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts an RFC 9457 problem body with the given status, and returns it.
pub async fn problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "status of {}", res.url());
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(body["request_id"].is_string());
    body
}

/// Asserts the response's status and returns its JSON body.
pub async fn json_body(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "status of {}", res.url());
    res.json().await.unwrap()
}

/// Asserts that `actual` has every field of `expected`, with the same value
/// (it may have others too).
pub fn assert_fields(actual: &Value, expected: Value) {
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&actual[field], value, "{field} of {actual}");
    }
}

/// The `field` of each entry of a problem's `errors`, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    strs(problem["errors"].as_array().unwrap(), "field")
}

/// The string `field` of each row, in order.
pub fn strs<'a>(rows: &'a [Value], field: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[field].as_str().unwrap()).collect()
}
