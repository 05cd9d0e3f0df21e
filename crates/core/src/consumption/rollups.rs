//! Consumption roll-ups: for every org and month, the sums over its subtree
//! (itself and every descendant, tombstones included) of counters and
//! gauges, kept in the transaction of each change, so that a report with
//! children reads one row per child rather than every row of the subtree.
//!
//! The rules live here once; the stores only add, seed and read rows.
//!
//! - A counter delta of an org is added to the subtree counter of the org
//!   and of each of its ancestors.
//! - A gauge change of an org, from its `(current, peak)` of the month
//!   before to after, is added to the subtree rows of the org and of each
//!   ancestor for that month. A subtree row is seeded, when missing, from the
//!   subtree's latest earlier row as `(current, current)`: until then no org
//!   of the subtree had set the gauge that month, so each carried its last
//!   value, and their sum is that row's current.
//! - A move takes the moved subtree's rows away from the ancestors it leaves
//!   and adds them to those it joins (ancestors it keeps are unchanged).
//!
//! On PostgreSQL, adding a batch of counters takes the tree lock shared and
//! a move takes it exclusively, so no batch adds under paths a move is
//! rewriting.

use std::collections::{BTreeMap, BTreeSet};

use crate::Result;
use crate::consumption::Month;
use crate::ids::OrgId;
use crate::store::{CounterDelta, GaugeRow, Tx};

/// The org at `path` and its ancestors.
fn lineage(path: &str) -> Vec<OrgId> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| OrgId::from_trusted(s.to_owned()))
        .collect()
}

/// Adds counters of orgs and their roll-ups; deltas naming no org are
/// dropped. Call with the tree lock held (shared). Public for tools that
/// write through the store (the bench's generator).
pub async fn add_counters(tx: &mut dyn Tx, deltas: &[CounterDelta]) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let ids: BTreeSet<OrgId> = deltas
        .iter()
        .map(|d| OrgId::from_trusted(d.org_id.clone()))
        .collect();
    let ids: Vec<OrgId> = ids.into_iter().collect();
    let paths: BTreeMap<String, String> = tx
        .orgs_by_ids(&ids)
        .await?
        .into_iter()
        .map(|o| (o.id.to_string(), o.path))
        .collect();
    tx.add_counters(deltas).await?;
    // Summed per row and sorted, so concurrent batches lock rows in one order.
    let mut rolled: BTreeMap<(String, Month, String), i64> = BTreeMap::new();
    for d in deltas {
        let Some(path) = paths.get(&d.org_id) else {
            continue;
        };
        for id in lineage(path) {
            let sum = rolled
                .entry((id.to_string(), d.month, d.metric.clone()))
                .or_default();
            *sum = sum.saturating_add(d.amount);
        }
    }
    let rolled: Vec<CounterDelta> = rolled
        .into_iter()
        .map(|((org_id, month, metric), amount)| CounterDelta {
            org_id,
            month,
            metric,
            amount,
        })
        .collect();
    Ok(tx.add_subtree_counters(&rolled).await?)
}

/// Sets a gauge of the org at `path` and keeps its roll-ups.
pub(crate) async fn set_gauge(
    tx: &mut dyn Tx,
    org: &OrgId,
    path: &str,
    month: Month,
    gauge: &str,
    current: i64,
) -> Result<()> {
    let change = tx.set_gauge(org, month, gauge, current).await?;
    let (dc, dp) = (
        change.after.0 - change.before.0,
        change.after.1 - change.before.1,
    );
    if (dc, dp) == (0, 0) {
        return Ok(());
    }
    for id in lineage(path) {
        tx.seed_subtree_gauge(&id, gauge, month).await?;
        tx.add_subtree_gauge(&id, gauge, month, dc, dp).await?;
    }
    Ok(())
}

