//! The access log: who touched an org, through the API or as reported by the
//! platform (`source: external`, e.g. its sign-in events).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SUCCESS" => Some(Self::Success),
            "FAILURE" => Some(Self::Failure),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Api,
    External,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(Self::Api),
            "external" => Some(Self::External),
            _ => None,
        }
    }
}

/// One access log entry, in the seed's shape (`timestamp`, `user`, `action`,
/// `status`) plus what orgd knows of the request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    pub id: String,
    #[serde(with = "crate::time::serde_ts")]
    pub timestamp: DateTime<Utc>,
    pub org_id: String,
    #[cfg_attr(feature = "openapi", schema(example = "john.doe@example.com"))]
    pub user: Option<String>,
    pub key_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "LOGIN"))]
    pub action: String,
    pub status: Outcome,
    pub http_status: Option<u16>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub latency_ms: Option<i64>,
    pub source: Source,
    /// Free-form details of an external event.
    pub details: Option<Value>,
}

/// An entry to store, its text borrowed. The traffic writer lends what the
/// requests left behind instead of copying it into an [`AccessEntry`] each:
/// building those (ten strings an entry, made and then freed) was most of
/// the writer's work. An owned entry lends itself ([`AccessEntry::to_ref`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccessEntryRef<'a> {
    pub id: &'a str,
    pub timestamp: DateTime<Utc>,
    pub org_id: &'a str,
    pub user: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub action: &'a str,
    pub status: Outcome,
    pub http_status: Option<u16>,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub latency_ms: Option<i64>,
    pub source: Source,
    pub details: Option<&'a Value>,
}

impl AccessEntry {
    pub fn to_ref(&self) -> AccessEntryRef<'_> {
        AccessEntryRef {
            id: &self.id,
            timestamp: self.timestamp,
            org_id: &self.org_id,
            user: self.user.as_deref(),
            key_id: self.key_id.as_deref(),
            action: &self.action,
            status: self.status,
            http_status: self.http_status,
            method: self.method.as_deref(),
            path: self.path.as_deref(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            latency_ms: self.latency_ms,
            source: self.source,
            details: self.details.as_ref(),
        }
    }
}

/// Filters of `GET …/access_log`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessFilter {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub user: Option<String>,
    pub action: Option<String>,
    pub status: Option<Outcome>,
}

/// Most external events accepted in one call.
pub const MAX_EXTERNAL_BATCH: usize = 1000;
/// The longest `user`, `ip` or `user_agent` of an external event, in characters.
pub const MAX_TEXT: usize = 512;
/// The longest `action` of an external event, in characters.
pub const MAX_ACTION_CHARS: usize = 64;
const MAX_DETAILS_BYTES: usize = 4096;

/// An external event as the platform posts it (the seed's own shape).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExternalEvent {
    /// RFC 3339; default: when orgd receives it.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::schema::Timestamp>, example = "2023-11-01T12:00:00Z")
    )]
    pub timestamp: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::schema::EventText>, example = "john.doe@example.com")
    )]
    pub user: Option<String>,
    /// 1–64 characters, no control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::schema::EventAction, example = "LOGIN")
    )]
    pub action: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Outcome, example = "SUCCESS"))]
    pub status: String,
    /// At most 512 characters, no control characters.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::EventText>))]
    pub ip: Option<String>,
    /// At most 512 characters, no control characters.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::EventText>))]
    pub user_agent: Option<String>,
    /// Any JSON, at most 4 KiB serialized.
    pub details: Option<Value>,
}

/// Validates external events into entries of `org_id`; every bad field of
/// every event is reported (`[i].field`).
pub fn parse_external(
    org_id: &str,
    events: Vec<ExternalEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<AccessEntry>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if events.is_empty() || events.len() > MAX_EXTERNAL_BATCH {
        errors.push(FieldError::new(
            "body",
            format!("send 1 to {MAX_EXTERNAL_BATCH} events"),
        ));
    }
    let out = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut err = |field: &str, msg: &str| {
                errors.push(FieldError::new(format!("[{i}].{field}"), msg));
            };
            parse_one(org_id, e, now, &mut err)
        })
        .collect();
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One external event as an entry; each bad field goes to `err`.
fn parse_one(
    org_id: &str,
    e: ExternalEvent,
    now: DateTime<Utc>,
    err: &mut impl FnMut(&str, &str),
) -> AccessEntry {
    let timestamp = match e.timestamp.as_deref().map(crate::time::parse) {
        None => now,
        Some(Some(t)) => t,
        Some(None) => {
            err("timestamp", "must be an RFC 3339 timestamp");
            now
        }
    };
    let status = Outcome::parse(&e.status).unwrap_or_else(|| {
        err("status", "must be SUCCESS or FAILURE");
        Outcome::Failure
    });
    if e.action.is_empty()
        || e.action.chars().count() > MAX_ACTION_CHARS
        || e.action.chars().any(char::is_control)
    {
        err(
            "action",
            "must be 1 to 64 characters, no control characters",
        );
    }
    for (field, v) in [
        ("user", &e.user),
        ("ip", &e.ip),
        ("user_agent", &e.user_agent),
    ] {
        if v.as_ref()
            .is_some_and(|s| s.chars().count() > MAX_TEXT || s.chars().any(char::is_control))
        {
            err(
                field,
                "must be at most 512 characters, no control characters",
            );
        }
    }
    if e.details
        .as_ref()
        .is_some_and(|d| d.to_string().len() > MAX_DETAILS_BYTES)
    {
        err("details", "must be at most 4 KiB serialized");
    }
    AccessEntry {
        id: crate::ids::prefixed_ulid("acc"),
        timestamp,
        org_id: org_id.to_owned(),
        user: e.user,
        key_id: None,
        action: e.action,
        status,
        http_status: None,
        method: None,
        path: None,
        ip: e.ip,
        user_agent: e.user_agent,
        request_id: None,
        latency_ms: None,
        source: Source::External,
        details: e.details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(status: &str) -> ExternalEvent {
        ExternalEvent {
            timestamp: Some("2023-11-01T12:00:00Z".into()),
            user: Some("john.doe@example.com".into()),
            action: "LOGIN".into(),
            status: status.into(),
            ip: None,
            user_agent: None,
            details: None,
        }
    }

    #[test]
    fn the_seeds_example_parses() {
        let out = parse_external("org-123", vec![ev("SUCCESS")], DateTime::<Utc>::default())
            .unwrap_or_default();
        assert_eq!(out[0].status, Outcome::Success);
        assert_eq!(
            crate::time::format(out[0].timestamp),
            "2023-11-01T12:00:00.000Z"
        );
        assert_eq!(out[0].source, Source::External);
    }

    #[test]
    fn every_bad_field_is_named_by_position() {
        let mut bad = ev("MAYBE");
        bad.timestamp = Some("noon".into());
        let errs = parse_external("o", vec![ev("SUCCESS"), bad], DateTime::<Utc>::default())
            .err()
            .unwrap_or_default();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["[1].timestamp", "[1].status"]);
        assert!(parse_external("o", vec![], DateTime::<Utc>::default()).is_err());
    }
}
