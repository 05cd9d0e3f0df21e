//! Test data, made through the store traits only: fixed instants, org trees,
//! keys, tags, audit chains, idempotency records, access log entries and
//! resources, and a few assertion and concurrency helpers.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use chrono::{DateTime, TimeDelta, Utc};
use orgd_core::access_log::{AccessEntry, Outcome, Source};
use orgd_core::api_keys::{KeyRecord, Permission, Permissions, digest, visible_prefix};
use orgd_core::audit::{Actor, AuditEvent, GENESIS_HASH, Target};
use orgd_core::configs::Configs;
use orgd_core::ids::OrgId;
use orgd_core::orgs::{OrgRecord, child_path};
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::store::{IdempotencyRecord, Store, StoreError, StoreResult};
use orgd_core::tags::Tag;
use orgd_core::time::truncate;
use serde_json::json;

/// A fixed instant. It has sub-millisecond digits before truncation, so a test
/// built on it also checks that stores keep exactly millisecond precision.
pub fn t0() -> DateTime<Utc> {
    let raw = DateTime::from_timestamp(1_714_979_289, 123_456_789).expect("a valid instant");
    truncate(raw)
}

/// `t0` plus some seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

/// `t0` plus some milliseconds.
pub fn at_ms(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

pub fn oid(s: &str) -> OrgId {
    OrgId::parse(s).expect("a valid org id")
}

/// A live root org with default fields.
pub fn root_org(id: &str) -> OrgRecord {
    let id = oid(id);
    OrgRecord {
        name: format!("Org {id}"),
        parent_id: None,
        path: child_path("/", &id),
        depth: 1,
        created_at: t0(),
        updated_at: t0(),
        version: 1,
        customizations: json!({}),
        configs: Configs::new(),
        tags: Vec::new(),
        deleted_at: None,
        id,
    }
}

/// A live org placed under `parent`, with default fields.
pub fn child_org(parent: &OrgRecord, id: &str) -> OrgRecord {
    let mut org = root_org(id);
    org.parent_id = Some(parent.id.clone());
    org.path = child_path(&parent.path, &org.id);
    org.depth = parent.depth + 1;
    org
}

/// An org tree built in memory, parents before children, then inserted in
/// one transaction.
#[derive(Debug, Clone)]
pub struct Tree {
    orgs: Vec<OrgRecord>,
}

impl Tree {
    pub fn new(root: &str) -> Self {
        Self {
            orgs: vec![root_org(root)],
        }
    }

    /// The tree of the orgs along each `/`-separated path of `paths`
    /// (`"r/a/a1 r/b"`), each under the one before it, in the order they
    /// first appear. The first path starts at the root; every other path at
    /// an org already in the tree.
    pub fn of(paths: &str) -> Self {
        let first = paths.split_whitespace().next().expect("a path");
        let mut tree = Self::new(first.split('/').next().expect("a root"));
        for path in paths.split_whitespace() {
            let ids: Vec<&str> = path.split('/').collect();
            for pair in ids.windows(2) {
                if !tree.orgs.iter().any(|o| o.id.as_str() == pair[1]) {
                    tree = tree.add(pair[0], pair[1]);
                }
            }
        }
        tree
    }

    /// Adds `id` under the org `parent` (already in the tree).
    pub fn add(mut self, parent: &str, id: &str) -> Self {
        let org = child_org(self.org(parent), id);
        self.orgs.push(org);
        self
    }

    /// Adds `id` under `parent` with the given name.
    pub fn add_named(mut self, parent: &str, id: &str, name: &str) -> Self {
        let mut org = child_org(self.org(parent), id);
        org.name = name.to_owned();
        self.orgs.push(org);
        self
    }

    pub fn org(&self, id: &str) -> &OrgRecord {
        self.orgs
            .iter()
            .find(|o| o.id.as_str() == id)
            .unwrap_or_else(|| panic!("no org {id:?} in the test tree"))
    }

    pub fn path(&self, id: &str) -> String {
        self.org(id).path.clone()
    }

    pub fn orgs(&self) -> &[OrgRecord] {
        &self.orgs
    }

    /// Inserts every org of the tree and commits.
    pub async fn insert(&self, store: &dyn Store) {
        let mut tx = store.begin().await.expect("begin");
        for org in &self.orgs {
            tx.insert_org(org).await.expect("insert_org");
        }
        tx.commit().await.expect("commit");
    }
}

/// Marks the stored org `id` deleted (as the service does: a tombstone).
pub async fn tombstone(store: &dyn Store, id: &str, when: DateTime<Utc>) -> OrgRecord {
    let mut tx = store.begin().await.expect("begin");
    let mut org = tx
        .lock_org(&oid(id))
        .await
        .expect("lock_org")
        .expect("org exists");
    org.deleted_at = Some(when);
    org.updated_at = when;
    org.version += 1;
    tx.update_org(&org).await.expect("update_org");
    tx.commit().await.expect("commit");
    org
}

/// The stored org `id`, read in a fresh read transaction.
pub async fn read_org(store: &dyn Store, id: &str) -> Option<OrgRecord> {
    let mut tx = store.read().await.expect("read");
    tx.org(&oid(id)).await.expect("org")
}

/// The ids of `orgs`, in order.
pub fn org_ids(orgs: &[OrgRecord]) -> Vec<&str> {
    orgs.iter().map(|o| o.id.as_str()).collect()
}

/// A key of `org` whose secret is `secret`; optional fields left empty.
pub fn key(org: &str, id: &str, secret: &str) -> KeyRecord {
    KeyRecord {
        id: id.to_owned(),
        org_id: oid(org),
        name: format!("key {id}"),
        user: None,
        permissions: Permissions::from_iter([Permission::Read]),
        digest: digest(secret),
        prefix: visible_prefix(secret),
        created_at: t0(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        rate_limit_per_minute: None,
    }
}

/// Inserts the keys and commits.
pub async fn insert_keys(store: &dyn Store, keys: &[KeyRecord]) {
    let mut tx = store.begin().await.expect("begin");
    for k in keys {
        tx.insert_key(k).await.expect("insert_key");
    }
    tx.commit().await.expect("commit");
}

/// The ids of `keys`, in order.
pub fn key_ids(keys: &[KeyRecord]) -> Vec<&str> {
    keys.iter().map(|k| k.id.as_str()).collect()
}

/// A tag named `name`, made at `t0`.
pub fn tag(id: &str, name: &str) -> Tag {
    Tag {
        id: id.to_owned(),
        name: name.to_owned(),
        created_at: t0(),
    }
}

/// Inserts the tags on `org` and commits.
pub async fn insert_tags(store: &dyn Store, org: &str, tags: &[Tag]) {
    let mut tx = store.begin().await.expect("begin");
    for t in tags {
        tx.insert_tag(&oid(org), t).await.expect("insert_tag");
    }
    tx.commit().await.expect("commit");
}

/// The names of `tags`, in order.
pub fn tag_names(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(|t| t.name.as_str()).collect()
}

/// One audit event of `org`, linked after `prev_hash` and hashed.
pub fn event(
    org: &str,
    seq: i64,
    prev_hash: &str,
    when: DateTime<Utc>,
    action: &str,
    key_id: Option<&str>,
) -> AuditEvent {
    let mut e = AuditEvent {
        id: format!("evt_{org}_{seq}"),
        seq,
        timestamp: when,
        org_id: org.to_owned(),
        actor: Actor {
            key_id: key_id.map(str::to_owned),
            user: Some("ada@example.com".to_owned()),
        },
        action: action.to_owned(),
        target: Target {
            kind: "org".to_owned(),
            id: org.to_owned(),
        },
        changes: json!({"before": {"version": seq - 1}, "after": {"version": seq, "name": "Ünïcode ✓"}}),
        request_id: Some(format!("req-{seq}")),
        ip: Some("192.0.2.7".to_owned()),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    e
}

/// What an audit chain event varies by.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub when: DateTime<Utc>,
    pub action: &'a str,
    pub key_id: Option<&'a str>,
}

/// A valid chain of events of `org`, seqs 1.., one per step.
pub fn chain(org: &str, steps: &[Step<'_>]) -> Vec<AuditEvent> {
    let mut prev = GENESIS_HASH.to_owned();
    let mut seq = 0;
    steps
        .iter()
        .map(|s| {
            seq += 1;
            let e = event(org, seq, &prev, s.when, s.action, s.key_id);
            prev = e.hash.clone();
            e
        })
        .collect()
}

/// A valid chain of `n` "org.update" events of `org`, one second apart from `t0`.
pub fn simple_chain(org: &str, n: i64) -> Vec<AuditEvent> {
    let steps: Vec<Step<'_>> = (0..n)
        .map(|i| Step {
            when: at(i),
            action: "org.update",
            key_id: Some("key_1"),
        })
        .collect();
    chain(org, &steps)
}

/// Appends one event (key `key_1`) to the chain of `org`, continuing from
/// the stored head, in its own transaction; returns it as stored.
pub async fn append_event(
    store: &dyn Store,
    org: &str,
    when: DateTime<Utc>,
    action: &str,
) -> AuditEvent {
    let mut tx = store.begin().await.expect("begin");
    let (seq, prev) = tx
        .audit_head(&oid(org))
        .await
        .expect("audit_head")
        .unwrap_or((0, GENESIS_HASH.to_owned()));
    let e = event(org, seq + 1, &prev, when, action, Some("key_1"));
    tx.insert_audit_event(&e).await.expect("insert_event");
    tx.commit().await.expect("commit");
    e
}

/// Inserts the events, in order, in one transaction.
pub async fn insert_events(store: &dyn Store, events: &[AuditEvent]) {
    let mut tx = store.begin().await.expect("begin");
    for e in events {
        tx.insert_audit_event(e).await.expect("insert_event");
    }
    tx.commit().await.expect("commit");
}

/// The `seq`s of `events`, in order.
pub fn seqs(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// An idempotency claim with no response yet.
pub fn claim(key_id: &str, idempotency_key: &str, created_at: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        key_id: key_id.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        fingerprint: format!("fp-{key_id}-{idempotency_key}"),
        created_at,
        response: None,
    }
}

/// An API access log entry of `org` at `when`: user `ada@example.com`,
/// action `org.read`, successful; optional request fields left empty.
pub fn access(org: &str, id: &str, when: DateTime<Utc>) -> AccessEntry {
    AccessEntry {
        id: id.to_owned(),
        timestamp: when,
        org_id: org.to_owned(),
        user: Some("ada@example.com".to_owned()),
        key_id: None,
        action: "org.read".to_owned(),
        status: Outcome::Success,
        http_status: None,
        method: None,
        path: None,
        ip: None,
        user_agent: None,
        request_id: None,
        latency_ms: None,
        source: Source::Api,
        details: None,
    }
}

/// Inserts the entries in one call and commits; returns how many were stored.
pub async fn insert_access(store: &dyn Store, entries: &[AccessEntry]) -> u64 {
    let refs: Vec<_> = entries.iter().map(AccessEntry::to_ref).collect();
    let mut tx = store.begin().await.expect("begin");
    let n = tx
        .insert_access_entries(&refs)
        .await
        .expect("insert_access_entries");
    tx.commit().await.expect("commit");
    n
}

/// An item of a resource registry named `name`, made at `t0`, with empty
/// metadata.
pub fn resource(id: &str, name: &str) -> Resource {
    Resource {
        id: id.to_owned(),
        name: name.to_owned(),
        created_at: t0(),
        metadata: json!({}),
    }
}

/// Inserts the items of `kind` on `org` and commits.
pub async fn insert_resources(
    store: &dyn Store,
    org: &str,
    kind: ResourceKind,
    items: &[Resource],
) {
    let mut tx = store.begin().await.expect("begin");
    for item in items {
        tx.insert_resource(&oid(org), kind, item)
            .await
            .unwrap_or_else(|e| panic!("insert_resource {kind:?} {} on {org}: {e}", item.id));
    }
    tx.commit().await.expect("commit");
}

/// The ids of `items`, in order.
pub fn resource_ids(items: &[Resource]) -> Vec<&str> {
    items.iter().map(|r| r.id.as_str()).collect()
}

/// Runs the futures concurrently on the current task (like `tokio::join!`
/// for a list: they borrow the store, so they cannot be spawned) and returns
/// their outputs in order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future is ready"))
        .collect()
}

/// Asserts that `result` is a [`StoreError::Conflict`].
pub fn assert_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}
