//! Tags: named labels on an organization.

use chrono::{DateTime, Utc};

/// At most this many tags per organization.
pub const MAX_PER_ORG: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tag {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "tag_01hzy3m6f1q8k3m4v6w8y0a2c4")
    )]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(example = "confidential"))]
    pub name: String,
    #[serde(with = "crate::time::serde_ts")]
    pub created_at: DateTime<Utc>,
}

/// A tag name: 1–64 characters of `[A-Za-z0-9_.:-]`.
pub fn parse_name(raw: &str) -> Result<String, &'static str> {
    if raw.is_empty() || raw.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        return Err("may contain only letters, digits, '_', '.', ':' and '-'");
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_plain() {
        for ok in ["confidential", "env:prod", "a.b_c-d", &"x".repeat(64)] {
            assert!(parse_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "é", "a/b", &"x".repeat(65)] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }
}
