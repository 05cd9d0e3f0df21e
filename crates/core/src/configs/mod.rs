//! Organization configs: the registry of known keys, their values, and how they
//! are inherited down the tree.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
pub mod service;

pub use self::model::*;
