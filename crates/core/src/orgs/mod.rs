pub(crate) mod cache;
mod model;
mod repo;
pub mod service;
pub mod tree;

pub use self::model::*;
pub use self::repo::*;
