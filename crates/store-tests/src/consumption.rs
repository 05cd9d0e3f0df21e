//! Consumption: monthly counters, gauges with their peaks, usage keys, and
//! the month's metrics of one org or a subtree.

use chrono::{DateTime, Utc};
use orgd_core::consumption::{MetricValue, Month};
use orgd_core::store::{CounterDelta, MetricRow, Store};

use crate::fixtures::{Tree, at, at_ms, oid, tombstone};

fn month(s: &str) -> Month {
    Month::parse(s).expect("a valid month")
}

fn delta(org: &str, m: &str, metric: &str, amount: i64) -> CounterDelta {
    CounterDelta {
        org_id: org.to_owned(),
        month: month(m),
        metric: metric.to_owned(),
        amount,
    }
}

/// Adds the deltas in one call, in its own transaction.
async fn add(store: &dyn Store, deltas: &[CounterDelta]) {
    let mut tx = store.begin().await.expect("begin");
    tx.add_counters(deltas).await.expect("add_counters");
    tx.commit().await.expect("commit");
}

/// Sets a gauge in its own transaction.
async fn set(store: &dyn Store, org: &str, m: &str, gauge: &str, current: i64) {
    let mut tx = store.begin().await.expect("begin");
    tx.set_gauge(&oid(org), month(m), gauge, current)
        .await
        .expect("set_gauge");
    tx.commit().await.expect("commit");
}

/// `month_metrics` of the org at `path`, sorted by org id then metric.
async fn metrics(store: &dyn Store, path: &str, subtree: bool, m: &str) -> Vec<MetricRow> {
    let mut tx = store.read().await.expect("read");
    let mut rows = tx
        .month_metrics(path, subtree, month(m))
        .await
        .expect("month_metrics");
    rows.sort_by(|x, y| {
        (x.org_id.as_str().as_bytes(), x.metric.as_bytes())
            .cmp(&(y.org_id.as_str().as_bytes(), y.metric.as_bytes()))
    });
    rows
}

/// Builds expected rows of `tree`'s orgs.
struct Rows<'a>(&'a Tree);

impl Rows<'_> {
    fn counter(&self, org: &str, metric: &str, value: i64) -> MetricRow {
        MetricRow {
            org_id: oid(org),
            path: self.0.path(org),
            metric: metric.to_owned(),
            value: MetricValue::Counter(value),
        }
    }

    fn gauge(&self, org: &str, metric: &str, current: i64, peak: i64) -> MetricRow {
        MetricRow {
            org_id: oid(org),
            path: self.0.path(org),
            metric: metric.to_owned(),
            value: MetricValue::Gauge { current, peak },
        }
    }
}

/// Claims a usage key in its own transaction.
async fn claim(store: &dyn Store, org: &str, key: &str, when: DateTime<Utc>) -> bool {
    let mut tx = store.begin().await.expect("begin");
    let fresh = tx
        .claim_usage_key(&oid(org), key, when)
        .await
        .expect("claim_usage_key");
    tx.commit().await.expect("commit");
    fresh
}

async fn add_counters_accumulate_across_calls_and_drop_unknown_orgs(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;
    let rows = Rows(&tree);

    add(
        store,
        &[
            delta("a", "2024-05", "api_requests", 3),
            delta("a", "2024-05", "storage.gb", 10),
            delta("ghost", "2024-05", "api_requests", 5),
            delta("b", "2024-05", "api_requests", 1),
            delta("a", "2024-06", "api_requests", 7),
        ],
    )
    .await;
    add(
        store,
        &[
            delta("ghost", "2024-05", "api_requests", 5),
            delta("a", "2024-05", "api_requests", 4),
            delta("b", "2024-05", "api_requests", 2),
        ],
    )
    .await;
    add(store, &[]).await;

    assert_eq!(
        metrics(store, &tree.path("a"), false, "2024-05").await,
        [
            rows.counter("a", "api_requests", 7),
            rows.counter("a", "storage.gb", 10),
        ]
    );
    assert_eq!(
        metrics(store, &tree.path("b"), false, "2024-05").await,
        [rows.counter("b", "api_requests", 3)]
    );
    assert_eq!(
        metrics(store, &tree.path("a"), false, "2024-06").await,
        [rows.counter("a", "api_requests", 7)]
    );
    assert_eq!(metrics(store, &tree.path("a"), false, "2024-04").await, []);

    // Dropped, not kept aside: an org made later under that id has no counters.
    let tree = tree.add("r", "ghost");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(tree.org("ghost")).await.expect("insert_org");
    tx.commit().await.expect("commit");
    assert_eq!(
        metrics(store, &tree.path("ghost"), false, "2024-05").await,
        []
    );
}

