//! The domain's one error type. The HTTP layer maps each variant to a status and
//! a problem `type` in a single `match`.

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid input field, reported back to the client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parses an optional input field; when it is present and invalid, records
/// why under `field` and yields `None`, so every bad field can be reported at once.
pub fn parse_optional<T, E: std::fmt::Display>(
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    self::field(field, parse(raw?), errors)
}

/// A field's parsed value; when it is invalid, records why under `field` and
/// yields `None` (the rule of [`parse_optional`], for a field that is there).
pub fn field<T, E: std::fmt::Display>(
    field: &str,
    parsed: Result<T, E>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    parsed
        .map_err(|why| errors.push(FieldError::new(field, why.to_string())))
        .ok()
}

/// Parses an RFC 3339 query or body field with [`parse_optional`].
pub fn parse_optional_time(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    parse_optional(
        field,
        raw,
        |s| crate::time::parse(s).ok_or("must be an RFC 3339 timestamp"),
        errors,
    )
}

/// Why a request conflicts with the current state (HTTP 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    HasChildren,
    DuplicateId,
    /// A name that must be unique within its org (a tag's, an item's) is taken.
    DuplicateName,
    TooManyTags,
    MoveCycle,
    DepthExceeded,
    IdempotencyReuse,
    IdempotencyInProgress,
    /// The audit trail does not verify (a chain, or the signed checkpoint
    /// it is held to, was changed outside orgd), so orgd will not sign or
    /// prove anything over it.
    AuditChainInvalid,
}

/// Why a request's credentials were refused. Every reason is the same 401
/// to the client; the reason is for the operator's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header (or two of them).
    Missing,
    /// Not the shape of any secret orgd issues or accepts.
    Malformed,
    /// Well formed, but no key has this secret.
    Unknown,
    Expired,
    Revoked,
    /// The key's organization was deleted.
    OrgDeleted,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Unknown => "unknown",
            AuthFailure::Expired => "expired",
            AuthFailure::Revoked => "revoked",
            AuthFailure::OrgDeleted => "organization deleted",
        }
    }
}

/// What a store failed at, in the terms the domain needs to answer it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated (the store says which, for logs).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is too busy to answer in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database cannot hold a value the client sent (PostgreSQL refuses
    /// the NUL character in text and JSON): the request's fault, a 400.
    #[error("cannot be stored: {0}")]
    Unstorable(String),
    #[error("{0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable credentials; `key_id` names the key when one was found.
    #[error("a valid API key is required ({})", reason.as_str())]
    Unauthenticated {
        reason: AuthFailure,
        key_id: Option<String>,
    },
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    Conflict { kind: ConflictKind, detail: String },
    /// `If-Match` named another version; `current` is the version now.
    #[error("the resource has changed since the given ETag")]
    PreconditionFailed { current: i64 },
    /// Creating one more would pass the org's effective limit.
    #[error("{resource} limit of {limit} reached ({used} in use)")]
    LimitExceeded {
        /// The limit's name (`applications`, `children`, …).
        resource: &'static str,
        limit: i64,
        used: i64,
        /// The org whose config sets the limit (the problem's `source`;
        /// a field named `source` would be taken for the error's cause).
        set_by: String,
    },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected store failure. The message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn unauthenticated(reason: AuthFailure) -> Self {
        Error::Unauthenticated {
            reason,
            key_id: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(kind: ConflictKind, detail: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("resource"),
            StoreError::Conflict(what) => Error::conflict(ConflictKind::DuplicateId, what),
            StoreError::Unavailable(why) => Error::Unavailable(why),
            StoreError::Unstorable(_) => Error::invalid(
                "request",
                "text may not contain the NUL character (\\u0000)",
            ),
            StoreError::Other(why) => Error::Internal(why),
        }
    }
}
