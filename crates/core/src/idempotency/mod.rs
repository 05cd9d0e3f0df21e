//! Idempotency keys: a retried POST answered with the first response.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod repo;
pub mod service;

pub use self::repo::*;
