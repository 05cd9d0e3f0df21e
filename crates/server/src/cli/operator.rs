//! What the operator's commands share: the log target their lines keep,
//! the exit status of a command that could not do its work, the service
//! they act through (as the root, straight on the database) and how a
//! domain error reads on the terminal.

use std::process::ExitCode;
use std::sync::Arc;

use orgd_core::clock::SystemClock;
use orgd_core::ids::OrgId;
use orgd_core::service::{Orgd, Settings};
use orgd_core::store::OpenMode;

use crate::app::open_store;
use crate::config::DatabaseArgs;

/// The target of every line the commands log, whichever file writes it:
/// operators and scripts filter on it (`ORGD_LOG=warn,orgd::cli=info`
/// shows the start-up lines).
pub const LOG: &str = "orgd::cli";

/// Exit status of a command that could not do its work (as opposed to
/// `audit verify` finding a broken chain, which is 1).
pub const COULD_NOT: u8 = 2;

/// A check's exit status, or [`COULD_NOT`] (saying why, after `doing`)
/// when it could not check.
pub fn checked(doing: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        tracing::error!(target: LOG, "could not check {doing}: {e:#}");
        ExitCode::from(COULD_NOT)
    })
}

/// Settings for the operator's commands: they act as the root, and make nothing
/// that depends on the rest.
pub fn operator_settings() -> Settings {
    Settings {
        root_id: OrgId::from_trusted(crate::config::DEFAULT_ROOT_ID.into()),
        max_depth: orgd_core::service::DEFAULT_MAX_DEPTH,
        default_rate_limit_per_minute: None,
        cache_ttl: Default::default(),
        webhook_allow_private_targets: false,
    }
}

pub async fn operator_service(db: &DatabaseArgs, mode: OpenMode) -> anyhow::Result<Orgd> {
    let store = open_store(db, mode).await?;
    let orgd = Orgd::new(store, Arc::new(SystemClock), operator_settings());
    orgd.root_id().await.map_err(|_| {
        anyhow::anyhow!("the database has no root organization yet: run `orgd serve` once first")
    })?;
    Ok(orgd)
}

pub fn describe(e: orgd_core::Error) -> anyhow::Error {
    match e {
        orgd_core::Error::Validation(errors) => anyhow::anyhow!(
            "invalid input: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        e => anyhow::Error::new(e).context("the operation failed"),
    }
}
