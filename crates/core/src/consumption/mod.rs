mod model;
mod repo;
pub mod rollups;
pub mod service;
pub(crate) mod traffic;

pub use self::model::*;
pub use self::repo::*;
