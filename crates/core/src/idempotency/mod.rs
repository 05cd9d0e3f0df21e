mod repo;
pub mod service;

pub use self::repo::*;
