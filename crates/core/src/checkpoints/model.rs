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

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::canonical::canonical_json;
use crate::merkle::{Hash, MerkleTree, leaf_hash};

use super::signing_keys::{PublicKey, SigningKey};

/// The data of an org's leaf: its chain head.
pub fn leaf_data(org_id: &str, seq: i64, hash: &str) -> String {
    canonical_json(&json!({"org_id": org_id, "seq": seq, "hash": hash}))
}

/// The hash of an org's leaf.
pub fn head_leaf(org_id: &str, seq: i64, hash: &str) -> Hash {
    leaf_hash(leaf_data(org_id, seq, hash).as_bytes())
}

/// An org's chain head as a checkpoint holds it: one leaf of the tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Head {
    pub org_id: String,
    /// The `seq` of the org's newest audit event.
    pub seq: i64,
    /// That event's `hash`.
    pub hash: String,
}

impl Head {
    /// The leaf's hash in the tree: SHA-256(0x00 ‖ canonical JSON).
    pub fn leaf_hash(&self) -> Hash {
        head_leaf(&self.org_id, self.seq, &self.hash)
    }
}

/// One head of [`Heads`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadRef<'a> {
    pub org_id: &'a str,
    pub seq: i64,
    pub hash: &'a str,
}

impl HeadRef<'_> {
    pub fn leaf_hash(&self) -> Hash {
        head_leaf(self.org_id, self.seq, self.hash)
    }

    pub fn to_head(&self) -> Head {
        Head {
            org_id: self.org_id.to_owned(),
            seq: self.seq,
            hash: self.hash.to_owned(),
        }
    }
}

/// Many heads, kept by column: five allocations however many there are.
/// (As 100,000 [`Head`]s they were 200,000 small strings, and the server's
/// RSS stayed tens of MB higher after each checkpoint: the allocator kept
/// the pages they had been scattered over.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heads {
    ids: String,
    id_ends: Vec<usize>,
    seqs: Vec<i64>,
    hashes: String,
    hash_ends: Vec<usize>,
}

impl Heads {
    pub fn push(&mut self, org_id: &str, seq: i64, hash: &str) {
        self.ids.push_str(org_id);
        self.id_ends.push(self.ids.len());
        self.seqs.push(seq);
        self.hashes.push_str(hash);
        self.hash_ends.push(self.hashes.len());
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    pub fn get(&self, i: usize) -> HeadRef<'_> {
        let start = |ends: &[usize]| i.checked_sub(1).map_or(0, |j| ends[j]);
        HeadRef {
            org_id: &self.ids[start(&self.id_ends)..self.id_ends[i]],
            seq: self.seqs[i],
            hash: &self.hashes[start(&self.hash_ends)..self.hash_ends[i]],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = HeadRef<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The same heads in org id order (bytewise), the leaves' order,
    /// whatever order they were read in.
    pub fn into_sorted(self) -> Self {
        let sorted = (1..self.len()).all(|i| self.get(i - 1).org_id < self.get(i).org_id);
        if sorted {
            return self;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|a, b| self.get(*a).org_id.cmp(self.get(*b).org_id));
        let mut out = Heads::default();
        for i in order {
            let h = self.get(i);
            out.push(h.org_id, h.seq, h.hash);
        }
        out
    }
}

impl FromIterator<Head> for Heads {
    fn from_iter<I: IntoIterator<Item = Head>>(iter: I) -> Self {
        let mut out = Heads::default();
        for h in iter {
            out.push(&h.org_id, h.seq, &h.hash);
        }
        out
    }
}

/// A checkpoint's tree as orgd keeps it in memory: the orgs in leaf order,
/// each one's `seq`, and the tree itself (every level, so proofs cost no
/// hashing). The leaves' data is not kept, and the org ids are packed end
/// to end in one string: at 100,000 orgs this is some 9 MB in four
/// allocations. (Kept as 100,000 small strings, they were scattered among
/// the checkpoint's short-lived allocations and pinned their pages: the
/// server's RSS stayed 40 MB higher after its first checkpoint.)
#[derive(Debug)]
pub struct LeafSet {
    ids: String,
    /// Where each org id ends in `ids`.
    ends: Vec<usize>,
    seqs: Vec<i64>,
    tree: MerkleTree,
}

/// How the heads of now compare with a checkpoint's leaves.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeadChanges {
    /// Heads that are new or moved on since the checkpoint, in org order:
    /// what the next checkpoint stores of itself.
    pub changed: Heads,
    /// The heads that moved on, as `(org, seq, leaf hash)` at the
    /// checkpoint: each chain must still hold that event, unchanged.
    pub moved: Vec<(String, i64, Hash)>,
    /// Orgs whose head is gone, went back, or has another hash at the same
    /// `seq`: a history no signed checkpoint may extend.
    pub broken: Vec<String>,
}

impl LeafSet {
    /// The tree over `heads`, which must be in org order (bytewise).
    pub fn new(heads: &Heads) -> Self {
        Self {
            ids: heads.ids.clone(),
            ends: heads.id_ends.clone(),
            seqs: heads.seqs.clone(),
            tree: MerkleTree::new(heads.iter().map(|h| h.leaf_hash()).collect()),
        }
    }

    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    pub fn size(&self) -> usize {
        self.tree.size()
    }