async fn add_counters_sums_repeated_counters_within_one_call(store: &dyn Store) {
    let tree = Tree::of("r/a");
    tree.insert(store).await;
    let rows = Rows(&tree);

    add(
        store,
        &[
            delta("a", "2024-05", "api_requests", 1),
            delta("a", "2024-05", "api_requests", 2),
            delta("a", "2024-06", "api_requests", 10),
            delta("a", "2024-05", "api_requests", 3),
        ],
    )
    .await;
    // And again in one transaction, over two calls.
    let mut tx = store.begin().await.expect("begin");
    for amount in [4, 5] {
        tx.add_counters(&[delta("a", "2024-05", "api_requests", amount)])
            .await
            .expect("add_counters");
    }
    tx.commit().await.expect("commit");

    assert_eq!(
        metrics(store, &tree.path("a"), false, "2024-05").await,
        [rows.counter("a", "api_requests", 15)]
    );
    assert_eq!(
        metrics(store, &tree.path("a"), false, "2024-06").await,
        [rows.counter("a", "api_requests", 10)]
    );
}

async fn claiming_a_usage_key_succeeds_once_per_org(store: &dyn Store) {
    Tree::of("r/a r/b").insert(store).await;
    let (a, b) = (oid("a"), oid("b"));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.claim_usage_key(&a, "k1", at(0)).await.expect("claim"));
    assert!(!tx.claim_usage_key(&a, "k1", at(1)).await.expect("claim"));
    assert!(tx.claim_usage_key(&b, "k1", at(1)).await.expect("claim"));
    assert!(tx.claim_usage_key(&a, "k2", at(1)).await.expect("claim"));
    // Keys compare exactly.
    assert!(tx.claim_usage_key(&a, "K1", at(1)).await.expect("claim"));
    assert!(tx.claim_usage_key(&a, "k1 ", at(1)).await.expect("claim"));
    tx.commit().await.expect("commit");

    assert!(!claim(store, "a", "k1", at(2)).await);
    assert!(!claim(store, "b", "k1", at(2)).await);
    assert!(!claim(store, "a", "K1", at(2)).await);
    assert!(claim(store, "b", "k2", at(2)).await);

    // A claim rolled back is no claim.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.claim_usage_key(&a, "k3", at(3)).await.expect("claim"));
    drop(tx);
    assert!(claim(store, "a", "k3", at(4)).await);
    assert!(!claim(store, "a", "k3", at(5)).await);
}

async fn pruning_usage_keys_forgets_only_older_claims(store: &dyn Store) {
    Tree::of("r/a r/b").insert(store).await;
    assert!(claim(store, "a", "k0", at(0)).await);
    assert!(claim(store, "a", "k1", at(10)).await);
    assert!(claim(store, "b", "k2", at_ms(9_999)).await);
    assert!(claim(store, "b", "k3", at(20)).await);

    let prune = async |before: DateTime<Utc>| {
        let mut tx = store.begin().await.expect("begin");
        let n = tx.prune_usage_keys(before).await.expect("prune_usage_keys");
        tx.commit().await.expect("commit");
        n
    };
    assert_eq!(prune(at(10)).await, 2);
    assert_eq!(prune(at(10)).await, 0);

    assert!(claim(store, "a", "k0", at(30)).await, "k0 was forgotten");
    assert!(claim(store, "b", "k2", at(30)).await, "k2 was forgotten");
    assert!(!claim(store, "a", "k1", at(30)).await, "k1 is remembered");
    assert!(!claim(store, "b", "k3", at(30)).await, "k3 is remembered");

    // The claims made again count from their new time.
    assert_eq!(prune(at(21)).await, 2);
    assert_eq!(prune(at(31)).await, 2);
    assert_eq!(prune(at(31)).await, 0);
}

