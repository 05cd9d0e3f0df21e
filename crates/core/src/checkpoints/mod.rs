mod model;
mod repo;
pub mod service;
pub(crate) mod signing;

pub use self::model::*;
pub use self::repo::*;
