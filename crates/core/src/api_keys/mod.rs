//! API keys: the secret and its digest, permissions, expiry, revocation, and
//! the key cache that authenticates a request without the database.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

pub(crate) mod cache;
mod model;
mod repo;
pub mod service;

pub use self::model::*;
pub use self::repo::*;
