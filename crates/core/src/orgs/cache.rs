//! Recently read org records (with their tags), so the reads that every
//! request makes (the org in the path, its ancestors for effective configs
//! and customizations) are served from memory.
//!
//! Exact invalidation: every audited change names the orgs whose state it
//! changed ([`crate::service::change::Change`] collects them as it records their events) and
//! evicts them once it has committed, so this node reads its own writes at
//! once. Moves and deletes change whole subtrees and clear everything. Other
//! nodes sharing a PostgreSQL database learn of the same changes through the
//! store ([`crate::store::Store::watch_invalidations`]). The TTL
//! ([`DEFAULT_TTL`] unless the operator sets another) is the safety net should a notification ever be missed (or another process, such
//! as the CLI, write to a SQLite file).
//!
//! A read that raced an eviction must not put what it read back: fills carry
//! the generation read before the database was, and [`OrgCache::put`] undoes
//! a fill an eviction overtook.
//!
//! Reads decide nothing that must be exact: `If-Match` and every limit check
//! read the org again, locked, inside the write transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ids::OrgId;
use crate::orgs::OrgRecord;

/// How long an entry is trusted without a notification, by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);
/// What the cache may hold, by the estimated size of its records.
pub const CAPACITY_BYTES: u64 = 32 * 1024 * 1024;
/// Estimated per-record overhead beyond its strings and JSON.
const RECORD_OVERHEAD: u64 = 400;

#[derive(Clone)]
struct Entry {
    at: Instant,
    weight: u64,
    org: Arc<OrgRecord>,
}

#[derive(Clone, Default)]
struct ByWeight;

impl quick_cache::Weighter<OrgId, Entry> for ByWeight {
    fn weight(&self, _: &OrgId, e: &Entry) -> u64 {
        e.weight
    }
}

pub struct OrgCache {
    ttl: Duration,
    entries: quick_cache::sync::Cache<OrgId, Entry, ByWeight>,
    /// Bumped by every eviction, before it removes anything.
    generation: AtomicU64,
}

impl OrgCache {
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(CAPACITY_BYTES, ttl)
    }
}

impl std::fmt::Debug for OrgCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgCache")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl OrgCache {
    pub fn with_capacity(bytes: u64, ttl: Duration) -> Self {
        let estimated_items = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16);
        Self {
            ttl,
            entries: quick_cache::sync::Cache::with_weighter(estimated_items, bytes, ByWeight),
            generation: AtomicU64::new(0),
        }
    }

    /// The org, if read within the TTL and not changed since.
    pub fn get(&self, id: &OrgId) -> Option<Arc<OrgRecord>> {
        let e = self.entries.get(id)?;
        (e.at.elapsed() < self.ttl).then_some(e.org)
    }

    /// Read before reading an org from the database; pass it to [`OrgCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches `org`, read from the database after `generation` was taken.
    pub fn put(&self, org: Arc<OrgRecord>, generation: u64) {
        if self.generation() != generation {
            return;
        }
        let id = org.id.clone();
        let entry = Entry {
            at: Instant::now(),
            weight: weight(&org),
            org,
        };
        self.entries.insert(id.clone(), entry);
        // An eviction between the check above and the insert removed
        // nothing; it bumped the generation first, so it is seen here and
        // the fill is undone (possibly taking a fresher entry with it, which
        // only costs a read).
        if self.generation() != generation {
            self.entries.remove(&id);
        }
    }

    pub fn evict(&self, ids: &[OrgId]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for id in ids {
            self.entries.remove(id);
        }
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }
}

/// Roughly what the record costs in memory.
fn weight(org: &OrgRecord) -> u64 {
    let json = |v: &serde_json::Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    let configs = serde_json::to_vec(&org.configs).map_or(0, |b| b.len());
    let tags: usize = org
        .tags
        .iter()
        .map(|t| 64 + t.id.len() + t.name.len())
        .sum();
    let bytes = org.id.as_str().len()
        + org.name.len()
        + org.path.len()
        + json(&org.customizations)
        + configs
        + tags;
    RECORD_OVERHEAD + u64::try_from(bytes).unwrap_or(u64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str, name: &str) -> Arc<OrgRecord> {
        Arc::new(OrgRecord {
            id: OrgId::from_trusted(id.into()),
            name: name.into(),
            parent_id: None,
            path: format!("/{id}/"),
            depth: 1,
            created_at: chrono::DateTime::default(),
            updated_at: chrono::DateTime::default(),
            version: 1,
            customizations: serde_json::json!({}),
            configs: Default::default(),
            tags: vec![],
            deleted_at: None,
        })
    }

    #[test]
    fn a_fill_overtaken_by_an_eviction_is_not_kept() {
        let cache = OrgCache::new(DEFAULT_TTL);
        let a = OrgId::from_trusted("a".into());
        let before = cache.generation();
        cache.evict(std::slice::from_ref(&a));
        cache.put(org("a", "old"), before);
        assert!(cache.get(&a).is_none());

        cache.put(org("a", "new"), cache.generation());
        assert_eq!(
            cache.get(&a).map(|o| o.name.clone()).as_deref(),
            Some("new")
        );
        cache.evict(std::slice::from_ref(&a));
        assert!(cache.get(&a).is_none());

        cache.put(org("a", "new"), cache.generation());
        cache.clear();
        assert!(cache.get(&a).is_none());
    }

    #[test]
    fn the_capacity_bounds_what_is_held() {
        let cache = OrgCache::with_capacity(64 * 1024, DEFAULT_TTL);
        for i in 0..10_000 {
            cache.put(org(&format!("org{i}"), "n"), cache.generation());
        }
        assert!(cache.entries.weight() <= 64 * 1024);
        assert!(cache.entries.len() < 10_000);
    }
}
