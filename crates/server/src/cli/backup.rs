//! `orgd backup`.

use std::process::ExitCode;

use orgd_core::store::OpenMode;

use super::operator::{COULD_NOT, LOG};
use crate::app::open_sqlite;
use crate::config::DatabaseArgs;

/// `orgd backup`: a consistent copy of a SQLite database, taken while it serves.
pub async fn run(db: &DatabaseArgs, to: &std::path::Path) -> anyhow::Result<ExitCode> {
    if !db.database_url.is_sqlite() {
        tracing::error!(target: LOG,
            "orgd backup copies SQLite databases; for PostgreSQL use pg_dump, which takes a \
                 consistent snapshot while orgd runs, e.g. \
                 pg_dump --format=custom --file orgd.dump 'postgres://USER@HOST/DATABASE'"
        );
        return Ok(ExitCode::from(COULD_NOT));
    }
    let store = open_sqlite(db, OpenMode::ReadOnly).await?;
    let done = store.backup_to(to).await;
    orgd_core::store::Store::close(&store).await;
    done.map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
    tracing::info!(target: LOG,
        "wrote a consistent copy of {} to {}; serve it with: orgd serve --database-url sqlite://{}",
        db.database_url,
        to.display(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}
