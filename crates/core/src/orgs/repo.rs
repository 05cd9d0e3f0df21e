//! What a store keeps of orgs, as a trait each database implements.

use async_trait::async_trait;

use super::model::OrgRecord;
use crate::error::StoreResult;
use crate::ids::OrgId;
use crate::page::PageRequest;

/// Which live orgs a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgQuery {
    /// Only orgs in the subtree rooted at this path.
    pub subtree_of: String,
    /// Whether the subtree's own root is included.
    pub include_root: bool,
    pub parent_id: Option<OrgId>,
    pub name_prefix: Option<String>,
    /// Only orgs carrying every one of these tag names.
    pub tags: Vec<String>,
}

#[async_trait]
pub trait OrgRepo {
    /// An org by id, tombstones included.
    async fn org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>>;
    /// Like [`OrgRepo::org`], and holds the org's lock until the transaction
    /// ends. Every change to an org's state or audit chain takes it first.
    async fn lock_org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>>;
    /// The root org, if the database has been bootstrapped.
    async fn root_org(&mut self) -> StoreResult<Option<OrgRecord>>;
    /// Fails with [`crate::error::StoreError::Conflict`] when the id was ever used.
    async fn insert_org(&mut self, org: &OrgRecord) -> StoreResult<()>;
    /// Writes every field of an existing org.
    async fn update_org(&mut self, org: &OrgRecord) -> StoreResult<()>;
    /// Rewrites the paths and depths of every org (tombstones too) under
    /// `old_path`, the subtree's root included, to lie under `new_path`.
    async fn move_subtree(&mut self, old_path: &str, new_path: &str) -> StoreResult<()>;
    /// Live orgs matching `q`, ordered by id.
    async fn list_orgs(
        &mut self,
        q: &OrgQuery,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<OrgRecord>>;
    async fn count_live_children(&mut self, id: &OrgId) -> StoreResult<i64>;
    /// The largest depth of a live org in the subtree rooted at `path`.
    async fn max_depth_in_subtree(&mut self, path: &str) -> StoreResult<i64>;
    /// Every live org in the subtree rooted at `path`, deepest first, locked
    /// against concurrent writes until the transaction ends (a cascading
    /// delete rewrites them all): call it in a write transaction.
    async fn live_subtree(&mut self, path: &str) -> StoreResult<Vec<OrgRecord>>;
    /// The orgs with these ids (tombstones included), in no particular order.
    async fn orgs_by_ids(&mut self, ids: &[OrgId]) -> StoreResult<Vec<OrgRecord>>;
    /// The id of every org that ever existed (tombstones included), ordered
    /// by id bytewise: what `orgd audit verify --all` walks.
    async fn all_org_ids(&mut self) -> StoreResult<Vec<OrgId>>;
    /// The id and path of the org at `path` and of every org beneath it,
    /// tombstones included, ordered by id bytewise.
    async fn subtree_orgs(&mut self, path: &str) -> StoreResult<Vec<(OrgId, String)>>;
    /// The orgs (tombstones included) whose configs set a key starting
    /// with `audit.`: what the audit retention is decided from.
    async fn orgs_with_audit_configs(&mut self) -> StoreResult<Vec<OrgRecord>>;
    /// Orders changes to the tree's shape, before any org lock is taken:
    /// moves and cascading deletes take it exclusively, creating an org takes
    /// it shared. Org locks alone cannot stop two crossing moves from making
    /// a cycle, or a new child from landing under a subtree being deleted.
    /// A store whose write transactions never overlap (SQLite's single
    /// writer) needs nothing here.
    async fn lock_tree(&mut self, _exclusive: bool) -> StoreResult<()> {
        Ok(())
    }
}
