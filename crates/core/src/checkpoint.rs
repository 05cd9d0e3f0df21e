//! Signed checkpoints of the audit trail (SPEC §12): what orgd signs, and
//! with what.
//!
//! A checkpoint is the root of an RFC 9162 Merkle tree ([`crate::merkle`])
//! over every org's chain head, one leaf per org ordered by org id, each
//! leaf's data the canonical JSON `{"hash","org_id","seq"}`. Its signed form
//! is the canonical JSON of `{"created_at","id","prev_id","root_hash",
//! "tree_size"}`, signed with Ed25519; `prev_id` chains every checkpoint to
//! the one before, so a checkpoint cannot be dropped from the middle unseen.
//! Anyone holding the public key checks a signature with no server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::Signer;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::canonical_json;
use crate::merkle::{Hash, leaf_hash};

pub const ALGORITHM: &str = "Ed25519";

/// The data of an org's leaf: its chain head.
pub fn leaf_data(org_id: &str, seq: i64, hash: &str) -> String {
    canonical_json(&json!({"org_id": org_id, "seq": seq, "hash": hash}))
}

/// The hash of an org's leaf.
pub fn head_leaf(org_id: &str, seq: i64, hash: &str) -> Hash {
    leaf_hash(leaf_data(org_id, seq, hash).as_bytes())
}

/// A checkpoint as stored and served.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub id: String,
    #[serde(with = "crate::time::serde_ts")]
    pub created_at: DateTime<Utc>,
    /// Leaves: orgs with at least one audit event.
    pub tree_size: i64,
    /// Hex.
    pub root_hash: String,
    /// The checkpoint before this one; `null` for the first.
    pub prev_id: Option<String>,
    /// The key that signed it (see `GET /audit/keys`).
    pub kid: String,
    /// Ed25519 over [`Checkpoint::signed_bytes`], base64url without padding.
    pub signature: String,
}

impl Checkpoint {
    /// What is signed: the canonical JSON of the checkpoint's own fields.
    pub fn signed_bytes(&self) -> Vec<u8> {
        canonical_json(&json!({
            "id": self.id,
            "created_at": crate::time::format(self.created_at),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "prev_id": self.prev_id,
        }))
        .into_bytes()
    }

    /// Whether `key` signed exactly this checkpoint.
    pub fn verify(&self, key: &PublicKey) -> bool {
        self.kid == key.kid && key.verify(&self.signed_bytes(), &self.signature)
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn checkpoint(key: &SigningKey) -> Checkpoint {
        let mut c = Checkpoint {
            id: "ckp_1".into(),
            created_at: DateTime::<Utc>::default(),
            tree_size: 2,
            root_hash: "ab".repeat(32),
            prev_id: None,
            kid: key.public.kid.clone(),
            signature: String::new(),
        };
        c.signature = key.sign(&c.signed_bytes());
        c
    }

    /// RFC 8032 §7.1, test 1: the empty message under its first key.
    #[test]
    fn signatures_are_rfc_8032_ed25519() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            hex::encode(URL_SAFE_NO_PAD.decode(key.public.encoded()).unwrap()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(URL_SAFE_NO_PAD.decode(key.sign(b"")).unwrap()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn a_checkpoint_verifies_under_its_key_only_and_unchanged() {
        let key = SigningKey::generate();
        let c = checkpoint(&key);
        let public = PublicKey::parse(&key.public.encoded()).unwrap();
        assert!(c.verify(&public));
        assert!(!c.verify(&SigningKey::generate().public));
        for edit in [
            |c: &mut Checkpoint| c.tree_size += 1,
            |c: &mut Checkpoint| c.root_hash = "cd".repeat(32),
            |c: &mut Checkpoint| c.prev_id = Some("ckp_0".into()),
            |c: &mut Checkpoint| c.id = "ckp_2".into(),
            |c: &mut Checkpoint| c.created_at += chrono::Duration::seconds(1),
        ] {
            let mut edited = c.clone();
            edit(&mut edited);
            assert!(!edited.verify(&public), "{edited:?}");
        }
    }

    #[test]
    fn signed_bytes_are_canonical_json() {
        let key = SigningKey::from_seed(&[7; 32]);
        let c = checkpoint(&key);
        assert_eq!(
            String::from_utf8(c.signed_bytes()).unwrap(),
            format!(
                "{{\"created_at\":\"1970-01-01T00:00:00.000Z\",\"id\":\"ckp_1\",\
                 \"prev_id\":null,\"root_hash\":\"{}\",\"tree_size\":2}}",
                "ab".repeat(32)
            )
        );
        assert_eq!(
            leaf_data("acme", 3, "ff"),
            r#"{"hash":"ff","org_id":"acme","seq":3}"#
        );
    }

    #[test]
    fn keys_parse_from_their_served_form_and_nothing_else() {
        let key = SigningKey::generate();
        let encoded = key.public.encoded();
        assert_eq!(PublicKey::parse(&encoded), Some(key.public.clone()));
        assert_eq!(
            PublicKey::parse(&format!("{encoded}=")),
            Some(key.public.clone())
        );
        assert_eq!(PublicKey::parse("not a key"), None);
        assert_eq!(PublicKey::parse(&URL_SAFE_NO_PAD.encode([1; 31])), None);
        assert!(!key.public.verify(b"x", "!!"));
        assert!(!format!("{key:?}").contains(&hex::encode(key.seed())));
    }
}