    /// The org id of leaf `index`.
    fn org(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        &self.ids[start..self.ends[index]]
    }

    /// The org's leaf index, if the tree has a leaf for it.
    pub fn index_of(&self, org_id: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.ends.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.org(mid).cmp(org_id) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    pub fn leaf(&self, index: usize) -> Option<&Hash> {
        self.tree.leaf(index)
    }

    pub fn inclusion_path(&self, index: usize) -> Option<Vec<Hash>> {
        self.tree.inclusion_path(index)
    }

    /// Compares `heads` (in org order) with these leaves. A checkpointed
    /// org never leaves the tree, and its head only moves forward.
    pub fn compare(&self, heads: &Heads) -> HeadChanges {
        let mut out = HeadChanges::default();
        let count = self.ends.len();
        let mut i = 0;
        for head in heads.iter() {
            while i < count && self.org(i) < head.org_id {
                out.broken.push(self.org(i).to_owned());
                i += 1;
            }
            if i == count || self.org(i) != head.org_id {
                out.changed.push(head.org_id, head.seq, head.hash);
                continue;
            }
            let old = *self.tree.leaf(i).unwrap_or(&[0; 32]);
            if head.leaf_hash() != old {
                if head.seq > self.seqs[i] {
                    out.moved.push((head.org_id.to_owned(), self.seqs[i], old));
                    out.changed.push(head.org_id, head.seq, head.hash);
                } else {
                    out.broken.push(head.org_id.to_owned());
                }
            }
            i += 1;
        }
        out.broken
            .extend((i..count).map(|j| self.org(j).to_owned()));
        out
    }
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

/// An inclusion proof: an org's leaf in a signed checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    pub checkpoint: Checkpoint,
    /// The org's head as the checkpoint holds it; the leaf's data is its
    /// canonical JSON.
    pub leaf: Head,
    /// The leaf's position, from 0, in org id order.
    pub leaf_index: i64,
    pub tree_size: i64,
    /// The audit path (RFC 9162 §2.1.3.1), hex: the sibling hashes from the
    /// leaf up to the root.
    pub path: Vec<String>,
}

/// What is wrong with an inclusion proof under `key`; empty when it proves
/// its leaf is in a checkpoint `key` signed.
pub fn check_proof(proof: &InclusionProof, key: &PublicKey) -> Vec<String> {
    let mut failures = Vec::new();
    let c = &proof.checkpoint;
    if c.kid != key.kid {
        failures.push(format!(
            "the checkpoint is signed by key {}, not by the key given ({})",
            c.kid, key.kid
        ));
    } else if !c.verify(key) {
        failures.push("the checkpoint's signature does not verify".into());
    }
    if proof.tree_size != c.tree_size {
        failures.push("the proof's tree_size is not the checkpoint's".into());
    }
    let path: Option<Vec<Hash>> = proof
        .path
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect();
    let root: Option<Hash> = hex::decode(&c.root_hash)
        .ok()
        .and_then(|b| b.try_into().ok());
    let included = match (
        path,
        root,
        u64::try_from(proof.leaf_index),
        u64::try_from(c.tree_size),
    ) {
        (Some(path), Some(root), Ok(index), Ok(size)) => {
            crate::merkle::verify_inclusion(index, size, &proof.leaf.leaf_hash(), &path, &root)
        }
        _ => false,
    };
    if !included {
        failures.push("the leaf's path does not lead to the checkpoint's root".into());
    }
    failures
}

/// What pruning an org's chain leaves of it: its last removed event,
/// signed, from which the rest of the chain is verified (SPEC §12).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PruneAnchor {
    pub org_id: String,
    /// The `seq` of the last event removed.
    pub seq: i64,
    /// Its `hash`: the next event's `prev_hash`.
    pub hash: String,
    #[serde(with = "crate::time::serde_ts")]
    pub pruned_at: DateTime<Utc>,
    pub kid: String,
    /// Ed25519 over [`PruneAnchor::signed_bytes`], base64url without padding.
    pub signature: String,
}

impl PruneAnchor {
    /// What is signed: the canonical JSON of `{hash, org_id, pruned_at, seq}`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        canonical_json(&json!({
            "org_id": self.org_id,
            "seq": self.seq,
            "hash": self.hash,
            "pruned_at": crate::time::format(self.pruned_at),
        }))
        .into_bytes()
    }

    pub fn sign(&mut self, key: &SigningKey) {
        self.kid = key.public.kid.clone();
        self.signature = key.sign(&self.signed_bytes());
    }

    pub fn verify(&self, key: &PublicKey) -> bool {
        self.kid == key.kid && key.verify(&self.signed_bytes(), &self.signature)
    }
}

/// An org's leaf in a checkpoint, proven through its tree.
pub(crate) struct ProvenLeaf {
    pub head: Head,
    pub index: usize,
    pub tree_size: usize,
    pub path: Vec<Hash>,
}

impl ProvenLeaf {
    pub fn proof(self, checkpoint: Checkpoint) -> InclusionProof {
        InclusionProof {
            checkpoint,
            leaf: self.head,
            leaf_index: i64::try_from(self.index).unwrap_or(i64::MAX),
            tree_size: i64::try_from(self.tree_size).unwrap_or(i64::MAX),
            path: self.path.iter().map(hex::encode).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
