use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::store::{StoreResult, TagRepo};
use orgd_core::tags::Tag;
use rusqlite::params;

use crate::SqliteTx;
use crate::orgs::tag_from_row;
use crate::sql::{execute, row, ts};

#[async_trait]
impl TagRepo for SqliteTx {
    async fn insert_tag(&mut self, org: &OrgId, tag: &Tag) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO org_tags (id, org_id, name, created_at) VALUES (?, ?, ?, ?)",
            params![tag.id, org.as_str(), tag.name, ts(tag.created_at)],
        )?;
        Ok(())
    }

    async fn delete_tag(&mut self, org: &OrgId, tag_id: &str) -> StoreResult<Option<Tag>> {
        Ok(row(
            self.conn()?,
            "DELETE FROM org_tags WHERE org_id = ? AND id = ? RETURNING id, name, created_at",
            params![org.as_str(), tag_id],
            tag_from_row,
        )?)
    }
}
