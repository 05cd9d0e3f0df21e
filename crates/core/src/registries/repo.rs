//! What a store keeps of registries, as a trait each database implements.

use async_trait::async_trait;

use super::model::{Resource, ResourceKind};
use crate::error::StoreResult;
use crate::ids::OrgId;
use crate::page::PageRequest;

/// The registries of limited resources. Limits are enforced by the service:
/// it takes the org's lock ([`crate::orgs::OrgRepo::lock_org`]), counts, and inserts in
/// one transaction, so a store whose lock serialises those transactions
/// enforces every limit exactly.
#[async_trait]
pub trait ResourceRepo {
    /// Fails with [`crate::error::StoreError::Conflict`] when the org has an item of this
    /// kind with the same name (or id).
    async fn insert_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        item: &Resource,
    ) -> StoreResult<()>;
    async fn resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>>;
    /// The org's items of this kind, ordered by id.
    async fn list_resources(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<Resource>>;
    /// Returns the removed item, if the org had it.
    async fn delete_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>>;
    async fn count_resources(&mut self, org: &OrgId, kind: ResourceKind) -> StoreResult<i64>;
    /// Removes every item of every kind the org holds (it is being deleted);
    /// returns how many.
    async fn delete_org_resources(&mut self, org: &OrgId) -> StoreResult<u64>;
}
