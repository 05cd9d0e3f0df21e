//! Webhooks: endpoints, their deliveries, where they may deliver, and the
//! delivery schedule.
//!
//! `model.rs` holds the types and rules, `repo.rs` (where there is one) what a
//! store keeps, `service.rs` the operations on `Orgd`.

pub mod deliveries;
mod model;
mod repo;
pub mod service;
mod targets;

pub use self::model::*;
pub use self::repo::*;
pub use self::targets::*;
