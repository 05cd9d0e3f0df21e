//! `Idempotency-Key` on POST: a retry with the same key and body within 24 h
//! replays the first response; the same key with another body is refused.
//!
//! The first request claims the key before it runs and stores its response
//! after. A claim whose request died with its process is taken over once it is
//! older than [`IN_FLIGHT_TIMEOUT`]; until then a retry is told to wait.

use chrono::Duration;

use super::Orgd;
use crate::error::ConflictKind;
use crate::store::{IdempotencyRecord, StoreError, StoredResponse};
use crate::{Error, Result};

pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);
/// Longer than any request may run (the server's request timeout is shorter).
const IN_FLIGHT_TIMEOUT: Duration = Duration::seconds(120);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First time: run the request, then call [`Orgd::idempotency_finish`].
    Proceed,
    /// Seen before: send this response again.
    Replay(StoredResponse),
}

impl Orgd {
    pub async fn idempotency_begin(
        &self,
        key_id: &str,
        idempotency_key: &str,
        fingerprint: &str,
    ) -> Result<IdempotencyStart> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(r) = tx.idempotency(key_id, idempotency_key).await? {
            let expired = now - r.created_at >= IDEMPOTENCY_TTL;
            let abandoned = r.response.is_none() && now - r.created_at >= IN_FLIGHT_TIMEOUT;
            if !expired && !abandoned {
                if r.fingerprint != fingerprint {
                    return Err(Error::conflict(
                        ConflictKind::IdempotencyReuse,
                        "this Idempotency-Key was already used with a different request",
                    ));
                }
                return match r.response {
                    Some(resp) => Ok(IdempotencyStart::Replay(resp)),
                    None => Err(in_progress()),
                };
            }
            tx.delete_idempotency(key_id, idempotency_key).await?;
        }
        let claim = IdempotencyRecord {
            key_id: key_id.to_owned(),
            idempotency_key: idempotency_key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            created_at: now,
            response: None,
        };
        match tx.insert_idempotency(&claim).await {
            Err(StoreError::Conflict(_)) => return Err(in_progress()),
            other => other?,
        }
        tx.commit().await?;
        Ok(IdempotencyStart::Proceed)
    }

    /// Stores the response to replay, or with `None` releases the claim so
    /// that a retry runs again (after a server error).
    pub async fn idempotency_finish(
        &self,
        key_id: &str,
        idempotency_key: &str,
        response: Option<&StoredResponse>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        match response {
            Some(r) => tx.complete_idempotency(key_id, idempotency_key, r).await?,
            None => tx.delete_idempotency(key_id, idempotency_key).await?,
        }
        Ok(tx.commit().await?)
    }

    /// Forgets idempotency records past their 24 hours.
    pub async fn prune_idempotency(&self) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        let n = tx.prune_idempotency(self.now() - IDEMPOTENCY_TTL).await?;
        tx.commit().await?;
        Ok(n)
    }
}

fn in_progress() -> Error {
    Error::conflict(
        ConflictKind::IdempotencyInProgress,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}
