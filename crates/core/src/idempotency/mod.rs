//! Idempotency keys: a retried POST answered with the first response.
//!
//! `repo.rs` holds what a store keeps, `service.rs` the rules and the
//! operations on `Orgd`.

mod repo;
pub mod service;

pub use self::repo::*;
