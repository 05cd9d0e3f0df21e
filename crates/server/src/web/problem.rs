//! RFC 9457 problem responses. Every error orgd sends is one of [`Kind`], with
//! its status, stable `type` URI and snake_case `code` kept in one table.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgd_core::error::ConflictKind;
use orgd_core::{Error, FieldError};
use serde::Serialize;

use super::etag::etag;
use super::request_id;

/// The problem kinds, one line each: the name, the HTTP status, the `type`
/// slug and the title (the `code` is the slug with underscores). A line
/// ending in `ConflictKind` is a conflict the domain names the same way
/// (`orgd_core::error::ConflictKind`): a conflict kind without its line
/// here does not compile.
macro_rules! problem_kinds {
    ($($kind:ident => $status:ident, $slug:literal, $title:literal $(, $conflict:ident)?;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $($kind,)+
        }

        impl Kind {
            /// Every kind, for the tests.
            #[cfg(test)]
            pub const ALL: &[Kind] = &[$(Kind::$kind,)+];

            /// `(status, type slug, title)`.
            fn info(self) -> (StatusCode, &'static str, &'static str) {
                match self {
                    $(Kind::$kind => (StatusCode::$status, $slug, $title),)+
                }
            }

            /// The kind of a conflict the domain reports.
            fn of_conflict(c: ConflictKind) -> Self {
                match c {
                    $($($conflict::$kind => Kind::$kind,)?)+
                }
            }
        }
    };
}

problem_kinds! {
    BadRequest => BAD_REQUEST, "bad-request", "The request could not be read";
    Validation => BAD_REQUEST, "validation-failed", "The request has invalid fields";
    Unauthorized => UNAUTHORIZED, "unauthorized", "A valid API key is required";
    Forbidden => FORBIDDEN, "forbidden", "This API key may not do this";
    NotFound => NOT_FOUND, "not-found", "Not found";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed";
    HasChildren => CONFLICT, "has-children", "The organization has child organizations", ConflictKind;
    DuplicateId => CONFLICT, "duplicate-id", "The id is already taken", ConflictKind;
    DuplicateName => CONFLICT, "duplicate-name", "The name is already taken", ConflictKind;
    TooManyTags => CONFLICT, "too-many-tags", "The organization has too many tags", ConflictKind;
    MoveCycle => CONFLICT, "move-cycle", "The move would create a cycle", ConflictKind;
    DepthExceeded => CONFLICT, "depth-exceeded", "The tree would be too deep", ConflictKind;
    LimitExceeded => CONFLICT, "limit-exceeded", "The organization holds its limit already";
    IdempotencyReuse => CONFLICT, "idempotency-key-reuse", "Idempotency-Key reused with another request", ConflictKind;
    IdempotencyInProgress => CONFLICT, "idempotency-key-in-progress", "A request with this Idempotency-Key is in progress", ConflictKind;
    AuditChainInvalid => CONFLICT, "audit-chain-invalid", "The audit trail does not verify", ConflictKind;
    PreconditionFailed => PRECONDITION_FAILED, "precondition-failed", "The resource has changed";
    RateLimited => TOO_MANY_REQUESTS, "rate-limited", "This API key has made too many requests";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload-too-large", "The request body is too large";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "The request body must be JSON";
    Unavailable => SERVICE_UNAVAILABLE, "unavailable", "The service is temporarily unavailable";
    Timeout => SERVICE_UNAVAILABLE, "timeout", "The request took too long";
    Internal => INTERNAL_SERVER_ERROR, "internal", "Internal server error";
}

