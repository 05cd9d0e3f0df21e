//! Cache invalidations between nodes: a change publishes what it made stale
//! with `pg_notify` inside its transaction, so PostgreSQL delivers it exactly
//! when (and only if) the change commits; every node listens on its own
//! connection and evicts what it is told.

use std::time::Duration;

use orgd_core::ids::OrgId;
use orgd_core::store::{Invalidation, InvalidationSink};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

pub(crate) const CHANNEL: &str = "orgd_invalidate";
/// What a payload says for [`Invalidation::All`].
const ALL: &str = "*";
/// PostgreSQL refuses payloads of 8000 bytes or more; a change touching that
/// many orgs says "everything" instead.
const MAX_PAYLOAD: usize = 7900;

pub(crate) fn encode(what: &Invalidation) -> String {
    match what {
        Invalidation::All => ALL.to_owned(),
        Invalidation::Orgs(ids) => {
            // Org ids never contain spaces (see `OrgId::parse`).
            let joined = ids.iter().map(OrgId::as_str).collect::<Vec<_>>().join(" ");
            if joined.len() > MAX_PAYLOAD || joined.is_empty() {
                ALL.to_owned()
            } else {
                joined
            }
        }
    }
}

pub(crate) fn decode(payload: &str) -> Invalidation {
    if payload == ALL {
        return Invalidation::All;
    }
    Invalidation::Orgs(
        payload
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| OrgId::from_trusted(s.to_owned()))
            .collect(),
    )
}

/// A connection of `pool` listening on [`CHANNEL`].
pub(crate) async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Hands what `listener` hears to `sink` until `pool` closes. Whenever
/// notifications may have been missed (the connection dropped, or listening
/// again failed) the sink hears [`Invalidation::All`].
pub(crate) async fn relay(mut listener: PgListener, pool: PgPool, sink: InvalidationSink) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => sink(decode(n.payload())),
            // The connection dropped and was made again: whatever was
            // published in between is lost.
            Ok(None) => sink(Invalidation::All),
            Err(_) if pool.is_closed() => return,
            Err(e) => {
                tracing::warn!(error = %e, "listening for cache invalidations failed; retrying");
                sink(Invalidation::All);
                tokio::time::sleep(Duration::from_secs(1)).await;
                match listen(&pool).await {
                    Ok(again) => {
                        listener = again;
                        // Anything published while not listening was missed.
                        sink(Invalidation::All);
                    }
                    Err(_) if pool.is_closed() => return,
                    Err(e) => tracing::warn!(error = %e, "listening again failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<OrgId> {
        v.iter().map(|s| OrgId::from_trusted((*s).into())).collect()
    }

    #[test]
    fn payloads_round_trip() {
        let some = Invalidation::Orgs(ids(&["a", "org_01h"]));
        assert_eq!(decode(&encode(&some)), some);
        assert_eq!(decode(&encode(&Invalidation::All)), Invalidation::All);
        let many = Invalidation::Orgs(ids(&["x".repeat(100).as_str(); 100]));
        assert_eq!(encode(&many), "*");
    }
}
