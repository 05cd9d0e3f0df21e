//! Retention of the audit trail: pruning past an org's `audit.retention_days`,
//! never under a legal hold.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
pub mod service;

pub use self::model::*;
