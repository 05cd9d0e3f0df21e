//! What a store keeps of consumption, as a trait each database implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{MetricValue, Month};
use crate::error::StoreResult;
use crate::ids::OrgId;

/// An amount to add to one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    pub org_id: String,
    pub month: Month,
    pub metric: String,
    pub amount: i64,
}

/// One org's value of one metric in a month, with the org's place in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRow {
    pub org_id: OrgId,
    pub path: String,
    pub metric: String,
    pub value: MetricValue,
}

/// A gauge's `(current, peak)` in a month, before and after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaugeChange {
    pub before: (i64, i64),
    pub after: (i64, i64),
}

/// One subtree gauge row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaugeRow {
    pub gauge: String,
    pub month: Month,
    pub current: i64,
    pub peak: i64,
}

#[async_trait]
pub trait ConsumptionRepo {
    /// Adds to the counters of orgs that exist; deltas naming no org are dropped.
    async fn add_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()>;
    /// Remembers a usage event's idempotency key; `false` when the org had it already.
    async fn claim_usage_key(
        &mut self,
        org: &OrgId,
        key: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Forgets usage keys claimed before `before`; returns how many.
    async fn prune_usage_keys(&mut self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Sets a gauge's current value in `month`; the month's peak keeps the
    /// maximum (a month's first value starts from the one carried in).
    /// Returns the org's `(current, peak)` for the month before and after.
    async fn set_gauge(
        &mut self,
        org: &OrgId,
        month: Month,
        gauge: &str,
        current: i64,
    ) -> StoreResult<GaugeChange>;
    /// Roll-ups (kept by the service, see `consumption/rollups.rs`): adds each
    /// delta to the subtree counter of its org, creating it at 0. No org
    /// check: the service passes ancestors of orgs that exist.
    async fn add_subtree_counters(&mut self, deltas: &[CounterDelta]) -> StoreResult<()>;
    /// Every subtree counter of the org, all months.
    async fn subtree_counter_rows(&mut self, org: &OrgId) -> StoreResult<Vec<CounterDelta>>;
    /// Creates the org's subtree gauge row for `month`, when missing, from
    /// the current of its latest earlier row (`(c, c)`, or zeros).
    async fn seed_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
    ) -> StoreResult<()>;
    /// Adds to an existing subtree gauge row.
    async fn add_subtree_gauge(
        &mut self,
        org: &OrgId,
        gauge: &str,
        month: Month,
        current: i64,
        peak: i64,
    ) -> StoreResult<()>;
    /// Every subtree gauge row of the org, all gauges and months, by gauge
    /// then month.
    async fn subtree_gauge_rows(&mut self, org: &OrgId) -> StoreResult<Vec<GaugeRow>>;
    /// The roll-ups in `month` of the org (`children: false`) or of each of
    /// its direct children, tombstones included (`children: true`): counters
    /// of the month, and each gauge's row of the month, else the latest
    /// before it carried as `(current, current)`.
    async fn rollups(
        &mut self,
        org: &OrgId,
        children: bool,
        month: Month,
    ) -> StoreResult<Vec<(OrgId, String, MetricValue)>>;
    /// Counters and gauges in `month` of the org at `path`, and with
    /// `subtree` of every org beneath it (tombstones included). A gauge not
    /// set during the month carries the last value set before it, as both
    /// `current` and `peak`.
    async fn month_metrics(
        &mut self,
        path: &str,
        subtree: bool,
        month: Month,
    ) -> StoreResult<Vec<MetricRow>>;
}
