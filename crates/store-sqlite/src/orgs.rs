use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::org::{OrgRecord, subtree_upper_bound};
use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, OrgRepo, StoreError, StoreResult};
use orgd_core::tags::Tag;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{SqliteTx, fetch_limit, map_err, parse_json, parse_opt_ts, parse_ts, ts};

impl SqliteTx {
    /// Loads the tags of `orgs` in one query.
    async fn with_tags(&mut self, mut orgs: Vec<OrgRecord>) -> StoreResult<Vec<OrgRecord>> {
        if orgs.is_empty() {
            return Ok(orgs);
        }
        let mut b = QueryBuilder::<Sqlite>::new(
            "SELECT org_id, id, name, created_at FROM org_tags WHERE org_id IN (",
        );
        let mut ids = b.separated(", ");
        for o in &orgs {
            ids.push_bind(o.id.to_string());
        }
        b.push(") ORDER BY name");
        for r in b.build().fetch_all(&mut *self.tx).await.map_err(map_err)? {
            let org_id: String = r.try_get("org_id").map_err(map_err)?;
            let tag = Tag {
                id: r.try_get("id").map_err(map_err)?,
                name: r.try_get("name").map_err(map_err)?,
                created_at: parse_ts(r.try_get("created_at").map_err(map_err)?)?,
            };
            if let Some(o) = orgs.iter_mut().find(|o| o.id.as_str() == org_id) {
                o.tags.push(tag);
            }
        }
        Ok(orgs)
    }

    async fn one_with_tags(&mut self, org: Option<OrgRecord>) -> StoreResult<Option<OrgRecord>> {
        match org {
            None => Ok(None),
            Some(o) => Ok(self.with_tags(vec![o]).await?.pop()),
        }
    }
}

const COLUMNS: &str = "id, name, parent_id, path, depth, created_at, updated_at, version, \
     customizations, configs, deleted_at";

fn configs_json(c: &orgd_core::configs::Configs) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn org_from_row(r: &SqliteRow) -> StoreResult<OrgRecord> {
    Ok(OrgRecord {
        id: OrgId::from_trusted(r.try_get("id").map_err(map_err)?),
        name: r.try_get("name").map_err(map_err)?,
        parent_id: r
            .try_get::<Option<String>, _>("parent_id")
            .map_err(map_err)?
            .map(OrgId::from_trusted),
        path: r.try_get("path").map_err(map_err)?,
        depth: r.try_get("depth").map_err(map_err)?,
        created_at: parse_ts(r.try_get("created_at").map_err(map_err)?)?,
        updated_at: parse_ts(r.try_get("updated_at").map_err(map_err)?)?,
        version: r.try_get("version").map_err(map_err)?,
        customizations: parse_json(r.try_get("customizations").map_err(map_err)?)?,
        configs: serde_json::from_str(r.try_get("configs").map_err(map_err)?)
            .map_err(|e| StoreError::Other(format!("bad stored configs: {e}")))?,
        tags: Vec::new(),
        deleted_at: parse_opt_ts(r.try_get("deleted_at").map_err(map_err)?)?,
    })
}

