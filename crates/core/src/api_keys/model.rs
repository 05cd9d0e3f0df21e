//! API keys: permissions, secrets and their digests.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::FieldError;
use crate::error::{field, parse_optional};
use crate::ids::OrgId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Read,
    Write,
    Delete,
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 4] = [Self::Read, Self::Write, Self::Delete, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Delete => "delete",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub fn all() -> Self {
        Self::from_iter(Permission::ALL)
    }

    /// The set of `ps`, in a `const` (an operation's requirement).
    pub const fn of(ps: &[Permission]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < ps.len() {
            bits |= ps[i].bit();
            i += 1;
        }
        Self(bits)
    }

    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Those of `needed` that this set lacks.
    pub fn lacking(self, needed: Permissions) -> Permissions {
        Self(needed.0 & !self.0)
    }

    pub fn is_subset_of(self, other: Permissions) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.has(*p))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// The stored form: names joined by commas, in canonical order.
    pub fn to_csv(self) -> String {
        self.names().join(",")
    }

    /// Parses names (e.g. from a request or from the stored form). Unknown
    /// names are returned as the error.
    pub fn parse_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Vec<String>> {
        let mut set = Self::default();
        let mut unknown = Vec::new();
        for n in names {
            match Permission::parse(n) {
                Some(p) => set.0 |= p.bit(),
                None => unknown.push(n.to_owned()),
            }
        }
        if unknown.is_empty() {
            Ok(set)
        } else {
            Err(unknown)
        }
    }

    pub fn from_csv(s: &str) -> Result<Self, Vec<String>> {
        Self::parse_names(s.split(',').filter(|n| !n.is_empty()))
    }
}

impl From<Permission> for Permissions {
    fn from(p: Permission) -> Self {
        Self(p.bit())
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, p| acc | p.bit()))
    }
}

/// What the secret of every generated key starts with.
pub const SECRET_PREFIX: &str = "orgd_";
/// Random base62 characters after the prefix: 43 × log2(62) ≈ 256 bits.
const SECRET_RANDOM_CHARS: usize = 43;
/// How many leading characters of a secret are kept to recognise it.
const VISIBLE_PREFIX_CHARS: usize = 12;
/// Shortest and longest secret accepted (a bootstrap secret may be any
/// string of at least 32 characters).
pub const MIN_SECRET_LEN: usize = 32;
pub const MAX_SECRET_LEN: usize = 256;

/// Makes a new secret: `orgd_` + 43 base62 characters from the OS-seeded CSPRNG.
pub fn generate_secret() -> String {
    let random: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(SECRET_RANDOM_CHARS)
        .map(char::from)
        .collect();
    format!("{SECRET_PREFIX}{random}")
}

/// True when `s` could be a secret at all; anything else is refused before
/// any database lookup.
pub fn is_well_formed_secret(s: &str) -> bool {
    (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The stored digest of a secret: hex SHA-256. Secrets carry 256 random bits
/// (or, for an operator-chosen bootstrap secret, at least 32 characters), so a
/// fast hash is enough; a password hash would only slow every request.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn visible_prefix(secret: &str) -> String {
    secret.chars().take(VISIBLE_PREFIX_CHARS).collect()
}

/// An API key as stored. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub org_id: OrgId,
    pub name: String,
    pub user: Option<String>,
    pub permissions: Permissions,
    pub digest: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Requests a minute this key may make; `None`: the server's default.
    pub rate_limit_per_minute: Option<u32>,
}

impl KeyRecord {
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    pub fn view(&self) -> ApiKey {
        ApiKey {
            id: self.id.clone(),
            org_id: self.org_id.to_string(),
            name: self.name.clone(),
            user: self.user.clone(),
            permissions: self
                .permissions
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            prefix: self.prefix.clone(),
            rate_limit_per_minute: self.rate_limit_per_minute,
        }
    }
}

/// The largest per-key rate limit.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 1_000_000;

/// The key object the API returns: never the digest, never the secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub user: Option<String>,
    pub permissions: Vec<String>,
    #[serde(with = "crate::time::serde_ts")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::serde_ts::option")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::serde_ts::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub prefix: String,
    /// Requests a minute this key may make; `null`: the server's default.
    pub rate_limit_per_minute: Option<u32>,
}

/// A new key as the client sent it (`POST …/api_keys`, `orgd keys create`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewKey {
    pub name: String,
    pub user: Option<String>,
    pub permissions: Vec<String>,
    pub expires_at: Option<String>,
    /// Requests a minute, 1 … 1,000,000, at most the creating key's.
    pub rate_limit_per_minute: Option<i64>,
}

/// A new key whose every field is valid on its own: what `create_key` works
/// from. What depends on the creator (permissions it holds, its own rate
/// limit) is decided there.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidNewKey {
    pub name: String,
    pub user: Option<String>,
    /// At least one.
    pub permissions: Permissions,
    /// In the future.
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
}

