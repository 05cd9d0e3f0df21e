//! Merkle trees as RFC 9162 (Certificate Transparency 2.0, §2.1) defines
//! them: what an audit checkpoint signs (SPEC §12).
//!
//! - a leaf's hash is `SHA-256(0x00 ‖ data)`, an inner node's
//!   `SHA-256(0x01 ‖ left ‖ right)`, and the empty tree's `SHA-256("")`;
//! - a tree of `n > 1` leaves splits at the largest power of two below `n`.
//!
//! Written here rather than taken from a crate: it is some sixty lines, the
//! crates that carry it bring a whole log (storage, tiles, their own hash
//! types) with them, and an auditor reading orgd should be able to check
//! these lines against the RFC at a glance. The tests hold it to the RFC's
//! reference vectors (those of Certificate Transparency's own test suite).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A tree over leaf hashes, every level kept, so that its root and any
/// leaf's inclusion path are read without hashing again.
///
/// Levels are built pairwise from the left; a level's last node without a
/// partner moves up unchanged. That is the same tree as the RFC's split at
/// the largest power of two (the left part is always a full subtree), so the
/// roots and paths are the RFC's.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level holds the root.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    // The last node of an odd level.
                    _ => pair[0],
                })
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    pub fn size(&self) -> usize {
        self.levels[0].len()
    }

    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|l| l.first()) {
            Some(root) => *root,
            None => Sha256::digest([]).into(),
        }
    }

    pub fn leaf(&self, index: usize) -> Option<&Hash> {
        self.levels[0].get(index)
    }

    /// The RFC's inclusion path of leaf `index`, from the leaf up; `None`
    /// past the last leaf.
    pub fn inclusion_path(&self, index: usize) -> Option<Vec<Hash>> {
        if index >= self.size() {
            return None;
        }
        let mut path = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(i ^ 1) {
                path.push(*sibling);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// RFC 9162 §2.1.3.2: does `path` prove that the leaf `leaf` is at
/// `index` in the tree of `size` leaves whose root is `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    root_from_inclusion(index, size, leaf, path).is_some_and(|r| r == *root)
}

/// The root that an audit path leads to from `leaf` at `index` in a tree of
/// `size` leaves (the same walk as [`verify_inclusion`]), or `None` when
/// the path cannot belong to such a tree. A verifier that meets many paths
/// before it learns the root keeps only this.
pub fn root_from_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Certificate Transparency's reference leaves and the roots of the
    /// trees of their first 1…8.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn tree(n: usize) -> MerkleTree {
        MerkleTree::new(
            LEAVES[..n]
                .iter()
                .map(|l| leaf_hash(&hex::decode(l).unwrap()))
                .collect(),
        )
    }

    fn hexes(path: &[Hash]) -> Vec<String> {
        path.iter().map(hex::encode).collect()
    }

    /// The RFC's recursive definition, to hold the level-wise one to.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves {
            [] => Sha256::digest([]).into(),
            [one] => *one,
            _ => {
                let k = leaves.len().next_power_of_two() / 2;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_are_the_reference_roots() {
        assert_eq!(
            hex::encode(tree(0).root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (n, root) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(tree(n + 1).root()), *root, "{} leaves", n + 1);
        }
    }

    #[test]
    fn paths_are_the_reference_paths() {
        let t = tree(8);
        assert_eq!(
            hexes(&t.inclusion_path(0).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(&t.inclusion_path(5).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(tree(1).inclusion_path(0).unwrap(), Vec::<Hash>::new());
        assert_eq!(t.inclusion_path(8), None);
    }

    #[test]
    fn every_path_of_every_size_verifies_and_no_other_does() {
        for n in 1..=70usize {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let t = MerkleTree::new(leaves.clone());
            let root = t.root();
            assert_eq!(root, mth(&leaves), "{n} leaves");
            let size = n as u64;
            for (i, leaf) in leaves.iter().enumerate() {
                let path = t.inclusion_path(i).unwrap();
                let index = i as u64;
                assert!(verify_inclusion(index, size, leaf, &path, &root));
                // Another leaf, place, root or path is refused.
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion(index, size, &other, &path, &root));
                assert!(!verify_inclusion(index + 1, size, leaf, &path, &root));
                // (A path may also fit a larger size with this same root,
                // as RFC 9162 paths do: the signed `tree_size` pins it.)
                assert!(!verify_inclusion(index, size, leaf, &path, &other));
                if let Some((first, rest)) = path.split_first() {
                    assert!(!verify_inclusion(index, size, leaf, rest, &root));
                    let mut bent = path.clone();
                    bent[0] = node_hash(first, first);
                    assert!(!verify_inclusion(index, size, leaf, &bent, &root));
                }
            }
        }
    }
}