#[async_trait]
impl OrgRepo for SqliteTx {
    async fn org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
        let org = sqlx::query(&format!("SELECT {COLUMNS} FROM orgs WHERE id = ?"))
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org_from_row)
            .transpose()?;
        self.one_with_tags(org).await
    }

    async fn lock_org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
        // Write transactions begin IMMEDIATE and there is one writer: the
        // whole database is already locked.
        self.org(id).await
    }

    async fn root_org(&mut self) -> StoreResult<Option<OrgRecord>> {
        let org = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM orgs WHERE parent_id IS NULL"
        ))
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(org_from_row)
        .transpose()?;
        self.one_with_tags(org).await
    }

    async fn insert_org(&mut self, o: &OrgRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO orgs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(o.id.as_str())
        .bind(&o.name)
        .bind(o.parent_id.as_ref().map(OrgId::as_str))
        .bind(&o.path)
        .bind(o.depth)
        .bind(ts(o.created_at))
        .bind(ts(o.updated_at))
        .bind(o.version)
        .bind(o.customizations.to_string())
        .bind(configs_json(&o.configs))
        .bind(o.deleted_at.map(ts))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn update_org(&mut self, o: &OrgRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE orgs SET name = ?, parent_id = ?, path = ?, depth = ?, updated_at = ?, \
             version = ?, customizations = ?, configs = ?, deleted_at = ? WHERE id = ?",
        )
        .bind(&o.name)
        .bind(o.parent_id.as_ref().map(OrgId::as_str))
        .bind(&o.path)
        .bind(o.depth)
        .bind(ts(o.updated_at))
        .bind(o.version)
        .bind(o.customizations.to_string())
        .bind(configs_json(&o.configs))
        .bind(o.deleted_at.map(ts))
        .bind(o.id.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn move_subtree(&mut self, old_path: &str, new_path: &str) -> StoreResult<()> {
        let depth_delta =
            new_path.matches('/').count() as i64 - old_path.matches('/').count() as i64;
        sqlx::query(
            "UPDATE orgs SET path = ? || substr(path, ?), depth = depth + ? \
             WHERE path >= ? AND path < ?",
        )
        .bind(new_path)
        .bind(old_path.len() as i64 + 1)
        .bind(depth_delta)
        .bind(old_path)
        .bind(subtree_upper_bound(old_path))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_orgs(
        &mut self,
        q: &OrgQuery,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<OrgRecord>> {
        let mut b = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {COLUMNS} FROM orgs WHERE deleted_at IS NULL AND path >= "
        ));
        b.push_bind(q.subtree_of.clone())
            .push(" AND path < ")
            .push_bind(subtree_upper_bound(&q.subtree_of));
        if !q.include_root {
            b.push(" AND path <> ").push_bind(q.subtree_of.clone());
        }
        if let Some(p) = &q.parent_id {
            b.push(" AND parent_id = ").push_bind(p.to_string());
        }
        if let Some(prefix) = &q.name_prefix {
            b.push(" AND substr(name, 1, ")
                .push_bind(prefix.chars().count() as i64)
                .push(") = ")
                .push_bind(prefix.clone());
        }
        for tag in &q.tags {
            b.push(" AND EXISTS (SELECT 1 FROM org_tags t WHERE t.org_id = orgs.id AND t.name = ")
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(after) = &page.after {
            b.push(" AND id > ").push_bind(after.clone());
        }
        b.push(" ORDER BY id LIMIT ")
            .push_bind(fetch_limit(page.limit));
        let orgs = b
            .build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(org_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.with_tags(orgs).await
    }

    async fn count_live_children(&mut self, id: &OrgId) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT count(*) FROM orgs WHERE parent_id = ? AND deleted_at IS NULL")
            .bind(id.as_str())
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)
    }

    async fn max_depth_in_subtree(&mut self, path: &str) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT coalesce(max(depth), 0) FROM orgs \
             WHERE deleted_at IS NULL AND path >= ? AND path < ?",
        )
        .bind(path)
        .bind(subtree_upper_bound(path))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(map_err)
    }

    async fn live_subtree(&mut self, path: &str) -> StoreResult<Vec<OrgRecord>> {
        let orgs = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM orgs WHERE deleted_at IS NULL AND path >= ? AND path < ? \
             ORDER BY depth DESC, id"
        ))
        .bind(path)
        .bind(subtree_upper_bound(path))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?
        .iter()
        .map(org_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        self.with_tags(orgs).await
    }

    async fn all_org_ids(&mut self) -> StoreResult<Vec<OrgId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM orgs ORDER BY id")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(ids.into_iter().map(OrgId::from_trusted).collect())
    }

    async fn orgs_by_ids(&mut self, ids: &[OrgId]) -> StoreResult<Vec<OrgRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut b =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM orgs WHERE id IN ("));
        let mut list = b.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        b.push(")");
        let orgs = b
            .build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(org_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.with_tags(orgs).await
    }
}
