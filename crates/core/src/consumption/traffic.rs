//! The API's own traffic, which the server batches (access entries and
//! `api_requests` counts), and the background pruning of what is kept for a
//! while only (access entries, usage keys).

use chrono::Duration;

use crate::Result;
use crate::access_log::AccessEntryRef;
use crate::consumption;
use crate::service::Orgd;
use crate::store::CounterDelta;

impl Orgd {
    /// Stores a batch of the API's own traffic: access entries and
    /// `api_requests` increments. Entries of orgs that do not exist are dropped.
    pub async fn write_traffic(
        &self,
        entries: &[AccessEntryRef<'_>],
        counters: &[CounterDelta],
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if !counters.is_empty() {
            // Before any row lock (see `rollups`).
            tx.lock_tree(false).await?;
            crate::consumption::rollups::add_counters(tx.as_mut(), counters).await?;
        }
        if !entries.is_empty() {
            tx.insert_access_entries(entries).await?;
        }
        Ok(tx.commit().await?)
    }

    /// Background pruning: access entries past retention, usage keys past 40 days.
    pub async fn prune_traffic(&self, access_retention: Duration) -> Result<(u64, u64)> {
        let now = self.now();
        let mut removed = 0;
        loop {
            // Small transactions, so the single writer is never held long.
            let mut tx = self.store.begin().await?;
            let n = tx.prune_access_log(now - access_retention, 5000).await?;
            tx.commit().await?;
            removed += n;
            // Each call looks at the 5,000 entries written first: it goes on
            // while the front of the log still holds old ones.
            if n == 0 {
                break;
            }
        }
        let mut tx = self.store.begin().await?;
        let keys = tx
            .prune_usage_keys(now - consumption::USAGE_KEY_RETENTION)
            .await?;
        tx.commit().await?;
        Ok((removed, keys))
    }
}
