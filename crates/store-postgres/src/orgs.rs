use std::collections::HashMap;

use async_trait::async_trait;
use orgd_core::configs::Configs;
use orgd_core::ids::OrgId;
use orgd_core::orgs::{OrgRecord, subtree_upper_bound};
use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, OrgRepo, StoreError, StoreResult};
use orgd_core::tags::Tag;
use orgd_core::time::truncate;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::PgTx;
use crate::error::Error;
use crate::sql::{Fetch, Run, decode_all, fetch_limit, inserted, parse_json};

/// The key of the tree lock ([`OrgRepo::lock_tree`]): an advisory lock in the
/// two-`int4` key space, which never meets the single-`bigint` one the
/// migrator locks in. The first half is "orgd" in ASCII.
const TREE_LOCK: (i32, i32) = (0x6f72_6764, 1);

impl PgTx {
    /// Loads the tags of `orgs` in one query.
    pub(crate) async fn with_tags(
        &mut self,
        mut orgs: Vec<OrgRecord>,
    ) -> StoreResult<Vec<OrgRecord>> {
        if orgs.is_empty() {
            return Ok(orgs);
        }
        let ids: Vec<String> = orgs.iter().map(|o| o.id.to_string()).collect();
        let rows = sqlx::query(
            "SELECT org_id, id, name, created_at FROM org_tags WHERE org_id = ANY($1) \
             ORDER BY name",
        )
        .bind(&ids)
        .all(&mut self.tx)
        .await?;
        let tagged = decode_all(&rows, |r| {
            Ok((r.try_get::<String, _>("org_id")?, tag_from_row(r)?))
        })?;
        let index: HashMap<String, usize> = ids.into_iter().zip(0..).collect();
        for (org_id, tag) in tagged {
            if let Some(o) = index.get(&org_id).and_then(|&i| orgs.get_mut(i)) {
                o.tags.push(tag);
            }
        }
        Ok(orgs)
    }

    /// The org a statement selecting [`COLUMNS`] finds, with its tags.
    async fn one_org(
        &mut self,
        q: Query<'_, Postgres, PgArguments>,
    ) -> StoreResult<Option<OrgRecord>> {
        let row = q.optional(&mut self.tx).await?;
        match row.as_ref().map(org_from_row).transpose()? {
            None => Ok(None),
            Some(o) => Ok(self.with_tags(vec![o]).await?.pop()),
        }
    }
}

/// The org columns, for queries naming the table `o`.
pub(crate) const COLUMNS: &str = "o.id, o.name, o.parent_id, o.path, o.depth, o.created_at, \
     o.updated_at, o.version, o.customizations, o.configs, o.deleted_at";

fn configs_json(c: &Configs) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "{}".into())
}

/// An org without its tags, from a row with [`COLUMNS`].
pub(crate) fn org_from_row(r: &PgRow) -> Result<OrgRecord, Error> {
    Ok(OrgRecord {
        id: OrgId::from_trusted(r.try_get("id")?),
        name: r.try_get("name")?,
        parent_id: r
            .try_get::<Option<String>, _>("parent_id")?
            .map(OrgId::from_trusted),
        path: r.try_get("path")?,
        depth: r.try_get("depth")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        version: r.try_get("version")?,
        customizations: parse_json(r.try_get("customizations")?)?,
        configs: serde_json::from_str(r.try_get("configs")?)
            .map_err(|e| StoreError::Other(format!("bad stored configs: {e}")))?,
        tags: Vec::new(),
        deleted_at: r.try_get("deleted_at")?,
    })
}

