//! The audit signing keys: as served, as stored, as read from
//! `--audit-signing-key-file`, and the Ed25519 halves that sign and check.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};

/// The signature algorithm of every audit signing key.
pub const ALGORITHM: &str = "Ed25519";

/// An audit signing key as `GET /audit/keys` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditKey {
    pub kid: String,
    /// Always `Ed25519`.
    pub alg: String,
    /// The 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
    #[serde(with = "crate::time::serde_ts")]
    pub created_at: DateTime<Utc>,
    /// When a newer key took over; checkpoints it signed before stay valid.
    #[serde(with = "crate::time::serde_ts::option")]
    pub retired_at: Option<DateTime<Utc>>,
}

/// An audit signing key as stored. The private half (`seed`) is stored
/// when orgd made the key; a key read from `--audit-signing-key-file` is
/// stored without it, and signs only while a server holds the file.
#[derive(Clone, PartialEq)]
pub struct AuditKeyRecord {
    pub kid: String,
    pub public_key: String,
    /// The 32-byte seed, base64url without padding.
    pub seed: Option<String>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for AuditKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeyRecord")
            .field("kid", &self.kid)
            .field("has_seed", &self.seed.is_some())
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl AuditKeyRecord {
    /// The record of `key`, with its seed when it is to be kept in the
    /// database.
    pub fn of(key: &SigningKey, keep_seed: bool, at: DateTime<Utc>) -> Self {
        Self {
            kid: key.public.kid.clone(),
            public_key: key.public.encoded(),
            seed: keep_seed.then(|| URL_SAFE_NO_PAD.encode(key.seed())),
            created_at: at,
            retired_at: None,
        }
    }

    pub fn view(&self) -> AuditKey {
        AuditKey {
            kid: self.kid.clone(),
            alg: ALGORITHM.to_owned(),
            public_key: self.public_key.clone(),
            created_at: self.created_at,
            retired_at: self.retired_at,
        }
    }

    /// The signing key, when its seed is stored (and well formed).
    pub fn signing_key(&self) -> Option<SigningKey> {
        let raw = URL_SAFE_NO_PAD.decode(self.seed.as_deref()?).ok()?;
        let seed: [u8; 32] = raw.try_into().ok()?;
        let key = SigningKey::from_seed(&seed);
        (key.public.kid == self.kid).then_some(key)
    }

    pub fn public(&self) -> Option<PublicKey> {
        PublicKey::parse(&self.public_key).filter(|k| k.kid == self.kid)
    }
}

/// The key-file forms `--audit-signing-key-file` accepts: the 32-byte seed
/// raw, or as hex or base64 (standard or url-safe, padded or not) text.
pub fn parse_seed_file(bytes: &[u8]) -> Option<[u8; 32]> {
    if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
        return Some(raw);
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let decoded = hex::decode(text)
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text.trim_end_matches('='))
                .ok()
        })?;
    decoded.try_into().ok()
}

/// An audit signing key with its private half: never served, never logged.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    pub public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        let seed: [u8; 32] = rand::random();
        Self::from_seed(&seed)
    }

    /// From the 32-byte Ed25519 seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey::from_verifying(key.verifying_key());
        Self { key, public }
    }

    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The signature of `bytes`, base64url without padding.
    pub fn sign(&self, bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(bytes).to_bytes())
    }
}

/// The public half of an audit signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    /// The first 16 hex digits of the SHA-256 of the key's 32 bytes: the
    /// same key has the same id wherever it is read.
    pub kid: String,
}

impl PublicKey {
    fn from_verifying(key: ed25519_dalek::VerifyingKey) -> Self {
        let kid = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
        Self { key, kid }
    }

    /// From its base64url form (padded or not), as `GET /audit/keys` gives it.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .ok()
            .map(Self::from_verifying)
    }

    /// Base64url without padding.
    pub fn encoded(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.as_bytes())
    }

    /// Whether `signature` (base64url) is this key's over `bytes`. Strict
    /// verification: no malleable or small-order forms are accepted.
    pub fn verify(&self, bytes: &[u8], signature: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')) else {
            return false;
        };
        let Ok(raw) = <[u8; 64]>::try_from(raw.as_slice()) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&raw);
        self.key.verify_strict(bytes, &signature).is_ok()
    }
}
