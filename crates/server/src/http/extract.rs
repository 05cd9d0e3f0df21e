//! Extractors whose every rejection is a problem response.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use orgd_core::FieldError;
use serde::de::DeserializeOwned;

use crate::web::caller::Caller;
use crate::web::envelope::BODY_LIMIT;
use crate::web::problem::{ApiError, Kind, Problem};

/// A JSON body. Refuses other content types (415), bodies over the limit
/// (413), unreadable JSON (400) and, unlike a plain `serde` decode, names every
/// unknown field in one 400, so a typo never passes silently.
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                Kind::UnsupportedMediaType,
                "send the body as JSON, with Content-Type: application/json",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    Kind::PayloadTooLarge,
                    format!("the body may be at most {BODY_LIMIT} bytes"),
                )
            } else {
                Problem::new(Kind::BadRequest, "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decodes `bytes`, collecting every field the target type does not know.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::new(Kind::BadRequest, "a JSON body is required").into());
    }
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_ignored::deserialize(&mut de, |path| {
        // serde_ignored writes `?` for a pass through an `Option`; clients never see one.
        let path = path.to_string();
        unknown.push(
            path.split('.')
                .filter(|s| *s != "?")
                .collect::<Vec<_>>()
                .join("."),
        );
    });
    let unknown_fields = |unknown: Vec<String>| {
        unknown
            .into_iter()
            .map(|f| FieldError::new(f, "unknown field"))
            .collect::<Vec<_>>()
    };
    match value.and_then(|v| de.end().map(|()| v)) {
        Ok(_) if !unknown.is_empty() => Err(ApiError::Domain(orgd_core::Error::Validation(
            unknown_fields(unknown),
        ))),
        Ok(v) => Ok(v),
        // A typo of a required field (`{"nmae": …}`) fails as a missing
        // field; the unknown field seen on the way is the cause, so it is
        // named first.
        Err(e) if e.is_data() => {
            let mut errors = unknown_fields(unknown);
            errors.push(FieldError::new("body", e.to_string()));
            Err(ApiError::Domain(orgd_core::Error::Validation(errors)))
        }
        Err(e) => Err(Problem::new(Kind::BadRequest, format!("invalid JSON body: {e}")).into()),
    }
}

/// For a body field that may be `null` (`#[serde(default, deserialize_with
/// = "present")]` on an `Option<Option<T>>`): `Some(None)` when it is
/// `null`, `None` when it is left out, which serde alone does not tell apart.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Query parameters; an unreadable query string is a 400 problem. A
/// parameter given empty (`?limit=`) is a value like any other: a typed
/// parameter refuses it, a text filter matches nothing by it.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q).map(AppQuery).map_err(|e| {
            Problem::new(Kind::BadRequest, format!("invalid query string: {e}")).into()
        })
    }
}

/// A handler's caller, put in place (as an `Arc<Caller>`) by the guard
/// (`guard.rs`) on every route that requires a key; a route without the
/// guard is a bug, answered 500.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Arc<Caller>>()
            .map(|c| Caller::clone(c))
            .ok_or_else(|| {
                orgd_core::Error::Internal("route is missing the authentication layer".into())
                    .into()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        a: i64,
    }

    fn unknown_fields(json: &str) -> Vec<String> {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Domain(orgd_core::Error::Validation(errs))) => {
                errs.into_iter().map(|e| e.field).collect()
            }
            _ => vec![],
        }
    }

    #[test]
    fn every_unknown_field_is_named() {
        assert_eq!(
            unknown_fields(r#"{"name": "x", "nmae": 1, "inner": {"a": 1, "b": 2}, "zz": null}"#),
            vec!["nmae", "inner.b", "zz"]
        );
    }

    #[test]
    fn a_misspelt_required_field_is_named_before_the_missing_one() {
        let errs = match parse_json::<Body>(br#"{"nmae": "x"}"#) {
            Err(ApiError::Domain(orgd_core::Error::Validation(errs))) => errs,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(errs[0].field, "nmae");
        assert!(errs[1].message.contains("missing field `name`"), "{errs:?}");
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        for bad in ["{", "", "[1,", "{\"name\": \"x\"} trailing", "\u{0}"] {
            assert!(parse_json::<Body>(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_json::<Body>(&[b'{', 0xff, 0xfe, b'}']).is_err());
    }
}