/// A tag, from a row with its `id`, `name` and `created_at`.
pub(crate) fn tag_from_row(r: &PgRow) -> Result<Tag, Error> {
    Ok(Tag {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

#[async_trait]
impl OrgRepo for PgTx {
    async fn org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM orgs o WHERE o.id = $1");
        self.one_org(sqlx::query(&sql).bind(id.as_str())).await
    }

    /// The row lock is held until the transaction ends; writers of the same
    /// org on any node wait for it.
    async fn lock_org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM orgs o WHERE o.id = $1 FOR UPDATE OF o");
        self.one_org(sqlx::query(&sql).bind(id.as_str())).await
    }

    async fn root_org(&mut self) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM orgs o WHERE o.parent_id IS NULL");
        self.one_org(sqlx::query(&sql)).await
    }

    async fn insert_org(&mut self, o: &OrgRecord) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO orgs (id, name, parent_id, path, depth, created_at, updated_at, \
             version, customizations, configs, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(o.id.as_str())
        .bind(&o.name)
        .bind(o.parent_id.as_ref().map(OrgId::as_str))
        .bind(&o.path)
        .bind(o.depth)
        .bind(truncate(o.created_at))
        .bind(truncate(o.updated_at))
        .bind(o.version)
        .bind(o.customizations.to_string())
        .bind(configs_json(&o.configs))
        .bind(o.deleted_at.map(truncate))
        .run(&mut self.tx)
        .await?;
        inserted(&done, || format!("org {} exists (or a second root)", o.id))
    }

    async fn update_org(&mut self, o: &OrgRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE orgs SET name = $1, parent_id = $2, path = $3, depth = $4, updated_at = $5, \
             version = $6, customizations = $7, configs = $8, deleted_at = $9 WHERE id = $10",
        )
        .bind(&o.name)
        .bind(o.parent_id.as_ref().map(OrgId::as_str))
        .bind(&o.path)
        .bind(o.depth)
        .bind(truncate(o.updated_at))
        .bind(o.version)
        .bind(o.customizations.to_string())
        .bind(configs_json(&o.configs))
        .bind(o.deleted_at.map(truncate))
        .bind(o.id.as_str())
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn move_subtree(&mut self, old_path: &str, new_path: &str) -> StoreResult<()> {
        let depth_delta =
            new_path.matches('/').count() as i64 - old_path.matches('/').count() as i64;
        sqlx::query(
            "UPDATE orgs SET path = $1 || substr(path, char_length($2) + 1), depth = depth + $3 \
             WHERE path >= $2 AND path < $4",
        )
        .bind(new_path)
        .bind(old_path)
        .bind(depth_delta)
        .bind(subtree_upper_bound(old_path))
        .run(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_orgs(
        &mut self,
        q: &OrgQuery,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<OrgRecord>> {
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT {COLUMNS} FROM orgs o WHERE o.deleted_at IS NULL AND o.path >= "
        ));
        b.push_bind(q.subtree_of.clone())
            .push(" AND o.path < ")
            .push_bind(subtree_upper_bound(&q.subtree_of));
        if !q.include_root {
            b.push(" AND o.path <> ").push_bind(q.subtree_of.clone());
        }
        if let Some(p) = &q.parent_id {
            b.push(" AND o.parent_id = ").push_bind(p.to_string());
        }
        if let Some(prefix) = &q.name_prefix {
            // Literal and case-sensitive, unlike LIKE.
            b.push(" AND starts_with(o.name, ")
                .push_bind(prefix.clone())
                .push(")");
        }
        for tag in &q.tags {
            b.push(" AND EXISTS (SELECT 1 FROM org_tags t WHERE t.org_id = o.id AND t.name = ")
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(after) = &page.after {
            b.push(" AND o.id > ").push_bind(after.clone());
        }
        b.push(" ORDER BY o.id LIMIT ")
            .push_bind(fetch_limit(page.limit));
        let rows = b.build().all(&mut self.tx).await?;
        let orgs = decode_all(&rows, org_from_row)?;
        self.with_tags(orgs).await
    }

    async fn count_live_children(&mut self, id: &OrgId) -> StoreResult<i64> {
        // Kept by triggers (migration 0003).
        let children = sqlx::query_scalar(
            "SELECT coalesce((SELECT live_children FROM orgs WHERE id = $1), 0)",
        )
        .bind(id.as_str())
        .one(&mut self.tx)
        .await?;
        Ok(children)
    }

    async fn max_depth_in_subtree(&mut self, path: &str) -> StoreResult<i64> {
        let depth = sqlx::query_scalar(
            "SELECT coalesce(max(depth), 0) FROM orgs \
             WHERE deleted_at IS NULL AND path >= $1 AND path < $2",
        )
        .bind(path)
        .bind(subtree_upper_bound(path))
        .one(&mut self.tx)
        .await?;
        Ok(depth)
    }

    async fn live_subtree(&mut self, path: &str) -> StoreResult<Vec<OrgRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM orgs o \
             WHERE o.deleted_at IS NULL AND o.path >= $1 AND o.path < $2 \
             ORDER BY o.depth DESC, o.id FOR UPDATE OF o"
        ))
        .bind(path)
        .bind(subtree_upper_bound(path))
        .all(&mut self.tx)
        .await?;
        let orgs = decode_all(&rows, org_from_row)?;
        self.with_tags(orgs).await
    }

    async fn all_org_ids(&mut self) -> StoreResult<Vec<OrgId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM orgs ORDER BY id")
            .all(&mut self.tx)
            .await?;
        Ok(ids.into_iter().map(OrgId::from_trusted).collect())
    }

    async fn subtree_orgs(&mut self, path: &str) -> StoreResult<Vec<(OrgId, String)>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, path FROM orgs WHERE path >= $1 AND path < $2 ORDER BY id")
                .bind(path)
                .bind(subtree_upper_bound(path))
                .all(&mut self.tx)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, path)| (OrgId::from_trusted(id), path))
            .collect())
    }

    async fn orgs_with_audit_configs(&mut self) -> StoreResult<Vec<OrgRecord>> {
        // The configs are a JSON object of integers: `"audit.` can only be
        // the start of a key.
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM orgs WHERE configs LIKE '%\"audit.%'")
                .all(&mut self.tx)
                .await?;
        let ids: Vec<OrgId> = ids.into_iter().map(OrgId::from_trusted).collect();
        self.orgs_by_ids(&ids).await
    }

    async fn orgs_by_ids(&mut self, ids: &[OrgId]) -> StoreResult<Vec<OrgRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM orgs o WHERE o.id = ANY($1)"
        ))
        .bind(&ids)
        .all(&mut self.tx)
        .await?;
        let orgs = decode_all(&rows, org_from_row)?;
        self.with_tags(orgs).await
    }

    /// A transaction-scoped advisory lock: exclusive for moves and cascading
    /// deletes, shared for creates. Released at commit or rollback.
    async fn lock_tree(&mut self, exclusive: bool) -> StoreResult<()> {
        let sql = if exclusive {
            "SELECT pg_advisory_xact_lock($1, $2)"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1, $2)"
        };
        sqlx::query(sql)
            .bind(TREE_LOCK.0)
            .bind(TREE_LOCK.1)
            .run(&mut self.tx)
            .await?;
        Ok(())
    }
}
