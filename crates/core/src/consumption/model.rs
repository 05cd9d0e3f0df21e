//! Monthly consumption: counters (`api_requests` and ingested metrics) and
//! gauges (`{current, peak}` of limited resources and child orgs), per org and
//! UTC month.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::FieldError;

/// A UTC calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn of(t: DateTime<Utc>) -> Self {
        Self {
            year: t.year(),
            month: t.month(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&month).then_some(Self { year, month })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The counter every authenticated request naming an org adds to.
pub const API_REQUESTS: &str = "api_requests";

/// The longest idempotency key of a usage event, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// How old an ingested event may be.
pub const MAX_EVENT_AGE: Duration = Duration::days(35);
/// How far ahead of the server's clock an event may be (clock skew).
pub const MAX_EVENT_SKEW: Duration = Duration::minutes(5);
/// Idempotency keys of usage events are remembered this long: longer than
/// the oldest event accepted, so a retry can never be counted twice.
pub const USAGE_KEY_RETENTION: Duration = Duration::days(40);
pub const MAX_USAGE_BATCH: usize = 1000;

/// The largest quantity one usage event may carry. A month's counter
/// saturates at `i64::MAX` rather than overflow.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000_000;

/// One usage event as posted.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageEvent {
    /// `^[a-z][a-z0-9_.]{0,63}$`, other than the metrics orgd counts itself
    /// (`api_requests`, `applications`, `workspaces`, `usergroups`, `children`).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::schema::Metric, example = "storage.gb_hours")
    )]
    pub metric: String,
    #[cfg_attr(
        feature = "openapi",
        schema(example = 42, maximum = 1_000_000_000_000_000_u64)
    )]
    #[serde(deserialize_with = "crate::integer::u64")]
    pub quantity: u64,
    /// RFC 3339, at most 35 days old and not in the future; default: now.
    /// Decides the month.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Timestamp>))]
    pub timestamp: Option<String>,
    /// Events with the same key are counted once, even across restarts
    /// (1–255 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::schema::IdempotencyKey>)
    )]
    pub idempotency_key: Option<String>,
}

/// A validated usage event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub metric: String,
    pub quantity: i64,
    pub month: Month,
    pub idempotency_key: Option<String>,
}

fn valid_metric(m: &str) -> bool {
    let b = m.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.'))
}

pub fn parse_usage(
    events: Vec<UsageEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<Usage>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if events.is_empty() || events.len() > MAX_USAGE_BATCH {
        errors.push(FieldError::new(
            "body",
            format!("send 1 to {MAX_USAGE_BATCH} events"),
        ));
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let mut err =
            |field: &str, msg: &str| errors.push(FieldError::new(format!("[{i}].{field}"), msg));
        if !valid_metric(&e.metric) {
            err("metric", "must match ^[a-z][a-z0-9_.]{0,63}$");
        } else if e.metric == API_REQUESTS || crate::limits::gauges().any(|g| g == e.metric) {
            err("metric", "is counted by orgd itself");
        }
        let Some(quantity) = i64::try_from(e.quantity)
            .ok()
            .filter(|q| *q <= MAX_QUANTITY)
        else {
            err("quantity", "must be at most 10^15");
            continue;
        };
        let at = match e.timestamp.as_deref().map(crate::time::parse) {
            None => now,
            Some(Some(t)) if t < now - MAX_EVENT_AGE => {
                err("timestamp", "is more than 35 days old");
                now
            }
            Some(Some(t)) if t > now + MAX_EVENT_SKEW => {
                err("timestamp", "is in the future");
                now
            }
            Some(Some(t)) => t,
            Some(None) => {
                err("timestamp", "must be an RFC 3339 timestamp");
                now
            }
        };
        if e.idempotency_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS)
        {
            err("idempotency_key", "must be 1 to 255 characters");
        }
        out.push(Usage {
            metric: e.metric,
            quantity,
            month: Month::of(at),
            idempotency_key: e.idempotency_key,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A metric's value in a month: a counter, or a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum MetricValue {
    Counter(i64),
    Gauge { current: i64, peak: i64 },
}

impl MetricValue {
    fn add(&mut self, other: MetricValue) {
        *self = match (*self, other) {
            (MetricValue::Counter(a), MetricValue::Counter(b)) => {
                MetricValue::Counter(a.saturating_add(b))
            }
            (
                MetricValue::Gauge {
                    current: c1,
                    peak: p1,
                },
                MetricValue::Gauge {
                    current: c2,
                    peak: p2,
                },
            ) => MetricValue::Gauge {
                current: c1 + c2,
                peak: p1 + p2,
            },
            (mine, _) => mine,
        };
    }
}

pub type Metrics = BTreeMap<String, MetricValue>;

/// Adds `other` into `into`, metric by metric.
pub fn add_metrics(into: &mut Metrics, other: &Metrics) {
    for (k, v) in other {
        match into.get_mut(k) {
            Some(mine) => mine.add(*v),
            None => {
                into.insert(k.clone(), *v);
            }
        }
    }
}

/// Metrics with every gauge present (zero when nothing was recorded).
pub fn with_all_gauges(mut m: Metrics) -> Metrics {
    for g in crate::limits::gauges() {
        m.entry(g.to_owned()).or_insert(MetricValue::Gauge {
            current: 0,
            peak: 0,
        });
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_print() {
        assert_eq!(
            Month::parse("2024-02").map(|m| m.to_string()),
            Some("2024-02".into())
        );
        for bad in [
            "2024-13", "2024-00", "2024-2", "24-02", "2024/02", "abcd-ef",
        ] {
            assert!(Month::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn usage_is_validated_per_event() {
        let now = crate::time::parse("2024-03-10T00:00:00Z").unwrap_or_default();
        let ok = UsageEvent {
            metric: "storage.gb".into(),
            quantity: 5,
            timestamp: None,
            idempotency_key: None,
        };
        let old = UsageEvent {
            timestamp: Some("2024-01-01T00:00:00Z".into()),
            ..ok.clone()
        };
        let bad_metric = UsageEvent {
            metric: "Storage".into(),
            ..ok.clone()
        };
        let ours = UsageEvent {
            metric: "api_requests".into(),
            ..ok.clone()
        };
        let errs = parse_usage(vec![ok.clone(), old, bad_metric, ours], now)
            .err()
            .unwrap_or_default();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["[1].timestamp", "[2].metric", "[3].metric"]);
        let last_month = UsageEvent {
            timestamp: Some("2024-02-20T00:00:00Z".into()),
            ..ok
        };
        let parsed = parse_usage(vec![last_month], now).unwrap_or_default();
        assert_eq!(parsed[0].month.to_string(), "2024-02");
    }

    #[test]
    fn metrics_add_up() {
        let mut a = Metrics::from([
            ("x".into(), MetricValue::Counter(2)),
            (
                "children".into(),
                MetricValue::Gauge {
                    current: 1,
                    peak: 3,
                },
            ),
        ]);
        let b = Metrics::from([
            ("x".into(), MetricValue::Counter(5)),
            (
                "children".into(),
                MetricValue::Gauge {
                    current: 2,
                    peak: 2,
                },
            ),
        ]);
        add_metrics(&mut a, &b);
        assert_eq!(a["x"], MetricValue::Counter(7));
        assert_eq!(
            a["children"],
            MetricValue::Gauge {
                current: 3,
                peak: 5
            }
        );
    }
}
