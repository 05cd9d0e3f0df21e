//! Monthly consumption: counters (requests, usage events) and gauges (limited
//! things held), per org and rolled up its subtree.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
mod repo;
pub mod rollups;
pub mod service;
pub(crate) mod traffic;

pub use self::model::*;
pub use self::repo::*;