impl Kind {
    pub fn status(self) -> StatusCode {
        self.info().0
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// Stable URI of the kind of problem, e.g. `/problems/not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The same kind as `type`, in snake_case.
    pub code: String,
    pub request_id: Option<String>,
    /// Present on validation failures: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorBody>)]
    pub errors: Vec<FieldError>,
    /// On `limit-exceeded`: what is limited (`applications`, `children`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// On `limit-exceeded`: the effective limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// On `limit-exceeded`: how many the org holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// On `limit-exceeded`: the org whose config sets the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The members a `limit-exceeded` problem adds.
#[derive(Debug, Clone)]
pub struct LimitDetail {
    pub resource: &'static str,
    pub limit: i64,
    pub used: i64,
    pub source: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct Problem {
    pub kind: Kind,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub limit: Option<LimitDetail>,
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            limit: None,
        }
    }

    pub fn body(&self) -> ProblemBody {
        let (status, slug, title) = self.kind.info();
        ProblemBody {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: slug.replace('-', "_"),
            request_id: request_id::current(),
            errors: self.errors.clone(),
            resource: self.limit.as_ref().map(|l| l.resource.to_owned()),
            limit: self.limit.as_ref().map(|l| l.limit),
            used: self.limit.as_ref().map(|l| l.used),
            source: self.limit.as_ref().map(|l| l.source.clone()),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        // axum's `Json` answers a body that cannot be serialized with a
        // plain 500 of its own: loud, never an empty problem.
        let mut res = (status, axum::Json(self.body())).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self.kind {
            Kind::Unauthorized => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Kind::Unavailable | Kind::Timeout | Kind::IdempotencyInProgress => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res
    }
}

/// An error on its way out: from the domain, or from the HTTP layer itself
/// (unreadable JSON, a wrong content type…).
#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    Http(Problem),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

impl Problem {
    /// A 400 naming every bad field.
    fn invalid(errors: Vec<orgd_core::FieldError>) -> Self {
        Self {
            kind: Kind::Validation,
            detail: errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            errors,
            limit: None,
        }
    }

    /// A 409 naming the limit that refused the change, and where it was set.
    fn over_limit(limit: LimitDetail) -> Self {
        Self {
            kind: Kind::LimitExceeded,
            detail: format!(
                "the organization holds {} {} and its limit is {} (set on '{}')",
                limit.used, limit.resource, limit.limit, limit.source
            ),
            errors: Vec::new(),
            limit: Some(limit),
        }
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::Http(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = match self {
            ApiError::Http(p) => return p.into_response(),
            ApiError::Domain(e) => e,
        };
        let problem = match e {
            Error::Unauthenticated { .. } => Problem::new(
                Kind::Unauthorized,
                "missing, malformed, unknown, expired or revoked API key",
            ),
            Error::NotFound(what) => Problem::new(Kind::NotFound, format!("{what} not found")),
            Error::Forbidden(why) => Problem::new(Kind::Forbidden, why),
            Error::Validation(errors) => Problem::invalid(errors),
            Error::LimitExceeded {
                resource,
                limit,
                used,
                set_by,
            } => Problem::over_limit(LimitDetail {
                resource,
                limit,
                used,
                source: set_by,
            }),
            Error::Conflict { kind, detail } => Problem::new(Kind::of_conflict(kind), detail),
            Error::PreconditionFailed { current } => {
                // The current ETag comes along, so the client can re-read
                // or retry against it.
                let mut res = Problem::new(
                    Kind::PreconditionFailed,
                    format!(
                        "the resource has changed since the ETag given in If-Match; it is now \"{current}\""
                    ),
                )
                .into_response();
                res.headers_mut().insert(header::ETAG, etag(current));
                return res;
            }
            Error::Unavailable(why) => {
                tracing::warn!(cause = %why, "database unavailable");
                Problem::new(
                    Kind::Unavailable,
                    "the database is unavailable; retry shortly",
                )
            }
            Error::Internal(why) => {
                tracing::error!(cause = %why, "internal error");
                Problem::new(
                    Kind::Internal,
                    "an internal error occurred; it has been logged",
                )
            }
        };
        problem.into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_kind_has_a_distinct_type() {
        let slugs: HashSet<_> = Kind::ALL.iter().map(|k| k.info().1).collect();
        assert_eq!(slugs.len(), Kind::ALL.len());
    }
}
