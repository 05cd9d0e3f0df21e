//! Limits: what an org may hold a bounded number of, one row of `LIMITS` each,
//! enforced in the write that would pass them.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

mod model;
pub mod service;

pub use self::model::*;
