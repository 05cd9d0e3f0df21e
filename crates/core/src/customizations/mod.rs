//! Customizations: the free JSON an org carries, merged down the tree.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
pub mod service;

pub use self::model::*;
