//! Signed exports of the audit trail: the file format, its offline
//! verifier, and the streaming export on `Orgd`.

mod format;
pub mod service;
mod verifier;

pub use self::format::*;
pub use self::verifier::*;

#[cfg(test)]
mod tests;
