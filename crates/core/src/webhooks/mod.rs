pub mod deliveries;
mod model;
mod repo;
pub mod service;
mod targets;

pub use self::model::*;
pub use self::repo::*;
pub use self::targets::*;
