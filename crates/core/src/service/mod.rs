//! The operations of orgd. Each one opens a store transaction, applies the
//! authorization rules of [`crate::authz`], makes its change, appends the audit
//! events of that change and commits: one path for every mutation.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::api_keys::{self, KeyRecord, Permissions};
use crate::audit::{Actor, AuditEvent, GENESIS_HASH, Target};
use crate::authz::Principal;
use crate::clock::Clock;
use crate::events::{Event, NewEvent};
use crate::ids::{OrgId, prefixed_ulid};
use crate::limits::Limit;
use crate::orgs::OrgRecord;
use crate::store::{Invalidation, InvalidationSink, Store, StoreError, Tx};
use crate::{Error, Result};

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
/// net should a notification from another node be missed (see `org_cache`).
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
    pub(crate) audit: crate::checkpoints::signing::AuditSigning,
}

/// What hot reads are served from; see [`org_cache`] for the rules.
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

    pub(crate) async fn change<'a>(
        &'a self,
        who: &Principal,
        origin: &'a Origin,
    ) -> Result<Change<'a>> {
        Ok(Change {
            tx: self.store.begin().await?,
            actor: who.actor(),
            origin,
            now: self.now(),
            caches: &self.caches,
            stale: None,
            events: Vec::new(),
            feed: &self.feed,
        })
    }

    /// The org with this id as last committed, from memory when it can be;
    /// `None` when no such org ever existed. Tombstones are returned, so
    /// callers decide reach as with a database read.
    pub(crate) async fn org_record(&self, id: &OrgId) -> Result<Option<Arc<OrgRecord>>> {
        if let Some(org) = self.caches.orgs.get(id) {
            return Ok(Some(org));
        }
        let generation = self.caches.orgs.generation();
        let mut tx = self.store.read().await?;
        let Some(org) = tx.org(id).await? else {
            return Ok(None);
        };
        let org = Arc::new(org);
        self.caches.orgs.put(org.clone(), generation);
        Ok(Some(org))
    }

    /// The org and its ancestors, root first, from memory when it can be.
    pub(crate) async fn lineage_of(&self, org: &OrgRecord) -> Result<Vec<Arc<OrgRecord>>> {
        let ids = org.lineage();
        let mut found: Vec<Option<Arc<OrgRecord>>> =
            ids.iter().map(|id| self.caches.orgs.get(id)).collect();
        let missing: Vec<OrgId> = ids
            .iter()
            .zip(&found)
            .filter(|(_, hit)| hit.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !missing.is_empty() {
            let generation = self.caches.orgs.generation();
            let mut tx = self.store.read().await?;
            for org in tx.orgs_by_ids(&missing).await? {
                let org = Arc::new(org);
                self.caches.orgs.put(org.clone(), generation);
                if let Some(i) = ids.iter().position(|id| *id == org.id) {
                    found[i] = Some(org);
                }
            }
        }
        ids.iter()
            .zip(found)
            .map(|(id, org)| {
                org.ok_or_else(|| Error::Internal(format!("ancestor {id} is missing")))
            })
            .collect()
    }

    /// Creates the root org and a root key holding every permission, unless
    /// the database already has a root. The key's secret is `secret` when
    /// given, else a generated one.
    pub async fn bootstrap(&self, secret: Option<String>) -> Result<Bootstrap> {
        let origin = Origin::default();
        let operator = Principal::operator(self.settings.root_id.clone());
        let mut c = self.change(&operator, &origin).await?;
        if c.tx.root_org().await?.is_some() {
            drop(c);
            return self.bootstrapped_before(secret.as_deref()).await;
        }
        let root = OrgRecord {
            id: self.settings.root_id.clone(),
            name: "Root".into(),
            parent_id: None,
            path: format!("/{}/", self.settings.root_id),
            depth: 1,
            created_at: c.now,
            updated_at: c.now,
            version: 1,
            customizations: Value::Object(Default::default()),
            configs: Default::default(),
            tags: vec![],
            deleted_at: None,
        };
        match c.tx.insert_org(&root).await {
            // Another node bootstrapped the same database first.
            Err(StoreError::Conflict(_)) => {
                drop(c);
                return self.bootstrapped_before(secret.as_deref()).await;
            }
            other => other?,
        }
        c.record(
            &root,
            "org.create",
            Target::org(&root.id),
            Value::Null,
            json(&root.view()),
        )
        .await?;
        let secret = secret.unwrap_or_else(api_keys::generate_secret);
        let key = KeyRecord {
            id: prefixed_ulid("key"),
            org_id: root.id.clone(),
            name: "bootstrap".into(),
            user: None,
            permissions: Permissions::all(),
            digest: api_keys::digest(&secret),
            prefix: api_keys::visible_prefix(&secret),
            created_at: c.now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
        };
        c.tx.insert_key(&key).await?;
        c.record(
            &root,
            "api_key.create",
            Target::key(&key.id),
            Value::Null,
            json(&key.view()),
        )
        .await?;
        c.commit().await?;
        Ok(Bootstrap::Created(secret))
    }

    /// What a secret chosen for bootstrap means to a database bootstrapped
    /// before: nothing, unless it happens to be a live key of the root.
    pub(crate) async fn bootstrapped_before(&self, chosen: Option<&str>) -> Result<Bootstrap> {
        let Some(secret) = chosen else {
            return Ok(Bootstrap::Existing);
        };
        let mut tx = self.store.read().await?;
        let root = tx.root_org().await?;
        let key = tx.key_by_digest(&api_keys::digest(secret)).await?;
        let works = match (root, key) {
            (Some(root), Some((key, _))) => key.org_id == root.id && key.is_usable_at(self.now()),
            _ => false,
        };
        Ok(if works {
            Bootstrap::Existing
        } else {
            Bootstrap::ExistingOtherSecret
        })
    }
}

