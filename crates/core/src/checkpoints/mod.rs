//! Signed checkpoints of the audit trail: Merkle trees over every chain head,
//! the signing keys, inclusion proofs, and checking them all.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

pub(crate) mod chains;
mod model;
mod repo;
pub mod service;
mod signing_keys;
pub(crate) mod signing_state;
pub mod verify;

pub use self::model::*;
pub use self::repo::*;
pub use self::signing_keys::*;
