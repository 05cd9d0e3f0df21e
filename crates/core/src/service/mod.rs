//! The kernel of orgd: [`Orgd`] (the store, the clock, the settings, the
//! caches, the feed's waker and the signing state), [`change::Change`] (one
//! path for every mutation), reach ([`reach`]) and the first start
//! ([`bootstrap`]).
//!
//! The operations themselves sit with their resources (`orgs/service.rs`,
//! `api_keys/service.rs`, …), each an `impl Orgd` block: one opens a store
//! transaction, applies the authorization rules of [`crate::authz`], makes
//! its change, appends the audit events of that change and commits.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::ids::OrgId;
use crate::store::{Invalidation, InvalidationSink, Store};
use crate::{Error, Result};

pub mod bootstrap;
pub(crate) mod change;
pub(crate) mod reach;

/// How deep the tree may go unless told otherwise; the root is level 1.
pub const DEFAULT_MAX_DEPTH: i64 = 16;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Id given to the root at bootstrap.
    pub root_id: OrgId,
    /// Deepest level an org may sit at; the root is level 1.
    pub max_depth: i64,
    /// Requests a minute for keys without a limit of their own; `None`: no limit.
    pub default_rate_limit_per_minute: Option<u32>,
    pub cache_ttl: CacheTtl,
    /// Let webhooks reach loopback, private and link-local addresses (tests,
    /// private networks); refused otherwise (SSRF).
    pub webhook_allow_private_targets: bool,
}

/// How long cached reads are trusted without hearing of a change: the safety
/// net should a notification from another node be missed (see `crate::orgs::cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtl {
    pub orgs: std::time::Duration,
    pub keys: std::time::Duration,
}

impl CacheTtl {
    pub const DEFAULT: Self = Self {
        orgs: crate::orgs::cache::DEFAULT_TTL,
        keys: crate::api_keys::cache::DEFAULT_TTL,
    };
}

impl Default for CacheTtl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where a request came from, as the audit trail records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// A precondition from `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Version(i64),
    /// An ETag this server never issues: never matches.
    Never,
}

impl IfMatch {
    pub(crate) fn check(self, version: i64) -> Result<()> {
        match self {
            IfMatch::Any => Ok(()),
            IfMatch::Version(v) if v == version => Ok(()),
            _ => Err(Error::PreconditionFailed { current: version }),
        }
    }
}

pub struct Orgd {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) caches: Arc<Caches>,
    pub(crate) feed: Arc<crate::events::feed::Feed>,
    pub(crate) audit: crate::checkpoints::signing_state::AuditSigning,
}

/// What hot reads are served from; see [`crate::orgs::cache`] for the rules.
#[derive(Debug)]
pub(crate) struct Caches {
    pub(crate) orgs: crate::orgs::cache::OrgCache,
    pub(crate) keys: crate::api_keys::cache::KeyCache,
}

impl Caches {
    pub(crate) fn new(ttl: CacheTtl) -> Self {
        Self {
            orgs: crate::orgs::cache::OrgCache::new(ttl.orgs),
            keys: crate::api_keys::cache::KeyCache::new(ttl.keys),
        }
    }

    /// One rule for changes made here and changes other nodes announce.
    pub(crate) fn invalidate(&self, what: &Invalidation) {
        match what {
            Invalidation::Orgs(ids) => {
                self.orgs.evict(ids);
                for id in ids {
                    self.keys.evict_org(id);
                }
            }
            Invalidation::All => {
                self.orgs.clear();
                self.keys.clear();
            }
        }
    }
}

impl Orgd {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            caches: Arc::new(Caches::new(settings.cache_ttl)),
            feed: Arc::default(),
            audit: Default::default(),
            store,
            clock,
            settings,
        }
    }

    /// Subscribes the caches to the changes other nodes sharing the database
    /// announce. A server calls it before it serves: from then on, a change
    /// committed anywhere reaches its caches.
    pub async fn watch_other_nodes(&self) -> Result<()> {
        let caches = self.caches.clone();
        let feed = self.feed.clone();
        // Every change another node commits announces what it made stale, and
        // every change that writes events is such a change: the same word
        // wakes this node's feed readers.
        let sink: InvalidationSink = Arc::new(move |what| {
            caches.invalidate(&what);
            feed.arrived();
        });
        Ok(self.store.watch_invalidations(sink).await?)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store's connection pools, for `/metrics`.
    pub fn pool_stats(&self) -> Vec<crate::store::PoolStats> {
        self.store.pool_stats()
    }

    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}

/// A versioned value: the body and the org version it was read at (its ETag).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}
