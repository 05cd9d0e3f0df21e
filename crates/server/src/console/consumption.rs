//! An org's consumption: a month picker, the last twelve months of one
//! metric drawn as inline SVG (markup, so the page's CSP allows it), and the
//! month's table for the org, its subtree and each child's subtree.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{Months, NaiveDate};
use maud::{Markup, html};
use orgd_core::consumption::{MetricValue, Metrics};

use super::ctx::Ctx;
use super::layout;
use crate::state::AppState;

/// Months the chart shows, ending with the chosen one.
const CHART_MONTHS: u32 = 12;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ConsumptionQuery {
    month: Option<String>,
    metric: Option<String>,
}

/// The number a metric is charted and tabled by: a counter's total, a
/// gauge's peak.
fn amount(v: &MetricValue) -> i64 {
    match v {
        MetricValue::Counter(n) => *n,
        MetricValue::Gauge { peak, .. } => *peak,
    }
}

fn shown(v: Option<&MetricValue>) -> Markup {
    match v {
        Some(MetricValue::Counter(n)) => html! { (n) },
        Some(MetricValue::Gauge { current, peak }) => {
            html! { (current) " " span.muted { "(peak " (peak) ")" } }
        }
        None => html! { span.muted { "—" } },
    }
}

/// `month` (`YYYY-MM`) and the `count - 1` months before it, oldest first.
fn months_ending(month: &str, count: u32) -> Option<Vec<String>> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    (0..count)
        .rev()
        .map(|back| {
            first
                .checked_sub_months(Months::new(back))
                .map(|d| d.format("%Y-%m").to_string())
        })
        .collect()
}

/// A bar chart of `(label, value)`, scaled to the largest value.
fn chart(metric: &str, points: &[(String, i64)]) -> Markup {
    const W: i64 = 600;
    const H: i64 = 160;
    const BOTTOM: i64 = 20;
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let n = i64::try_from(points.len()).unwrap_or(1).max(1);
    let slot = W / n;
    html! {
        svg #chart viewBox={ "0 0 " (W) " " (H) } role="img"
            aria-label={ (metric) " over the last " (points.len()) " months" } {
            title { (metric) " by month" }
            line.axis x1="0" y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) {}
            @for (i, (label, v)) in points.iter().enumerate() {
                @let i = i64::try_from(i).unwrap_or(0);
                @let h = (H - BOTTOM - 14) * v / max;
                @let x = i * slot + 4;
                rect.bar x=(x) y=(H - BOTTOM - h) width=(slot - 8) height=(h) {
                    title { (label) ": " (v) }
                }
                text x=(x + (slot - 8) / 2) y=(H - 6) text-anchor="middle" { (&label[2..]) }
                @if *v > 0 {
                    text x=(x + (slot - 8) / 2) y=(H - BOTTOM - h - 3) text-anchor="middle" { (v) }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
    Query(q): Query<ConsumptionQuery>,
) -> Response {
    let who = ctx.who();
    let month = q
        .month
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let (org, report) = match tokio::try_join!(
        state.orgd.get_org(who, &org_id),
        state.orgd.consumption(who, &org_id, month.as_deref(), true),
    ) {
        Ok(found) => found,
        Err(e) => return layout::domain_error(&e),
    };
    let org = org.view();
    let empty = Metrics::new();
    let subtree = report.subtree.as_ref().unwrap_or(&empty);
    let mut names: Vec<&String> = report.metrics.keys().chain(subtree.keys()).collect();
    names.sort();
    names.dedup();
    let metric = q
        .metric
        .clone()
        .filter(|m| !m.is_empty())
        .or_else(|| names.first().map(|m| (*m).clone()));
    let mut points = Vec::new();
    if let Some(metric) = &metric {
        for m in months_ending(&report.month, CHART_MONTHS).unwrap_or_default() {
            let r = match state.orgd.consumption(who, &org_id, Some(&m), true).await {
                Ok(r) => r,
                Err(e) => return layout::domain_error(&e),
            };
            let total = r
                .subtree
                .as_ref()
                .unwrap_or(&r.metrics)
                .get(metric)
                .map_or(0, amount);
            points.push((m, total));
        }
    }
    let base = format!("/console/orgs/{}/consumption", org.id);
    let body = html! {
        form #month-picker method="get" action=(base) {
            div.inline {
                div { label for="month" { "Month" } input #month name="month" type="month" value=(report.month); }
                @if let Some(m) = &metric { input type="hidden" name="metric" value=(m); }
                button type="submit" { "Show" }
            }
        }
        @if let Some(m) = &metric {
            h2 { (m) ", the subtree, last " (CHART_MONTHS) " months" }
            @if names.len() > 1 {
                p { "Chart: "
                    @for n in &names {
                        @if Some(n.as_str()) == metric.as_deref() { strong { (n) } " " }
                        @else { a href={ (base) "?month=" (report.month) "&metric=" (n) } { (n) } " " }
                    }
                }
            }
            (chart(m, &points))
        } @else {
            p.muted { "No consumption recorded for " (report.month) "." }
        }
        h2 { "Subtree in " (report.month) }
        div.table-wrap {
            table #subtree {
                thead { tr {
                    th scope="col" { "Organization" }
                    @for n in &names { th scope="col" class="num" { (n) } }
                } }
                tbody {
                    tr {
                        th scope="row" { (org.name) " " span.muted { "(own)" } }
                        @for n in &names { td.num { (shown(report.metrics.get(*n))) } }
                    }
                    @for child in report.children.as_deref().unwrap_or_default() {
                        tr {
                            th scope="row" { a href={ "/console/orgs/" (child.org_id) "/consumption?month=" (report.month) } { (child.org_id) } " " span.muted { "(subtree)" } }
                            @for n in &names { td.num { (shown(child.subtree.get(*n))) } }
                        }
                    }
                    tr {
                        th scope="row" { "Whole subtree" }
                        @for n in &names { td.num { strong { (shown(subtree.get(*n))) } } }
                    }
                }
            }
        }
    };
    layout::ok(layout::org_page(&ctx, &org, "/consumption", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_months_end_with_the_chosen_one_across_a_year() {
        let m = months_ending("2026-03", 12).unwrap();
        assert_eq!(m.len(), 12);
        assert_eq!(m.first().unwrap(), "2025-04");
        assert_eq!(m.last().unwrap(), "2026-03");
        assert!(months_ending("2026-13", 12).is_none());
    }

    #[test]
    fn the_chart_scales_to_the_largest_month_and_escapes_nothing_it_did_not_write() {
        let svg = chart(
            "api_requests",
            &[("2026-01".into(), 5), ("2026-02".into(), 10)],
        )
        .into_string();
        assert!(svg.contains("<svg id=\"chart\""));
        assert_eq!(svg.matches("<rect").count(), 2);
        let none = chart("m", &[("2026-01".into(), 0)]).into_string();
        assert!(none.contains("height=\"0\""));
    }
}