async fn set_gauge_keeps_the_months_peak_and_starts_from_the_carried_value(store: &dyn Store) {
    let tree = Tree::of("r/a r/b");
    tree.insert(store).await;
    let rows = Rows(&tree);
    let a = tree.path("a");

    // A first month starts from nothing carried in.
    set(store, "a", "2024-01", "workspaces", 0).await;
    assert_eq!(
        metrics(store, &a, false, "2024-01").await,
        [rows.gauge("a", "workspaces", 0, 0)]
    );

    // Within a month the peak keeps the maximum; one transaction or several.
    set(store, "a", "2024-03", "children", 2).await;
    let mut tx = store.begin().await.expect("begin");
    for current in [5, 1] {
        tx.set_gauge(&oid("a"), month("2024-03"), "children", current)
            .await
            .expect("set_gauge");
    }
    tx.commit().await.expect("commit");
    set(store, "a", "2024-03", "workspaces", 9).await;
    assert_eq!(
        metrics(store, &a, false, "2024-03").await,
        [
            rows.gauge("a", "children", 1, 5),
            rows.gauge("a", "workspaces", 9, 9),
        ]
    );

    // A new month's peak starts from the value carried in (1), not from March's peak.
    set(store, "a", "2024-04", "children", 0).await;
    assert_eq!(
        metrics(store, &a, false, "2024-04").await,
        [
            rows.gauge("a", "children", 0, 1),
            rows.gauge("a", "workspaces", 9, 9),
        ]
    );
    set(store, "a", "2024-04", "children", 3).await;
    set(store, "a", "2024-04", "children", 2).await;
    assert_eq!(
        metrics(store, &a, false, "2024-04").await,
        [
            rows.gauge("a", "children", 2, 3),
            rows.gauge("a", "workspaces", 9, 9),
        ]
    );

    // After a month without changes, it carries April's last value (2).
    set(store, "a", "2024-06", "children", 1).await;
    set(store, "a", "2024-06", "workspaces", 4).await;
    assert_eq!(
        metrics(store, &a, false, "2024-06").await,
        [
            rows.gauge("a", "children", 1, 2),
            rows.gauge("a", "workspaces", 4, 9),
        ]
    );

    // Earlier months are as they were; other orgs carry nothing from `a`.
    assert_eq!(
        metrics(store, &a, false, "2024-03").await,
        [
            rows.gauge("a", "children", 1, 5),
            rows.gauge("a", "workspaces", 9, 9),
        ]
    );
    set(store, "b", "2024-06", "children", 1).await;
    assert_eq!(
        metrics(store, &tree.path("b"), false, "2024-06").await,
        [rows.gauge("b", "children", 1, 1)]
    );
}

async fn month_metrics_cover_one_org_or_its_subtree_only(store: &dyn Store) {
    // r ─ a ─ a1 ─ a11
    //   ├ ab ─ ab1
    //   ├ a-b
    //   └ a0
    let tree = Tree::of("r/a/a1/a11 r/ab/ab1 r/a-b r/a0");
    tree.insert(store).await;
    let rows = Rows(&tree);
    let orgs = ["r", "a", "a1", "a11", "ab", "ab1", "a-b", "a0"];
    let deltas: Vec<CounterDelta> = (1..)
        .zip(orgs)
        .flat_map(|(n, org)| {
            [
                delta(org, "2024-05", "api_requests", n),
                delta(org, "2024-04", "api_requests", 100 * n),
            ]
        })
        .collect();
    add(store, &deltas).await;
    set(store, "a", "2024-05", "children", 2).await;
    set(store, "a1", "2024-05", "children", 1).await;
    set(store, "ab", "2024-05", "children", 1).await;
    set(store, "a-b", "2024-04", "children", 0).await;

    assert_eq!(
        metrics(store, &tree.path("a"), false, "2024-05").await,
        [
            rows.counter("a", "api_requests", 2),
            rows.gauge("a", "children", 2, 2),
        ]
    );
    assert_eq!(
        metrics(store, &tree.path("a"), true, "2024-05").await,
        [
            rows.counter("a", "api_requests", 2),
            rows.gauge("a", "children", 2, 2),
            rows.counter("a1", "api_requests", 3),
            rows.gauge("a1", "children", 1, 1),
            rows.counter("a11", "api_requests", 4),
        ]
    );
    assert_eq!(
        metrics(store, &tree.path("a1"), true, "2024-05").await,
        [
            rows.counter("a1", "api_requests", 3),
            rows.gauge("a1", "children", 1, 1),
            rows.counter("a11", "api_requests", 4),
        ]
    );
    assert_eq!(
        metrics(store, &tree.path("ab"), true, "2024-05").await,
        [
            rows.counter("ab", "api_requests", 5),
            rows.gauge("ab", "children", 1, 1),
            rows.counter("ab1", "api_requests", 6),
        ]
    );
    assert_eq!(
        metrics(store, &tree.path("a11"), true, "2024-05").await,
        [rows.counter("a11", "api_requests", 4)]
    );
    assert_eq!(
        metrics(store, &tree.path("r"), false, "2024-05").await,
        [rows.counter("r", "api_requests", 1)]
    );
    let everything = metrics(store, &tree.path("r"), true, "2024-05").await;
    assert_eq!(everything.len(), orgs.len() + 4);
    assert!(everything.contains(&rows.gauge("a-b", "children", 0, 0)));
    assert!(everything.contains(&rows.counter("a0", "api_requests", 8)));
    assert_eq!(
        metrics(store, &tree.path("a"), true, "2024-04").await,
        [
            rows.counter("a", "api_requests", 200),
            rows.counter("a1", "api_requests", 300),
            rows.counter("a11", "api_requests", 400),
        ]
    );
    // A path naming no org has no metrics.
    assert_eq!(metrics(store, "/r/nobody/", true, "2024-05").await, []);
}

