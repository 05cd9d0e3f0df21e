//! The domain of orgd: what an organization, an API key and an audit event are,
//! who may do what to them, and the store traits every database implements.
//!
//! Nothing here knows about HTTP or SQL. The HTTP layer calls [`service::Orgd`];
//! the stores implement [`store::Store`].

pub mod access;
pub mod audit;
pub mod authz;
pub mod checkpoint;
pub mod clock;
pub mod configs;
pub mod consumption;
pub mod customizations;
pub mod error;
pub mod events;
pub mod export;
pub mod ids;
pub mod integer;
pub mod keys;
pub mod limits;
pub mod merkle;
pub mod org;
pub mod page;
pub mod resources;
pub mod retention;
pub mod schema;
pub mod service;
pub mod session;
pub mod store;
pub mod tags;
pub mod time;
pub mod webhooks;

pub use error::{Error, FieldError, Result};
