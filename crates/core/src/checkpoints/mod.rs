pub(crate) mod chains;
mod keys;
mod model;
mod repo;
pub mod service;
pub(crate) mod signing;
pub mod verify;

pub use self::keys::*;
pub use self::model::*;
pub use self::repo::*;
