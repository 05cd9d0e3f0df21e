//! Identifiers, validated at the edge.

use std::fmt;

/// An organization id: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, so seed ids like
/// `org-123` work. Server-made ids are `org_` + a lowercase ULID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let mut chars = s.chars();
        match chars.next() {
            None => return Err("must not be empty"),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err("must start with a letter or a digit");
            }
            Some(_) => {}
        }
        if s.len() > Self::MAX_LEN {
            return Err("must be at most 64 characters");
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err("may contain only letters, digits, '.', '_' and '-'");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn generate() -> Self {
        Self(prefixed_ulid("org"))
    }

    /// For values read back from a store, which only ever holds parsed ids.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes a prefixed ULID id (`key_…`, `evt_…`).
pub fn prefixed_ulid(prefix: &str) -> String {
    let mut buf = [0; ulid::ULID_LEN];
    let id = lowercase_ulid(&mut buf);
    let mut s = String::with_capacity(prefix.len() + 1 + id.len());
    s.push_str(prefix);
    s.push('_');
    s.push_str(id);
    s
}

/// A new ULID in lowercase, written into `buf`: every request makes one or
/// two, so without a `String` for the uppercase form.
pub fn lowercase_ulid(buf: &mut [u8; ulid::ULID_LEN]) -> &str {
    let id = ulid::Ulid::new().array_to_str(buf);
    id.make_ascii_lowercase();
    id
}

/// A ULID for an instant already known, in lowercase, written into `buf`:
/// the access log's writer makes one for every entry, whose timestamp it
/// has, and need not read the clock again.
pub fn lowercase_ulid_at(t: chrono::DateTime<chrono::Utc>, buf: &mut [u8; ulid::ULID_LEN]) -> &str {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    let id = ulid::Ulid::from_parts(ms, rand::random()).array_to_str(buf);
    id.make_ascii_lowercase();
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_seed_style_ids() {
        for ok in ["org-123", "root", "a", "A.b_c-d", &"x".repeat(64)] {
            assert!(OrgId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        for bad in [
            "",
            "-a",
            ".a",
            "a/b",
            "a b",
            "é",
            &"x".repeat(65),
            &"x".repeat(5000),
        ] {
            assert!(OrgId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixed_ulids_are_lowercase_and_distinct() {
        let a = prefixed_ulid("acc");
        assert_eq!(a.len(), 4 + ulid::ULID_LEN);
        assert!(a.starts_with("acc_"));
        assert_eq!(a, a.to_lowercase());
        assert!(ulid::Ulid::from_string(&a[4..]).is_ok());
        assert_ne!(a, prefixed_ulid("acc"));
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = OrgId::generate();
        let b = OrgId::generate();
        assert_ne!(a, b);
        assert!(OrgId::parse(a.as_str()).is_ok());
        assert!(a.as_str().starts_with("org_"));
        assert_eq!(a.as_str(), a.as_str().to_lowercase());
    }
}