async fn month_metrics_of_a_subtree_include_tombstoned_descendants(store: &dyn Store) {
    // r ─ a ─ a1 (†) ─ a11 (†)
    //       └ a2
    let tree = Tree::of("r/a/a1/a11 r/a/a2");
    tree.insert(store).await;
    let rows = Rows(&tree);
    add(
        store,
        &[
            delta("a1", "2024-05", "api_requests", 3),
            delta("a11", "2024-05", "api_requests", 4),
            delta("a2", "2024-05", "api_requests", 5),
        ],
    )
    .await;
    set(store, "a1", "2024-04", "children", 1).await;
    tombstone(store, "a11", at(1)).await;
    tombstone(store, "a1", at(2)).await;
    // Counted after the tombstone, too (a late batch of traffic).
    add(store, &[delta("a11", "2024-05", "api_requests", 6)]).await;

    assert_eq!(
        metrics(store, &tree.path("a"), true, "2024-05").await,
        [
            rows.counter("a1", "api_requests", 3),
            rows.gauge("a1", "children", 1, 1),
            rows.counter("a11", "api_requests", 10),
            rows.counter("a2", "api_requests", 5),
        ]
    );
    assert_eq!(
        metrics(store, &tree.path("a1"), false, "2024-05").await,
        [
            rows.counter("a1", "api_requests", 3),
            rows.gauge("a1", "children", 1, 1),
        ]
    );
}

async fn month_metrics_carry_gauges_forward_into_months_without_rows(store: &dyn Store) {
    let tree = Tree::of("r/a/a1");
    tree.insert(store).await;
    let rows = Rows(&tree);
    let a = tree.path("a");

    for current in [4, 7, 2] {
        set(store, "a", "2023-11", "children", current).await;
    }
    add(store, &[delta("a", "2023-11", "api_requests", 9)]).await;
    set(store, "a1", "2024-02", "applications", 3).await;

    // Counters never carry; gauges carry their last value as current and peak,
    // across a year's end.
    assert_eq!(
        metrics(store, &a, false, "2023-11").await,
        [
            rows.counter("a", "api_requests", 9),
            rows.gauge("a", "children", 2, 7),
        ]
    );
    for m in ["2023-12", "2024-01"] {
        assert_eq!(
            metrics(store, &a, true, m).await,
            [rows.gauge("a", "children", 2, 2)],
            "{m}"
        );
    }
    assert_eq!(
        metrics(store, &a, true, "2024-02").await,
        [
            rows.gauge("a", "children", 2, 2),
            rows.gauge("a1", "applications", 3, 3),
        ]
    );

    // A later change shows from its month on; months between keep the old value.
    set(store, "a", "2024-05", "children", 6).await;
    assert_eq!(
        metrics(store, &a, true, "2024-04").await,
        [
            rows.gauge("a", "children", 2, 2),
            rows.gauge("a1", "applications", 3, 3),
        ]
    );
    assert_eq!(
        metrics(store, &a, false, "2024-05").await,
        [rows.gauge("a", "children", 6, 6)]
    );
    assert_eq!(
        metrics(store, &a, true, "2025-07").await,
        [
            rows.gauge("a", "children", 6, 6),
            rows.gauge("a1", "applications", 3, 3),
        ]
    );
}

async fn month_metrics_have_no_gauges_before_their_first_month(store: &dyn Store) {
    let tree = Tree::of("r/a/a1");
    tree.insert(store).await;
    let rows = Rows(&tree);
    let a = tree.path("a");
    set(store, "a", "2024-05", "children", 1).await;
    set(store, "a1", "2024-03", "workspaces", 2).await;
    add(store, &[delta("a", "2024-04", "api_requests", 5)]).await;

    assert_eq!(
        metrics(store, &a, true, "2024-04").await,
        [
            rows.counter("a", "api_requests", 5),
            rows.gauge("a1", "workspaces", 2, 2),
        ]
    );
    assert_eq!(metrics(store, &a, true, "2024-02").await, []);
    assert_eq!(metrics(store, &a, true, "2023-12").await, []);
    assert_eq!(
        metrics(store, &a, false, "2024-05").await,
        [rows.gauge("a", "children", 1, 1)]
    );
}

crate::cases![
    add_counters_accumulate_across_calls_and_drop_unknown_orgs,
    add_counters_sums_repeated_counters_within_one_call,
    claiming_a_usage_key_succeeds_once_per_org,
    pruning_usage_keys_forgets_only_older_claims,
    set_gauge_keeps_the_months_peak_and_starts_from_the_carried_value,
    month_metrics_cover_one_org_or_its_subtree_only,
    month_metrics_of_a_subtree_include_tombstoned_descendants,
    month_metrics_carry_gauges_forward_into_months_without_rows,
    month_metrics_have_no_gauges_before_their_first_month,
];
