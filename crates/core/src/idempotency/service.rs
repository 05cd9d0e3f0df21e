//! `Idempotency-Key` on POST: a retry with the same key and body within 24 h
//! replays the first response; the same key with another body is refused.
//!
//! The first request claims the key before it runs and stores its response
//! after. A claim whose request died with its process is taken over once it is
//! older than [`IN_FLIGHT_TIMEOUT`]; until then a retry is told to wait.

use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::canonical::canonical_json;
use crate::error::ConflictKind;
use crate::service::Orgd;
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

/// What makes two requests the same request: the method, the URI and the
/// body, compared as the JSON value it parses to, so that the same JSON with
/// its keys in another order or other whitespace is the same request. A
/// body that is no JSON is compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Of the body's canonical form (`canonical::canonical_json`): what is
    /// stored.
    canonical: String,
    /// Of the body's bytes as sent: what fingerprints were before they
    /// compared parsed values. A record holding one (kept 24 h, so across
    /// an upgrade) still matches the same bytes; and a stored canonical
    /// fingerprint that equals it was made from exactly these bytes, so it
    /// never matches another request.
    bytes: String,
}

impl Fingerprint {
    pub fn of(method: &str, uri: &str, body: &[u8]) -> Self {
        let hash = |body: &[u8]| {
            let mut h = Sha256::new();
            h.update(method.as_bytes());
            h.update(b"\n");
            h.update(uri.as_bytes());
            h.update(b"\n");
            h.update(body);
            hex::encode(h.finalize())
        };
        let bytes = hash(body);
        let canonical = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => hash(canonical_json(&v).as_bytes()),
            Err(_) => bytes.clone(),
        };
        Self { canonical, bytes }
    }

    /// Whether a stored fingerprint is this request's.
    fn matches(&self, stored: &str) -> bool {
        stored == self.canonical || stored == self.bytes
    }
}

impl Orgd {
    pub async fn idempotency_begin(
        &self,
        key_id: &str,
        idempotency_key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<IdempotencyStart> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(r) = tx.idempotency(key_id, idempotency_key).await? {
            let expired = now - r.created_at >= IDEMPOTENCY_TTL;
            let abandoned = r.response.is_none() && now - r.created_at >= IN_FLIGHT_TIMEOUT;
            if !expired && !abandoned {
                if !fingerprint.matches(&r.fingerprint) {
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
            fingerprint: fingerprint.canonical.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn of(body: &str) -> Fingerprint {
        Fingerprint::of("POST", "/orgs/a/tags", body.as_bytes())
    }

    #[test]
    fn the_same_json_is_the_same_request_whatever_its_key_order_or_spacing() {
        let first = of(r#"{"name": "gold", "description": {"b": 1, "a": [1, 2]}}"#);
        let again = of("{\"description\":{\"a\":[1,2],\"b\":1},\n  \"name\":\"gold\"}");
        assert!(again.matches(&first.canonical));
        for other in [
            r#"{"name": "silver", "description": {"b": 1, "a": [1, 2]}}"#,
            r#"{"name": "gold", "description": {"b": 1, "a": [2, 1]}}"#,
            r#"{"name": "gold"}"#,
        ] {
            assert!(!of(other).matches(&first.canonical), "{other}");
        }
        let elsewhere = Fingerprint::of("POST", "/orgs/b/tags", br#"{"name": "gold"}"#);
        assert!(!elsewhere.matches(&of(r#"{"name": "gold"}"#).canonical));
    }

    #[test]
    fn a_body_that_is_no_json_is_compared_byte_for_byte() {
        let first = of("{not json");
        assert!(of("{not json").matches(&first.canonical));
        assert!(!of("{not  json").matches(&first.canonical));
        assert!(of("").matches(&of("").canonical));
    }

    /// A record stored before fingerprints compared parsed values holds the
    /// hash of the bytes: the same bytes still match it, others do not.
    #[test]
    fn a_fingerprint_stored_before_the_upgrade_still_matches_its_bytes() {
        let body = r#"{"name": "gold",  "x": 1}"#;
        let mut h = Sha256::new();
        h.update(format!("POST\n/orgs/a/tags\n{body}"));
        let stored_before = hex::encode(h.finalize());
        assert!(of(body).matches(&stored_before));
        assert!(!of(r#"{"x": 1, "name": "gold"}"#).matches(&stored_before));
    }
}
