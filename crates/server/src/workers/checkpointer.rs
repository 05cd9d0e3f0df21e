//! The checkpointer: every `--checkpoint-interval-secs`, a signed checkpoint
//! of the audit trail when anything changed (the rules are in
//! `orgd_core::checkpoints::service`), and one more when the server stops
//! cleanly, after the last request has finished, so that the last changes
//! are signed too.

use std::sync::Arc;
use std::time::Duration;

use orgd_core::checkpoints::service::CheckpointMade;

use orgd_core::service::Orgd;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs until `stop`, then makes a last checkpoint.
pub fn spawn(orgd: Arc<Orgd>, stop: CancellationToken, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => checkpoint(&orgd).await,
            }
        }
        checkpoint(&orgd).await;
    })
}

async fn checkpoint(orgd: &Orgd) {
    match orgd.make_checkpoint().await {
        Ok(CheckpointMade::Made(c)) => tracing::debug!(
            checkpoint = %c.id,
            tree_size = c.tree_size,
            "signed an audit checkpoint"
        ),
        Ok(CheckpointMade::Unchanged | CheckpointMade::Raced) => {}
        Err(orgd_core::Error::Internal(why)) => tracing::error!("{why}"),
        Err(orgd_core::Error::Conflict { detail, .. }) => {
            tracing::error!("refusing to sign a checkpoint: {detail}");
        }
        Err(e) => tracing::warn!(error = %e, "making an audit checkpoint failed"),
    }
}
