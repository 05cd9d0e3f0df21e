//! What a store keeps of tags, as a trait each database implements.

use async_trait::async_trait;

use super::model::Tag;
use crate::error::StoreResult;
use crate::ids::OrgId;

#[async_trait]
pub trait TagRepo {
    /// Fails with [`crate::error::StoreError::Conflict`] when the org has a tag of that name.
    async fn insert_tag(&mut self, org: &OrgId, tag: &Tag) -> StoreResult<()>;
    /// Returns the removed tag, if the org had it.
    async fn delete_tag(&mut self, org: &OrgId, tag_id: &str) -> StoreResult<Option<Tag>>;
}
