//! Times the audit trail's signed checkpoints on a large tree, for
//! `bench/run.sh`: the first checkpoint (every leaf stored), then the
//! steady state, after `--moved` orgs' chains moved on: once with the last
//! tree in memory (a running server), once in a new process that reads it
//! back from the database (a server just started).
//!
//! Usage: `bench_checkpoint DATABASE_URL [--moved N]`, on a database with
//! audit events and no checkpoint yet. Prints `name|milliseconds|leaves`
//! lines on stdout.

use std::sync::Arc;
use std::time::Instant;

use orgd::config::{DatabaseArgs, DatabaseUrl};
use orgd_core::audit::{Actor, AuditEvent, Target};
use orgd_core::checkpoints::service::CheckpointMade;
use orgd_core::clock::SystemClock;
use orgd_core::ids::OrgId;
use orgd_core::service::{Orgd, Settings};
use orgd_core::store::{OpenMode, Store};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn service(store: &Arc<dyn Store>) -> Orgd {
    let settings = Settings {
        root_id: OrgId::from_trusted("root".into()),
        max_depth: orgd_core::service::DEFAULT_MAX_DEPTH,
        default_rate_limit_per_minute: None,
        cache_ttl: Default::default(),
        webhook_allow_private_targets: false,
    };
    Orgd::new(store.clone(), Arc::new(SystemClock), settings)
}

/// Times one checkpoint; prints its line.
async fn timed(orgd: &Orgd, name: &str) -> Result<()> {
    let started = Instant::now();
    let made = orgd.make_checkpoint().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let CheckpointMade::Made(c) = made else {
        return Err(format!("{name}: no checkpoint was made ({made:?})").into());
    };
    println!("{name}|{ms:.0}|{}", c.tree_size);
    Ok(())
}

/// Appends one event to the chains of `n` orgs, spread over the tree.
async fn move_heads(orgd: &Orgd, store: &dyn Store, n: usize) -> Result<()> {
    let mut tx = store.read().await?;
    let heads = tx.audit_heads().await?;
    drop(tx);
    let step = (heads.len() / n.max(1)).max(1);
    let mut tx = store.begin().await?;
    for h in heads.iter().step_by(step).take(n) {
        let org = OrgId::from_trusted(h.org_id.to_owned());
        let mut e = AuditEvent {
            id: orgd_core::ids::prefixed_ulid("evt"),
            seq: h.seq + 1,
            timestamp: orgd.now(),
            org_id: h.org_id.to_owned(),
            actor: Actor {
                key_id: Some("key_bench".into()),
                user: None,
            },
            action: "org.update".into(),
            target: Target::org(&org),
            changes: serde_json::json!({"before": {"name": "a"}, "after": {"name": "b"}}),
            request_id: None,
            ip: None,
            prev_hash: h.hash.to_owned(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        tx.insert_audit_event(&e).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_checkpoint DATABASE_URL [--moved N]";
    let url = args.next().ok_or(usage)?;
    let moved: usize = match (args.next().as_deref(), args.next()) {
        (Some("--moved"), Some(n)) => n.parse()?,
        (None, _) => 1000,
        _ => return Err(usage.into()),
    };
    let db = DatabaseArgs::new(DatabaseUrl::new(&url));
    let store = orgd::app::open_store(&db, OpenMode::Existing).await?;
    let orgd = service(&store);
    orgd.prepare_audit_key().await?;
    timed(&orgd, "first checkpoint (every leaf stored)").await?;
    move_heads(&orgd, store.as_ref(), moved).await?;
    timed(&orgd, &format!("{moved} heads moved, last tree in memory")).await?;
    move_heads(&orgd, store.as_ref(), moved).await?;
    let restarted = service(&store);
    timed(
        &restarted,
        &format!("{moved} heads moved, last tree read back"),
    )
    .await?;
    store.close().await;
    Ok(())
}
