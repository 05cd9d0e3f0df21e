//! The access log: who called which route of an org, when, and how it ended
//! (SPEC §13). Written in batches by the server's traffic writer; read here.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
mod repo;
pub mod service;

pub use self::model::*;
pub use self::repo::*;
