//! Background work: periodic pruning. Stops when the shutdown token fires.

use std::sync::Arc;
use std::time::Duration;

use orgd_core::service::Orgd;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PRUNE_EVERY: Duration = Duration::from_secs(600);

pub fn spawn(
    orgd: Arc<Orgd>,
    shutdown: CancellationToken,
    access_retention: chrono::Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The first pass comes one period after start, not at start: a
        // restart loop must not turn into a pruning loop.
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => prune(&orgd, access_retention).await,
            }
        }
    })
}

async fn prune(orgd: &Orgd, access_retention: chrono::Duration) {
    match orgd.prune_idempotency().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "pruned expired idempotency keys"),
        Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
    }
    match orgd.prune_traffic(access_retention).await {
        Ok((0, 0)) => {}
        Ok((entries, keys)) => tracing::info!(
            entries,
            usage_keys = keys,
            "pruned the access log and usage keys"
        ),
        Err(e) => tracing::warn!(error = %e, "pruning the access log failed"),
    }
}