/// What most operations share.
impl Orgd {
    /// An org the caller reaches, with `perm`, as last committed (from
    /// memory when it can be).
    pub(super) async fn read_org(
        &self,
        who: &Principal,
        id: &str,
        perm: impl Into<Permissions>,
    ) -> Result<Arc<OrgRecord>> {
        let id = path_org_id(id)?;
        who.reach_as(self.org_record(&id).await?, perm)
    }

    /// Writes the org (locked in `c`) as changed: one version step.
    pub(crate) async fn bump(&self, c: &mut Change<'_>, org: &mut OrgRecord) -> Result<()> {
        org.version += 1;
        org.updated_at = c.now;
        c.tx.update_org(org).await?;
        Ok(())
    }
}

/// What [`Orgd::bootstrap`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// A new database: the root org and its root key, with this secret.
    Created(String),
    /// The database had its root already (and the chosen secret, if any, is
    /// one of the root's live keys).
    Existing,
    /// The database had its root already, and the secret chosen for
    /// bootstrap is not a live key of the root: it has no effect.
    ExistingOtherSecret,
}

/// A versioned value: the body and the org version it was read at (its ETag).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

/// One write transaction and the audit events it commits with.
pub(crate) struct Change<'a> {
    pub(crate) tx: Box<dyn Tx>,
    pub(crate) actor: Actor,
    pub(crate) origin: &'a Origin,
    pub(crate) now: DateTime<Utc>,
    pub(crate) caches: &'a Caches,
    /// What the change makes stale, gathered as its events are recorded:
    /// every change to an org's state is recorded, so none is missed.
    pub(crate) stale: Option<Invalidation>,
    /// The events of the change, written just before it commits (the outbox).
    pub(crate) events: Vec<NewEvent>,
    pub(crate) feed: &'a crate::events::feed::Feed,
}

