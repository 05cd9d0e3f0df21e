//! Registries of named items an org holds (applications, workspaces, user
//! groups), each counted against its limit.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
mod repo;
pub mod service;

pub use self::model::*;
pub use self::repo::*;
