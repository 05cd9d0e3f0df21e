use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::store::{StoreResult, TagRepo};
use orgd_core::tags::Tag;
use orgd_core::time::truncate;

use crate::PgTx;
use crate::orgs::tag_from_row;
use crate::sql::{Fetch, Run, inserted};

#[async_trait]
impl TagRepo for PgTx {
    async fn insert_tag(&mut self, org: &OrgId, tag: &Tag) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO org_tags (id, org_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&tag.id)
        .bind(org.as_str())
        .bind(&tag.name)
        .bind(truncate(tag.created_at))
        .run(&mut self.tx)
        .await?;
        inserted(&done, || {
            format!(
                "org {org} has a tag named {:?} (or tag id {} is taken)",
                tag.name, tag.id
            )
        })
    }

    async fn delete_tag(&mut self, org: &OrgId, tag_id: &str) -> StoreResult<Option<Tag>> {
        let row = sqlx::query(
            "DELETE FROM org_tags WHERE org_id = $1 AND id = $2 RETURNING id, name, created_at",
        )
        .bind(org.as_str())
        .bind(tag_id)
        .optional(&mut self.tx)
        .await?;
        Ok(row.as_ref().map(tag_from_row).transpose()?)
    }
}
