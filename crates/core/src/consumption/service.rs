//! Monthly consumption: usage the platform reports (`POST …/usage`), the
//! report of an org and its subtree, and the gauges changes keep current.

use std::collections::{BTreeMap, HashMap};

use crate::api_keys::Permission;
use crate::authz::Principal;
use crate::consumption::{self, Metrics, Month, UsageEvent, parse_usage, with_all_gauges};
use crate::ids::OrgId;
use crate::page::PageRequest;
use crate::service::Orgd;
use crate::service::change::Change;
use crate::service::reach::{path_org_id, reach_org};
use crate::store::CounterDelta;
use crate::{Error, Result};

/// What `POST …/usage` did with the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReceipt {
    /// Events counted now.
    pub accepted: usize,
    /// Events whose idempotency key was seen before, not counted again.
    pub duplicates: usize,
}

/// One direct child's share of a subtree's consumption.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChildConsumption {
    pub org_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub subtree: Metrics,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumptionReport {
    pub org_id: String,
    #[cfg_attr(feature = "openapi", schema(example = "2024-05"))]
    pub month: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object, example = json!({"api_requests": 1200, "children": {"current": 3, "peak": 4}})))]
    pub metrics: Metrics,
    /// With `include_children`: sums over the org and all its descendants.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub subtree: Option<Metrics>,
    /// With `include_children`: each direct child's subtree sums.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<ChildConsumption>>,
}

impl Orgd {
    /// `POST …/usage`: counted before the call is answered. Events carrying an
    /// idempotency key the org has seen are skipped.
    pub async fn ingest_usage(
        &self,
        who: &Principal,
        org_id: &str,
        events: Vec<UsageEvent>,
    ) -> Result<UsageReceipt> {
        let org_id = path_org_id(org_id)?;
        let now = self.now();
        let usage = parse_usage(events, now).map_err(Error::Validation)?;
        let mut tx = self.store.begin().await?;
        // Before any row lock (see `rollups`).
        tx.lock_tree(false).await?;
        let org = reach_org(tx.as_mut(), who, &org_id, Permission::Write).await?;
        // Keys are claimed in sorted order (the first of equal keys first), so
        // two batches sharing keys never wait on each other in opposite
        // orders: PostgreSQL would end one of them as a deadlock.
        let mut keyed: Vec<(&str, usize)> = usage
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.idempotency_key.as_deref().map(|k| (k, i)))
            .collect();
        keyed.sort_unstable();
        let mut seen_before = vec![false; usage.len()];
        for (key, i) in keyed {
            seen_before[i] = !tx.claim_usage_key(&org.id, key, now).await?;
        }
        let mut sums: HashMap<(Month, String), i64> = HashMap::new();
        let mut duplicates = 0;
        for (u, seen) in usage.iter().zip(seen_before) {
            if seen {
                duplicates += 1;
                continue;
            }
            let sum = sums.entry((u.month, u.metric.clone())).or_default();
            *sum = sum.saturating_add(u.quantity);
        }
        let deltas: Vec<CounterDelta> = sums
            .into_iter()
            .map(|((month, metric), amount)| CounterDelta {
                org_id: org.id.to_string(),
                month,
                metric,
                amount,
            })
            .collect();
        crate::consumption::rollups::add_counters(tx.as_mut(), &deltas).await?;
        tx.commit().await?;
        Ok(UsageReceipt {
            accepted: usage.len() - duplicates,
            duplicates,
        })
    }

    pub async fn consumption(
        &self,
        who: &Principal,
        org_id: &str,
        month: Option<&str>,
        include_children: bool,
    ) -> Result<ConsumptionReport> {
        let org_id = path_org_id(org_id)?;
        let month = match month {
            None => Month::of(self.now()),
            Some(m) => Month::parse(m).ok_or_else(|| Error::invalid("month", "must be YYYY-MM"))?,
        };
        let mut tx = self.store.read().await?;
        let org = reach_org(tx.as_mut(), who, &org_id, Permission::Read).await?;
        let mut own = Metrics::new();
        for r in tx.month_metrics(&org.path, false, month).await? {
            consumption::add_metrics(&mut own, &Metrics::from([(r.metric, r.value)]));
        }
        // The subtree and each child's come from the roll-ups (`rollups`):
        // one row per child and metric, whatever the subtree holds.
        let (subtree, children) = if include_children {
            let mut subtree = Metrics::new();
            for (_, metric, value) in tx.rollups(&org.id, false, month).await? {
                consumption::add_metrics(&mut subtree, &Metrics::from([(metric, value)]));
            }
            let mut by_child: BTreeMap<String, Metrics> = BTreeMap::new();
            for (child, metric, value) in tx.rollups(&org.id, true, month).await? {
                consumption::add_metrics(
                    by_child.entry(child.to_string()).or_default(),
                    &Metrics::from([(metric, value)]),
                );
            }
            let live = tx
                .list_orgs(
                    &crate::store::OrgQuery {
                        subtree_of: org.path.clone(),
                        include_root: false,
                        parent_id: Some(org.id.clone()),
                        ..Default::default()
                    },
                    &PageRequest::first(crate::page::MAX_LIMIT * 10),
                )
                .await?;
            for c in live {
                by_child.entry(c.id.to_string()).or_default();
            }
            let children = by_child
                .into_iter()
                .map(|(org_id, m)| ChildConsumption {
                    org_id,
                    subtree: with_all_gauges(m),
                })
                .collect();
            (Some(with_all_gauges(subtree)), Some(children))
        } else {
            (None, None)
        };
        Ok(ConsumptionReport {
            org_id: org.id.to_string(),
            month: month.to_string(),
            metrics: with_all_gauges(own),
            subtree,
            children,
        })
    }

    /// Records the current value of a gauge of `org` in this month's consumption.
    pub(crate) async fn record_gauge(
        &self,
        c: &mut Change<'_>,
        org: &OrgId,
        gauge: &str,
        current: i64,
    ) -> Result<()> {
        let path =
            c.tx.org(org)
                .await?
                .ok_or_else(|| Error::Internal(format!("org {org} is missing")))?
                .path;
        crate::consumption::rollups::set_gauge(
            c.tx.as_mut(),
            org,
            &path,
            Month::of(c.now),
            gauge,
            current,
        )
        .await
    }

    /// Re-counts `org`'s live children into its `children` gauge.
    pub(crate) async fn record_children(&self, c: &mut Change<'_>, org: &OrgId) -> Result<()> {
        let n = c.tx.count_live_children(org).await?;
        self.record_gauge(c, org, "children", n).await
    }
}
