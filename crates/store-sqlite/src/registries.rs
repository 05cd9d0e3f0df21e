use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::page::PageRequest;
use orgd_core::registries::{Resource, ResourceKind};
use orgd_core::store::{ResourceRepo, StoreError, StoreResult};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{count, execute, fetch_limit, parse_ts, row, rows, ts};

macro_rules! columns {
    () => {
        "id, name, created_at, metadata"
    };
}

fn resource_from_row(r: &Row<'_>) -> Result<Resource, Error> {
    let metadata: String = r.get("metadata")?;
    Ok(Resource {
        id: r.get("id")?,
        name: r.get("name")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Other(format!("bad stored metadata: {e}")))?,
    })
}

#[async_trait]
impl ResourceRepo for SqliteTx {
    async fn insert_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        item: &Resource,
    ) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO resources (org_id, kind, id, name, created_at, metadata) \
             VALUES (?, ?, ?, ?, ?, ?)",
            params![
                org.as_str(),
                kind.plural(),
                item.id,
                item.name,
                ts(item.created_at),
                item.metadata.to_string(),
            ],
        )?;
        Ok(())
    }

    async fn resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        Ok(row(
            self.conn()?,
            concat!(
                "SELECT ",
                columns!(),
                " FROM resources WHERE org_id = ? AND kind = ? AND id = ?"
            ),
            params![org.as_str(), kind.plural(), id],
            resource_from_row,
        )?)
    }

    async fn list_resources(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<Resource>> {
        Ok(rows(
            self.conn()?,
            concat!(
                "SELECT ",
                columns!(),
                " FROM resources WHERE org_id = ? AND kind = ? AND id > ? ORDER BY id LIMIT ?"
            ),
            params![
                org.as_str(),
                kind.plural(),
                page.after.as_deref().unwrap_or(""),
                fetch_limit(page.limit),
            ],
            resource_from_row,
        )?)
    }

    async fn delete_resource(
        &mut self,
        org: &OrgId,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Resource>> {
        Ok(row(
            self.conn()?,
            concat!(
                "DELETE FROM resources WHERE org_id = ? AND kind = ? AND id = ? RETURNING ",
                columns!()
            ),
            params![org.as_str(), kind.plural(), id],
            resource_from_row,
        )?)
    }

    async fn count_resources(&mut self, org: &OrgId, kind: ResourceKind) -> StoreResult<i64> {
        Ok(count(
            self.conn()?,
            "SELECT COUNT(*) FROM resources WHERE org_id = ? AND kind = ?",
            params![org.as_str(), kind.plural()],
        )?)
    }

    async fn delete_org_resources(&mut self, org: &OrgId) -> StoreResult<u64> {
        Ok(execute(
            self.conn()?,
            "DELETE FROM resources WHERE org_id = ?",
            [org.as_str()],
        )?)
    }
}
