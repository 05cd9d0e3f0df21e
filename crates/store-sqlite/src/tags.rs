use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::store::{StoreResult, TagRepo};
use orgd_core::tags::Tag;
use sqlx::Row;

use crate::{SqliteTx, map_err, parse_ts, ts};

#[async_trait]
impl TagRepo for SqliteTx {
    async fn insert_tag(&mut self, org: &OrgId, tag: &Tag) -> StoreResult<()> {
        sqlx::query("INSERT INTO org_tags (id, org_id, name, created_at) VALUES (?, ?, ?, ?)")
            .bind(&tag.id)
            .bind(org.as_str())
            .bind(&tag.name)
            .bind(ts(tag.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_tag(&mut self, org: &OrgId, tag_id: &str) -> StoreResult<Option<Tag>> {
        let row = sqlx::query(
            "DELETE FROM org_tags WHERE org_id = ? AND id = ? RETURNING id, name, created_at",
        )
        .bind(org.as_str())
        .bind(tag_id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        row.map(|r| {
            Ok(Tag {
                id: r.try_get("id").map_err(map_err)?,
                name: r.try_get("name").map_err(map_err)?,
                created_at: parse_ts(r.try_get("created_at").map_err(map_err)?)?,
            })
        })
        .transpose()
    }
}
