//! The audit trail: each org's hash chain of events, its listings and its
//! verification.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
mod repo;
pub mod service;

pub use self::model::*;
pub use self::repo::*;
