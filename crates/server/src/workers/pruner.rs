//! Background work: periodic pruning (idempotency keys, events, the audit
//! trail past its retention, the access log). Stops when the shutdown token
//! fires.

use std::sync::Arc;
use std::time::Duration;

use orgd_core::service::Orgd;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How long what is pruned is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub access_log: chrono::Duration,
    pub events: chrono::Duration,
}

pub fn spawn(orgd: Arc<Orgd>, shutdown: CancellationToken, retention: Retention) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The first pass comes one period after start, not at start: a
        // restart loop must not turn into a pruning loop.
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => prune(&orgd, retention).await,
            }
        }
    })
}

async fn prune(orgd: &Orgd, retention: Retention) {
    match orgd.prune_idempotency().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "pruned expired idempotency keys"),
        Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
    }
    match orgd.prune_sessions().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "pruned idle console sessions"),
        Err(e) => tracing::warn!(error = %e, "pruning console sessions failed"),
    }
    match orgd.prune_events(retention.events).await {
        Ok((0, 0)) => {}
        Ok((events, deliveries)) => tracing::info!(
            events,
            deliveries,
            "pruned events and finished webhook deliveries past their retention"
        ),
        Err(e) => tracing::warn!(error = %e, "pruning events failed"),
    }
    match orgd.prune_audit().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            removed = n,
            "pruned audit events past their retention (audit.retention_days)"
        ),
        Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
    }
    match orgd.prune_traffic(retention.access_log).await {
        Ok((0, 0)) => {}
        Ok((entries, keys)) => tracing::info!(
            entries,
            usage_keys = keys,
            "pruned the access log and usage keys"
        ),
        Err(e) => tracing::warn!(error = %e, "pruning the access log failed"),
    }
}
