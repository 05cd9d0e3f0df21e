use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::page::PageRequest;
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::store::{ResourceRepo, StoreError, StoreResult};
use orgd_core::time::truncate;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, decode_all, fetch_limit, inserted};

const COLUMNS: &str = "id, name, created_at, metadata";

fn resource_from_row(r: &PgRow) -> Result<Resource, Error> {
    let metadata: String = r.try_get("metadata")?;
    Ok(Resource {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Other(format!("bad stored metadata: {e}")))?,
    })
}

impl PgTx {
    /// The item that `sql` (binding the org, kind and id, returning
    /// [`COLUMNS`]) finds.
    async fn one_resource(
        &mut self,
        sql: &str,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        let row = sqlx::query(sql)
            .bind(org.as_str())
            .bind(kind.plural())
            .bind(id)
            .optional(&mut self.tx)
            .await?;
        Ok(row.as_ref().map(resource_from_row).transpose()?)
    }
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
        .run(&mut self.tx)
        .await?;
        inserted(&done, || {
            format!(
                "org {org} has {} named {:?} (or id {} is taken)",
                kind.plural(),
                item.name,
                item.id
            )
        })
    }

    async fn resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        let sql =
            format!("SELECT {COLUMNS} FROM resources WHERE org_id = $1 AND kind = $2 AND id = $3");
        self.one_resource(&sql, org, kind, id).await
    }

    async fn list_resources(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<Resource>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM resources WHERE org_id = $1 AND kind = $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        ))
        .bind(org.as_str())
        .bind(kind.plural())
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(fetch_limit(page.limit))
        .all(&mut self.tx)
        .await?;
        Ok(decode_all(&rows, resource_from_row)?)
    }

    async fn delete_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        let sql = format!(
            "DELETE FROM resources WHERE org_id = $1 AND kind = $2 AND id = $3 RETURNING {COLUMNS}"
        );
        self.one_resource(&sql, org, kind, id).await
    }

    async fn count_resources(&mut self, org: &OrgId, kind: ResourceKind) -> StoreResult<i64> {
        let count =
            sqlx::query_scalar("SELECT count(*) FROM resources WHERE org_id = $1 AND kind = $2")
                .bind(org.as_str())
                .bind(kind.plural())
                .one(&mut self.tx)
                .await?;
        Ok(count)
    }

    async fn delete_org_resources(&mut self, org: &OrgId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM resources WHERE org_id = $1")
            .bind(org.as_str())
            .run(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}
