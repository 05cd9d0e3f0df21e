//! `orgd migrate`.

use orgd_core::store::OpenMode;

use super::operator::LOG;
use crate::app::open_store;
use crate::config::DatabaseArgs;

/// `orgd migrate`: brings the schema up to date, and says what it did.
pub async fn run(db: &DatabaseArgs) -> anyhow::Result<()> {
    let store = open_store(db, OpenMode::Create).await?;
    let applied = store.migrations_applied();
    store.close().await;
    if applied.is_empty() {
        tracing::info!(target: LOG,
            "{} is up to date: no migration was pending",
            db.database_url
        );
    }
    for m in &applied {
        tracing::info!(target: LOG, "applied migration {m}");
    }
    if !applied.is_empty() {
        tracing::info!(target: LOG,
            "{} is up to date: applied {} migration(s)",
            db.database_url,
            applied.len()
        );
    }
    Ok(())
}
