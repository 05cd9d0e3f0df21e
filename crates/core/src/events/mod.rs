pub mod feed;
mod model;
mod repo;
pub mod service;

pub use self::model::*;
pub use self::repo::*;
