//! Builds a realistic large tree for `bench/run.sh`, through the store (the
//! same writes orgd makes, hash chains included), in minutes:
//!
//! root → R resellers → C customers each → the rest spread as teams under
//! the customers, so that a customer's subtree holds about 50 orgs. Every org
//! gets `--events` audit events (its creation, then renames), `--access`
//! access-log entries and a year of monthly counters.
//!
//! Usage: `bench_gen DATABASE_URL ROOT_SECRET [--orgs N] [--events N] [--access N]`.
//! The database must be new; it is bootstrapped with ROOT_SECRET as orgd
//! would.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use orgd::config::{DatabaseArgs, DatabaseUrl};
use orgd_core::access_log::{AccessEntry, Outcome, Source};
use orgd_core::audit::{Actor, AuditEvent, GENESIS_HASH, Target};
use orgd_core::clock::SystemClock;
use orgd_core::consumption::Month;
use orgd_core::ids::OrgId;
use orgd_core::orgs::OrgRecord;
use orgd_core::service::{Orgd, Settings};
use orgd_core::store::{CounterDelta, OpenMode, Store};

/// Orgs written per transaction.
const BATCH: usize = 500;
/// Teams per customer: with the customer itself, a 50-org subtree.
const TEAMS: usize = 49;

struct Args {
    url: String,
    secret: String,
    orgs: usize,
    events: usize,
    access: usize,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let usage = "usage: bench_gen DATABASE_URL ROOT_SECRET [--orgs N] [--events N] [--access N]";
    let url = it.next().ok_or(usage)?;
    let secret = it.next().ok_or(usage)?;
    let mut a = Args {
        url,
        secret,
        orgs: 100_000,
        events: 10,
        access: 100,
    };
    while let Some(flag) = it.next() {
        let n: usize = it
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--orgs" => a.orgs = n,
            "--events" => a.events = n.max(1),
            "--access" => a.access = n,
            _ => return Err(usage.into()),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let started = Instant::now();
    let db = DatabaseArgs::new(DatabaseUrl::new(&a.url));
    let store = orgd::app::open_store(&db, OpenMode::Create).await?;
    let root_id = OrgId::parse("root")?;
    let settings = Settings {
        root_id: root_id.clone(),
        max_depth: orgd_core::service::DEFAULT_MAX_DEPTH,
        default_rate_limit_per_minute: None,
        cache_ttl: Default::default(),
        webhook_allow_private_targets: false,
    };
    let orgd = Orgd::new(store.clone(), Arc::new(SystemClock), settings);
    orgd.bootstrap(Some(a.secret.clone())).await?;

    let customers_wanted = (a.orgs / (TEAMS + 1)).max(1);
    let resellers = (customers_wanted / 50).max(1);
    let now = orgd.now();
    let mut written = 0usize;
    let mut batch: Vec<OrgRecord> = Vec::with_capacity(BATCH);
    let root_path = format!("/{root_id}/");
    let mut plan: Vec<OrgRecord> = Vec::new();
    for r in 0..resellers {
        let reseller = org(&format!("r{r}"), &root_id, &root_path, now);
        let customers: Vec<usize> = (0..customers_wanted)
            .filter(|c| c % resellers == r)
            .collect();
        let reseller_path = reseller.path.clone();
        let reseller_id = reseller.id.clone();
        plan.push(reseller);
        for c in customers {
            let customer = org(&format!("c{c}"), &reseller_id, &reseller_path, now);
            let (cid, cpath) = (customer.id.clone(), customer.path.clone());
            plan.push(customer);
            for t in 0..TEAMS {
                plan.push(org(&format!("c{c}-t{t}"), &cid, &cpath, now));
            }
        }
    }
    plan.truncate(a.orgs.max(resellers));
    for o in plan {
        batch.push(o);
        if batch.len() == BATCH {
            write_batch(store.as_ref(), &batch, &a, now).await?;
            written += batch.len();
            batch.clear();
            if written.is_multiple_of(10_000) {
                eprintln!("bench_gen: {written} orgs in {:.0?}", started.elapsed());
            }
        }
    }
    if !batch.is_empty() {
        written += batch.len();
        write_batch(store.as_ref(), &batch, &a, now).await?;
    }
    store.close().await;
    eprintln!(
        "bench_gen: {written} orgs, {} audit events, {} access entries in {:.0?}",
        written * a.events,
        written * a.access,
        started.elapsed()
    );
    Ok(())
}

fn org(id: &str, parent: &OrgId, parent_path: &str, now: chrono::DateTime<Utc>) -> OrgRecord {
    OrgRecord {
        id: OrgId::from_trusted(id.to_owned()),
        name: format!("Org {id}"),
        parent_id: Some(parent.clone()),
        path: format!("{parent_path}{id}/"),
        depth: i64::try_from(parent_path.matches('/').count()).unwrap_or(1),
        created_at: now - Duration::days(365),
        updated_at: now,
        version: 1,
        customizations: serde_json::json!({"theme": {"color": "#123456"}}),
        configs: Default::default(),
        tags: vec![],
        deleted_at: None,
    }
}

async fn write_batch(
    store: &dyn Store,
    orgs: &[OrgRecord],
    a: &Args,
    now: chrono::DateTime<Utc>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx = store.begin().await?;
    let actor = Actor {
        key_id: Some("key_bench".into()),
        user: None,
    };
    let mut access = Vec::with_capacity(orgs.len() * a.access);
    let mut counters = Vec::new();
    for o in orgs {
        tx.insert_org(o).await?;
        let mut prev = GENESIS_HASH.to_owned();
        for seq in 1..=a.events {
            let (action, changes) = if seq == 1 {
                (
                    "org.create",
                    serde_json::json!({"before": null, "after": {"id": o.id, "name": o.name}}),
                )
            } else {
                (
                    "org.update",
                    serde_json::json!({"before": {"name": "old"}, "after": {"name": format!("name {seq}")}}),
                )
            };
            let mut e = AuditEvent {
                id: orgd_core::ids::prefixed_ulid("evt"),
                seq: i64::try_from(seq)?,
                timestamp: now - Duration::minutes(i64::try_from(a.events - seq)? * 60),
                org_id: o.id.to_string(),
                actor: actor.clone(),
                action: action.into(),
                target: Target {
                    kind: "org".into(),
                    id: o.id.to_string(),
                },
                changes,
                request_id: None,
                ip: None,
                prev_hash: prev,
                hash: String::new(),
            };
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            tx.insert_audit_event(&e).await?;
        }
        for i in 0..a.access {
            access.push(AccessEntry {
                id: orgd_core::ids::prefixed_ulid("acc"),
                timestamp: now - Duration::minutes(i64::try_from(i)? * 7),
                org_id: o.id.to_string(),
                user: Some("bench@example.com".into()),
                key_id: Some("key_bench".into()),
                action: "orgs.get".into(),
                status: Outcome::Success,
                http_status: Some(200),
                method: Some("GET".into()),
                path: Some(format!("/orgs/{}", o.id)),
                ip: Some("10.0.0.1".into()),
                user_agent: Some("bench".into()),
                request_id: None,
                latency_ms: Some(1),
                source: Source::Api,
                details: None,
            });
        }
        for back in 0..12 {
            let month = Month::of(now - Duration::days(30 * back));
            for (metric, amount) in [("api_requests", 1000 + back), ("storage.bytes", 5000)] {
                counters.push(CounterDelta {
                    org_id: o.id.to_string(),
                    month,
                    metric: metric.into(),
                    amount,
                });
            }
        }
    }
    let access: Vec<_> = access.iter().map(AccessEntry::to_ref).collect();
    for chunk in access.chunks(5_000) {
        tx.insert_access_entries(chunk).await?;
    }
    orgd_core::consumption::rollups::add_counters(tx.as_mut(), &counters).await?;
    tx.commit().await?;
    Ok(())
}
