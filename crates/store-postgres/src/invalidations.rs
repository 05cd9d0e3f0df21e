//! Cache invalidations between nodes: a change publishes what it made stale
//! with `pg_notify` inside its transaction, so PostgreSQL delivers it exactly
//! when (and only if) the change commits; every node listens on its own
//! connection and evicts what it is told.
//!
//! Each payload names the node that sent it (`@<node> <what>`), and a node
//! skips its own: it evicted at its commit already, and hearing it again a
//! moment later only evicted what reads had cached since, so a read after
//! a write went to the database for no reason. Payloads without a node
//! (an older orgd on the same database) are obeyed.

use std::time::Duration;

use orgd_core::ids::{OrgId, prefixed_ulid};
use orgd_core::store::{Invalidation, InvalidationSink};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

pub(crate) const CHANNEL: &str = "orgd_invalidate";
/// What a payload says for [`Invalidation::All`].
const ALL: &str = "*";
/// Starts the sending node's tag; org ids never start with it.
const NODE_MARK: char = '@';
/// PostgreSQL refuses payloads of 8000 bytes or more; a change touching that
/// many orgs says "everything" instead.
const MAX_PAYLOAD: usize = 7900;

/// A node's tag: random, so two processes on one database never share one.
pub(crate) fn new_node_tag() -> String {
    prefixed_ulid("node")
}

pub(crate) fn encode(node: &str, what: &Invalidation) -> String {
    let what = match what {
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
    };
    format!("{NODE_MARK}{node} {what}")
}

/// The sending node's tag (if the payload names one) and what it made stale.
pub(crate) fn decode(payload: &str) -> (Option<&str>, Invalidation) {
    match payload.strip_prefix(NODE_MARK) {
        Some(tagged) => {
            let (node, what) = tagged.split_once(' ').unwrap_or((tagged, ALL));
            (Some(node), decode_what(what))
        }
        None => (None, decode_what(payload)),
    }
}

fn decode_what(payload: &str) -> Invalidation {
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

/// What node `node` must evict on hearing `payload`: nothing, if it sent it.
fn heard(node: &str, payload: &str) -> Option<Invalidation> {
    match decode(payload) {
        (Some(from), _) if from == node => None,
        (_, what) => Some(what),
    }
}

/// Hands what `listener` hears from other nodes than `node` to `sink` until
/// `pool` closes. Whenever notifications may have been missed (the
/// connection dropped, or listening again failed) the sink hears
/// [`Invalidation::All`].
pub(crate) async fn relay(
    mut listener: PgListener,
    pool: PgPool,
    node: String,
    sink: InvalidationSink,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                if let Some(what) = heard(&node, n.payload()) {
                    sink(what);
                }
            }
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
    fn payloads_round_trip_with_their_node() {
        let some = Invalidation::Orgs(ids(&["a", "org_01h"]));
        assert_eq!(decode(&encode("n1", &some)), (Some("n1"), some));
        let all = Invalidation::All;
        assert_eq!(decode(&encode("n1", &all)), (Some("n1"), all));
        let many = Invalidation::Orgs(ids(&["x".repeat(100).as_str(); 100]));
        assert_eq!(encode("n1", &many), "@n1 *");
    }

    #[test]
    fn payloads_of_an_older_node_name_none() {
        assert_eq!(decode("a b"), (None, Invalidation::Orgs(ids(&["a", "b"]))));
        assert_eq!(decode("*"), (None, Invalidation::All));
    }

    #[test]
    fn a_node_skips_what_it_sent_and_obeys_the_rest() {
        let some = Invalidation::Orgs(ids(&["a"]));
        assert_eq!(heard("n1", &encode("n1", &some)), None);
        assert_eq!(heard("n1", &encode("n1", &Invalidation::All)), None);
        assert_eq!(heard("n2", &encode("n1", &some)), Some(some.clone()));
        assert_eq!(heard("n1", "a"), Some(some));
    }

    #[test]
    fn node_tags_differ() {
        assert_ne!(new_node_tag(), new_node_tag());
    }
}