impl ValidNewKey {
    /// Checks every field of `raw` at `now`, naming each invalid one.
    pub fn parse(raw: NewKey, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = field("name", crate::orgs::parse_name(&raw.name), &mut errors);
        let user = parse_optional(
            "user",
            raw.user.as_deref(),
            crate::orgs::parse_name,
            &mut errors,
        );
        let permissions = field(
            "permissions",
            parse_permissions(&raw.permissions),
            &mut errors,
        );
        let expires_at = parse_optional(
            "expires_at",
            raw.expires_at.as_deref(),
            |s| match crate::time::parse(s) {
                Some(t) if t > now => Ok(t),
                Some(_) => Err("must be in the future"),
                None => Err("must be an RFC 3339 timestamp"),
            },
            &mut errors,
        );
        let rate_limit_per_minute = raw.rate_limit_per_minute.and_then(|n| {
            let limit = u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(n))
                .ok_or_else(|| format!("must be an integer from 1 to {MAX_RATE_LIMIT_PER_MINUTE}"));
            field("rate_limit_per_minute", limit, &mut errors)
        });
        match (name, permissions) {
            (Some(name), Some(permissions)) if errors.is_empty() => Ok(Self {
                name,
                user,
                permissions,
                expires_at,
                rate_limit_per_minute,
            }),
            _ => Err(errors),
        }
    }
}

/// At least one permission, each of them known.
fn parse_permissions(names: &[String]) -> Result<Permissions, String> {
    match Permissions::parse_names(names.iter().map(String::as_str)) {
        Ok(p) if p.is_empty() => Err("must name at least one permission".into()),
        Ok(p) => Ok(p),
        Err(unknown) => Err(format!(
            "unknown permission(s) {}; known: read, write, delete, admin",
            unknown.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_base62() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + SECRET_RANDOM_CHARS);
        assert!(
            a[SECRET_PREFIX.len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert!(is_well_formed_secret(&a));
    }

    #[test]
    fn digest_is_hex_sha256_and_hides_the_secret() {
        let d = digest("orgd_example");
        assert_eq!(d.len(), 64);
        assert!(!d.contains("example"));
    }

    #[test]
    fn malformed_secrets_are_recognised() {
        assert!(!is_well_formed_secret("short"));
        assert!(!is_well_formed_secret(&format!("{}\n", "a".repeat(40))));
        assert!(!is_well_formed_secret(&"a".repeat(300)));
    }

    #[test]
    fn permission_sets() {
        let rw = Permissions::parse_names(["read", "write"]).unwrap_or_default();
        assert!(rw.is_subset_of(Permissions::all()));
        assert!(!Permissions::all().is_subset_of(rw));
        assert_eq!(rw.to_csv(), "read,write");
        assert_eq!(Permissions::from_csv("write,read"), Ok(rw));
        assert_eq!(
            Permissions::parse_names(["read", "sudo"]),
            Err(vec!["sudo".to_owned()])
        );
    }

    /// A fixed "now" for the parsing tests.
    fn now() -> DateTime<Utc> {
        crate::time::parse("2026-01-01T00:00:00Z").unwrap()
    }

    fn raw() -> NewKey {
        NewKey {
            name: "ci".into(),
            permissions: vec!["read".into()],
            ..NewKey::default()
        }
    }

    #[test]
    fn a_new_key_with_valid_fields_parses() {
        let now = now();
        let key = ValidNewKey::parse(
            NewKey {
                user: Some("ada@example.com".into()),
                permissions: vec!["read".into(), "admin".into()],
                expires_at: Some("2999-01-01T00:00:00Z".into()),
                rate_limit_per_minute: Some(600),
                ..raw()
            },
            now,
        )
        .unwrap();
        assert_eq!(key.name, "ci");
        assert_eq!(key.user.as_deref(), Some("ada@example.com"));
        assert!(key.permissions.has(Permission::Admin));
        assert!(key.expires_at.is_some_and(|t| t > now));
        assert_eq!(key.rate_limit_per_minute, Some(600));
    }

    #[test]
    fn every_invalid_field_of_a_new_key_is_named() {
        let now = now();
        let errors = ValidNewKey::parse(
            NewKey {
                name: String::new(),
                user: Some(String::new()),
                permissions: vec!["read".into(), "fly".into()],
                expires_at: Some("yesterday".into()),
                rate_limit_per_minute: Some(0),
            },
            now,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "user",
                "permissions",
                "expires_at",
                "rate_limit_per_minute"
            ]
        );
        assert!(errors[2].message.contains("fly"));

        let past = ValidNewKey::parse(
            NewKey {
                expires_at: Some("2000-01-01T00:00:00Z".into()),
                ..raw()
            },
            now,
        )
        .unwrap_err();
        assert_eq!(past[0].message, "must be in the future");
        let none = ValidNewKey::parse(
            NewKey {
                permissions: vec![],
                rate_limit_per_minute: Some(1_000_001),
                ..raw()
            },
            now,
        )
        .unwrap_err();
        assert_eq!(none.len(), 2);
        assert_eq!(none[0].message, "must name at least one permission");
    }
}
