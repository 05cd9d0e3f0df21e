//! Events: the outbox every change writes with its audit event, and the feed
//! that reads it.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

pub mod feed;
mod model;
mod repo;
pub mod service;

pub use self::model::*;
pub use self::repo::*;
