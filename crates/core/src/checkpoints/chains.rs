//! What an org's chain holds at a `seq`: the question every check of a
//! chain against a checkpoint asks of the store.

use crate::Result;
use crate::ids::OrgId;
use crate::store::Tx;

/// What an org's chain holds at a `seq`.
pub(crate) enum ChainAt {
    /// The hash of its event there (or of its prune anchor, when that was
    /// the last event removed).
    Hash(String),
    /// Retention removed the event, and the anchor is further on.
    PrunedPast,
    Missing,
}

pub(crate) async fn chain_at(tx: &mut dyn Tx, org: &OrgId, seq: i64) -> Result<ChainAt> {
    if let Some(hash) = tx.audit_event_hash(org, seq).await? {
        return Ok(ChainAt::Hash(hash));
    }
    Ok(match tx.audit_anchor(org).await? {
        Some(a) if a.seq == seq => ChainAt::Hash(a.hash),
        Some(a) if a.seq > seq => ChainAt::PrunedPast,
        _ => ChainAt::Missing,
    })
}
