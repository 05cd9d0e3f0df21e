use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::page::PageRequest;
use orgd_core::resources::{Resource, ResourceKind};
use orgd_core::store::{ResourceRepo, StoreError, StoreResult};
use orgd_core::time::truncate;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{PgTx, fetch_limit, map_err};

const COLUMNS: &str = "id, name, created_at, metadata";

fn resource_from_row(r: &PgRow) -> StoreResult<Resource> {
    let metadata: String = r.try_get("metadata").map_err(map_err)?;
    Ok(Resource {
        id: r.try_get("id").map_err(map_err)?,
        name: r.try_get("name").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Other(format!("bad stored metadata: {e}")))?,
    })
}

#[async_trait]
impl ResourceRepo for PgTx {
    async fn insert_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        item: &Resource,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO resources (org_id, kind, id, name, created_at, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(org.as_str())
        .bind(kind.plural())
        .bind(&item.id)
        .bind(&item.name)
        .bind(truncate(item.created_at))
        .bind(item.metadata.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "org {org} has {} named {:?} (or id {} is taken)",
                kind.plural(),
                item.name,
                item.id
            )));
        }
        Ok(())
    }

    async fn resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM resources WHERE org_id = $1 AND kind = $2 AND id = $3"
        ))
        .bind(org.as_str())
        .bind(kind.plural())
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(resource_from_row)
        .transpose()
    }

    async fn list_resources(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<Resource>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM resources WHERE org_id = $1 AND kind = $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        ))
        .bind(org.as_str())
        .bind(kind.plural())
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(fetch_limit(page.limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?
        .iter()
        .map(resource_from_row)
        .collect()
    }

    async fn delete_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        sqlx::query(&format!(
            "DELETE FROM resources WHERE org_id = $1 AND kind = $2 AND id = $3 \
             RETURNING {COLUMNS}"
        ))
        .bind(org.as_str())
        .bind(kind.plural())
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(resource_from_row)
        .transpose()
    }

    async fn count_resources(&mut self, org: &OrgId, kind: ResourceKind) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT count(*) FROM resources WHERE org_id = $1 AND kind = $2")
            .bind(org.as_str())
            .bind(kind.plural())
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)
    }

    async fn delete_org_resources(&mut self, org: &OrgId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM resources WHERE org_id = $1")
            .bind(org.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