impl Change<'_> {
    /// Appends an event to `org`'s chain. The caller holds `org`'s lock
    /// ([`crate::store::OrgRepo::lock_org`]), so the head cannot move under it.
    pub(crate) async fn record(
        &mut self,
        org: &OrgRecord,
        action: &str,
        target: Target,
        before: Value,
        after: Value,
    ) -> Result<()> {
        let (seq, prev_hash) = match self.tx.audit_head(&org.id).await? {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut event = AuditEvent {
            id: prefixed_ulid("evt"),
            seq,
            timestamp: self.now,
            org_id: org.id.to_string(),
            actor: self.actor.clone(),
            action: action.to_owned(),
            target,
            changes: serde_json::json!({ "before": before, "after": after }),
            request_id: self.origin.request_id.clone(),
            ip: self.origin.ip.clone(),
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        self.tx.insert_event(&event).await?;
        self.events.push(NewEvent::of_audit(&event, org)?);
        self.mark_stale(&org.id, action);
        Ok(())
    }

    /// The `limit.threshold` events of `org`'s usage of `what` going from
    /// `used` to `used + 1` against its effective `limit`.
    pub(crate) fn note_usage(
        &mut self,
        org: &OrgRecord,
        what: &Limit,
        limit: i64,
        used: i64,
    ) -> Result<()> {
        for threshold in crate::events::crossed(limit, used, used + 1) {
            let event = Event::threshold(&org.id, what.name, limit, used + 1, threshold, self.now);
            self.events.push(event.stored(org)?);
        }
        Ok(())
    }

    /// Locks the org for this change, if the caller reaches it and holds
    /// `perm` there (the write side of [`reach_org`]).
    pub(crate) async fn lock_org(
        &mut self,
        who: &Principal,
        id: &OrgId,
        perm: impl Into<Permissions>,
    ) -> Result<OrgRecord> {
        who.reach_as(self.tx.lock_org(id).await?, perm)
    }

    pub(crate) fn mark_stale(&mut self, org: &OrgId, action: &str) {
        // A move rewrites the paths of a whole subtree; a delete may end one.
        let whole_tree = matches!(action, "org.move" | "org.delete");
        self.stale = match self.stale.take() {
            Some(Invalidation::All) => Some(Invalidation::All),
            _ if whole_tree => Some(Invalidation::All),
            Some(Invalidation::Orgs(mut ids)) => {
                if !ids.contains(org) {
                    ids.push(org.clone());
                }
                Some(Invalidation::Orgs(ids))
            }
            None => Some(Invalidation::Orgs(vec![org.clone()])),
        };
    }

    /// Commits, then evicts what the change made stale: a read on this node
    /// that follows the answer sees the change.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let news = !self.events.is_empty();
        self.tx
            .insert_events(std::mem::take(&mut self.events))
            .await?;
        if let Some(what) = &self.stale {
            self.tx.publish_invalidation(what).await?;
        }
        let committed = self.tx.commit().await;
        // Evicted even when the commit failed: its answer may have been lost
        // after it committed, and this node's listener skips the
        // invalidation it published, so nothing else would evict it here.
        // Evicting too much costs only a read.
        if let Some(what) = &self.stale {
            self.caches.invalidate(what);
        }
        committed?;
        if news {
            self.feed.arrived();
        }
        Ok(())
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The org `id` as `tx` sees it, if the caller reaches it and holds `perm`
/// there: the preamble of every read of one org (writes use
/// `Change::lock_org`). The id was taken from the path by [`path_org_id`]
/// first, before any body is checked, so a bad id is a 404 whatever the body.
pub(crate) async fn reach_org(
    tx: &mut dyn Tx,
    who: &Principal,
    id: &OrgId,
    perm: impl Into<Permissions>,
) -> Result<OrgRecord> {
    who.reach_as(tx.org(id).await?, perm)
}

/// An org id taken from a URL path. One that cannot exist is simply not found.
pub fn path_org_id(raw: &str) -> Result<OrgId> {
    OrgId::parse(raw).map_err(|_| Error::NotFound("organization"))
}
