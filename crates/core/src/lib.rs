//! The domain of orgd: what an organization, an API key and an audit event are,
//! who may do what to them, and the store traits every database implements.
//!
//! Nothing here knows about HTTP or SQL. The HTTP layer calls [`service::Orgd`];
//! the stores implement [`store::Store`].

pub mod access_log;
pub mod api_keys;
pub mod audit;
pub mod audit_export;
pub mod authz;
pub mod canonical;
pub mod checkpoints;
pub mod clock;
pub mod configs;
pub mod consumption;
pub mod customizations;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod integer;
pub mod limits;
pub mod merkle;
pub mod orgs;
pub mod page;
pub mod registries;
pub mod retention;
pub mod schema;
pub mod service;
pub mod sessions;
pub mod store;
pub mod tags;
pub mod time;
pub mod webhooks;

pub use error::{Error, FieldError, Result};

#[cfg(test)]
mod house;