/// What a subtree's gauge rows say for `month`: its row of the month, else
/// the latest before carried, else nothing.
fn effective(rows: &[GaugeRow], gauge: &str, month: Month) -> (i64, i64) {
    rows.iter()
        .filter(|r| r.gauge == gauge && r.month <= month)
        .max_by_key(|r| r.month)
        .map_or((0, 0), |r| {
            if r.month == month {
                (r.current, r.peak)
            } else {
                (r.current, r.current)
            }
        })
}

/// Moves the roll-ups of the subtree `moved`, which went from under
/// `old_path` to under `new_path` (both the moved org's own paths).
pub(crate) async fn move_subtree(
    tx: &mut dyn Tx,
    moved: &OrgId,
    old_path: &str,
    new_path: &str,
) -> Result<()> {
    let strict = |path: &str| -> Vec<OrgId> {
        let mut ids = lineage(path);
        ids.pop();
        ids
    };
    let (old, new) = (strict(old_path), strict(new_path));
    let leaving: Vec<&OrgId> = old.iter().filter(|id| !new.contains(id)).collect();
    let joining: Vec<&OrgId> = new.iter().filter(|id| !old.contains(id)).collect();

    let counters = tx.subtree_counter_rows(moved).await?;
    let mut deltas = Vec::new();
    for (ids, sign) in [(&leaving, -1), (&joining, 1)] {
        for id in ids.iter() {
            deltas.extend(counters.iter().map(|c| CounterDelta {
                org_id: id.to_string(),
                month: c.month,
                metric: c.metric.clone(),
                amount: sign * c.amount,
            }));
        }
    }
    deltas.sort_by(|a, b| (&a.org_id, a.month, &a.metric).cmp(&(&b.org_id, b.month, &b.metric)));
    tx.add_subtree_counters(&deltas).await?;

    let gauges = tx.subtree_gauge_rows(moved).await?;
    if gauges.is_empty() {
        return Ok(());
    }
    for id in leaving {
        for row in tx.subtree_gauge_rows(id).await? {
            let (c, p) = effective(&gauges, &row.gauge, row.month);
            if (c, p) != (0, 0) {
                tx.add_subtree_gauge(id, &row.gauge, row.month, -c, -p)
                    .await?;
            }
        }
    }
    for id in joining {
        // Every month the moved subtree has a row for gets one here too,
        // seeded from what this subtree carried before the move.
        for row in &gauges {
            tx.seed_subtree_gauge(id, &row.gauge, row.month).await?;
        }
        for row in tx.subtree_gauge_rows(id).await? {
            let (c, p) = effective(&gauges, &row.gauge, row.month);
            if (c, p) != (0, 0) {
                tx.add_subtree_gauge(id, &row.gauge, row.month, c, p)
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(gauge: &str, month: &str, current: i64, peak: i64) -> GaugeRow {
        GaugeRow {
            gauge: gauge.into(),
            month: Month::parse(month).unwrap_or_else(|| Month::of(chrono::DateTime::default())),
            current,
            peak,
        }
    }

    #[test]
    fn a_month_without_a_row_carries_the_last_current() {
        let rows = [row("apps", "2026-01", 3, 5), row("apps", "2026-03", 1, 4)];
        let m = |s: &str| Month::parse(s).unwrap_or_else(|| Month::of(chrono::DateTime::default()));
        assert_eq!(effective(&rows, "apps", m("2025-12")), (0, 0));
        assert_eq!(effective(&rows, "apps", m("2026-01")), (3, 5));
        assert_eq!(effective(&rows, "apps", m("2026-02")), (3, 3));
        assert_eq!(effective(&rows, "apps", m("2026-03")), (1, 4));
        assert_eq!(effective(&rows, "apps", m("2026-07")), (1, 1));
        assert_eq!(effective(&rows, "other", m("2026-03")), (0, 0));
    }

    #[test]
    fn a_path_names_the_org_and_its_ancestors() {
        let ids: Vec<String> = lineage("/root/a/b/")
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids, ["root", "a", "b"]);
    }
}
