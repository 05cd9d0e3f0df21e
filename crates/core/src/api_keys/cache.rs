//! Recently resolved API keys, so a request need not read its key from the
//! database every time.
//!
//! An entry is trusted for the TTL at most ([`DEFAULT_TTL`] unless the
//! operator sets another). Every audited change to an org
//! (revoking one of its keys, deleting it) evicts the org's keys when it
//! commits, here and, through the store's notifications, on other nodes
//! sharing the database (see `crate::orgs::cache`). Expiry is checked on every use
//! against the injected clock, so a cached key still stops at `expires_at`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api_keys::KeyRecord;
use crate::authz::Principal;

/// Shorter than the org cache's: a missed notification must not keep a
/// revoked key working for long.
pub const DEFAULT_TTL: Duration = Duration::from_millis(500);
/// Beyond this many entries the cache starts over (a flood of distinct keys
/// cannot grow it without bound).
const MAX_ENTRIES: usize = 10_000;

/// A key as the cache holds it: its record, and the principal it
/// authenticates as, made once and shared by every request with the key.
/// A principal made per request lived on in its access log entry until the
/// traffic writer dropped it, so its strings were freed on the writer's
/// thread; perf put the cache misses those cross-thread frees leave behind
/// in the allocator at about a third of the access log's cost.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub record: Arc<KeyRecord>,
    pub principal: Arc<Principal>,
}

impl CachedKey {
    pub fn new(record: Arc<KeyRecord>) -> Self {
        let principal = Arc::new(Principal {
            key_id: Some(record.id.clone()),
            org_id: record.org_id.clone(),
            user: record.user.clone(),
            permissions: record.permissions,
            rate_limit_per_minute: record.rate_limit_per_minute,
        });
        Self { record, principal }
    }
}

#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, CachedKey)>>,
    /// Bumped by every eviction. A lookup that read the database before an
    /// eviction must not put what it read back in.
    generation: AtomicU64,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
            generation: AtomicU64::default(),
        }
    }

    /// The key with this digest, if resolved (to a live org) within the TTL.
    pub fn get(&self, digest: &str) -> Option<CachedKey> {
        let entries = self.entries.lock().ok()?;
        let (at, key) = entries.get(digest)?;
        (at.elapsed() < self.ttl).then(|| key.clone())
    }

    /// Call before reading a key from the database; pass it to [`KeyCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `key` unless something was evicted since `generation` was read.
    pub fn put(&self, key: CachedKey, generation: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key.record.digest.clone(), (Instant::now(), key));
        }
    }

    /// Evicts every key of `org`.
    pub fn evict_org(&self, org: &crate::ids::OrgId) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.retain(|_, (_, key)| key.record.org_id != *org);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::Permissions;
    use crate::ids::OrgId;

    fn key(digest: &str) -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            org_id: OrgId::from_trusted("root".into()),
            name: "k".into(),
            user: None,
            permissions: Permissions::all(),
            digest: digest.into(),
            prefix: "orgd_".into(),
            created_at: chrono::DateTime::default(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
        }
    }

    #[test]
    fn a_read_that_raced_an_eviction_is_not_cached() {
        let cache = KeyCache::new(DEFAULT_TTL);
        let before = cache.generation();
        cache.evict_org(&OrgId::from_trusted("root".into()));
        cache.put(CachedKey::new(Arc::new(key("d"))), before);
        assert!(cache.get("d").is_none());
        cache.put(CachedKey::new(Arc::new(key("d"))), cache.generation());
        assert!(cache.get("d").is_some());
        cache.clear();
        assert!(cache.get("d").is_none());
    }

    #[test]
    fn every_request_with_a_key_shares_its_principal() {
        let cache = KeyCache::new(DEFAULT_TTL);
        cache.put(CachedKey::new(Arc::new(key("d"))), cache.generation());
        let (a, b) = (cache.get("d").unwrap(), cache.get("d").unwrap());
        assert!(Arc::ptr_eq(&a.principal, &b.principal));
        assert_eq!(a.principal.key_id.as_deref(), Some("key_1"));
    }
}
