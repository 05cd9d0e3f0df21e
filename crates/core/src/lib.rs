//! The domain of orgd: what an organization, an API key and an audit event are,
//! who may do what to them, and the store traits every database implements.
//!
//! Nothing here knows about HTTP or SQL. The HTTP layer calls [`service::Orgd`];
//! the stores implement [`store::Store`].

pub mod access_log;
pub mod api_keys;
pub mod audit;
pub mod audit_export;
pub mod authz;
pub mod canonical;
pub mod checkpoints;
pub mod clock;
pub mod configs;
pub mod consumption;
pub mod customizations;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod integer;
pub mod limits;
pub mod merkle;
pub mod orgs;
pub mod page;
pub mod registries;
pub mod retention;
pub mod schema;
pub mod service;
pub mod sessions;
pub mod store;
pub mod tags;
pub mod time;
pub mod webhooks;

pub use error::{Error, FieldError, Result};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// `docs/architecture.md` is the newcomer's map: every folder of every
    /// crate's `src/` is on it, so a new resource (a folder of core) cannot
    /// land without its place on the map.
    #[test]
    fn the_architecture_page_names_every_folder() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let page = std::fs::read_to_string(crates.join("../docs/architecture.md")).unwrap();
        let mut missing = Vec::new();
        for krate in std::fs::read_dir(&crates).unwrap() {
            let src = krate.unwrap().path().join("src");
            let Ok(entries) = std::fs::read_dir(&src) else {
                continue;
            };
            for entry in entries {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                if entry.file_type().unwrap().is_dir() && !page.contains(&format!("{name}/")) {
                    missing.push(src.join(name).display().to_string());
                }
            }
        }
        assert!(
            missing.is_empty(),
            "docs/architecture.md does not name {missing:?}"
        );
    }
}
