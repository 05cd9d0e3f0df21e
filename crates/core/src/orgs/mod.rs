//! Organizations: the tree, its records, its cache, and the operations that
//! create, move and delete them.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

pub(crate) mod cache;
mod model;
mod repo;
pub mod service;
pub mod tree;

pub use self::model::*;
pub use self::repo::*;
