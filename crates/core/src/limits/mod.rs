mod model;
pub mod service;

pub use self::model::*;
