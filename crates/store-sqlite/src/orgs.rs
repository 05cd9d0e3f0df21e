use async_trait::async_trait;
use orgd_core::ids::OrgId;
use orgd_core::orgs::{OrgRecord, subtree_upper_bound};
use orgd_core::page::PageRequest;
use orgd_core::store::{OrgQuery, OrgRepo, StoreError, StoreResult};
use orgd_core::tags::Tag;
use rusqlite::{Connection, Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::sql::{
    Query, count, execute, fetch_limit, json_list, parse_json, parse_opt_ts, parse_ts, row, rows,
    ts,
};

/// A macro so statements can be `concat!`ed at compile time.
macro_rules! columns {
    () => {
        "id, name, parent_id, path, depth, created_at, updated_at, version, customizations, \
         configs, deleted_at"
    };
}

fn configs_json(c: &orgd_core::configs::Configs) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "{}".into())
}

/// An org without its tags, from a row with its columns by name.
pub(crate) fn org_from_row(r: &Row<'_>) -> Result<OrgRecord, Error> {
    let configs: String = r.get("configs")?;
    Ok(OrgRecord {
        id: OrgId::from_trusted(r.get("id")?),
        name: r.get("name")?,
        parent_id: r
            .get::<_, Option<String>>("parent_id")?
            .map(OrgId::from_trusted),
        path: r.get("path")?,
        depth: r.get("depth")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
        version: r.get("version")?,
        customizations: parse_json(&r.get::<_, String>("customizations")?)?,
        configs: serde_json::from_str(&configs)
            .map_err(|e| StoreError::Other(format!("bad stored configs: {e}")))?,
        tags: Vec::new(),
        deleted_at: parse_opt_ts(r.get("deleted_at")?)?,
    })
}

pub(crate) fn tag_from_row(r: &Row<'_>) -> Result<Tag, Error> {
    Ok(Tag {
        id: r.get("id")?,
        name: r.get("name")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
    })
}

/// Loads the tags of `orgs` in one query.
fn with_tags(conn: &Connection, mut orgs: Vec<OrgRecord>) -> Result<Vec<OrgRecord>, Error> {
    match orgs.as_mut_slice() {
        [] => {}
        // Every request reads one org: its own statement, no JSON.
        [org] => {
            org.tags = rows(
                conn,
                "SELECT id, name, created_at FROM org_tags WHERE org_id = ? ORDER BY name",
                [org.id.as_str()],
                tag_from_row,
            )?;
        }
        many => {
            let ids = json_list(many.iter().map(|o| o.id.as_str()));
            let tagged = rows(
                conn,
                "SELECT org_id, id, name, created_at FROM org_tags \
                 WHERE org_id IN (SELECT value FROM json_each(?)) ORDER BY name",
                [ids],
                |r| Ok((r.get::<_, String>("org_id")?, tag_from_row(r)?)),
            )?;
            for (org_id, tag) in tagged {
                if let Some(o) = many.iter_mut().find(|o| o.id.as_str() == org_id) {
                    o.tags.push(tag);
                }
            }
        }
    }
    Ok(orgs)
}

fn one_with_tags(conn: &Connection, org: Option<OrgRecord>) -> Result<Option<OrgRecord>, Error> {
    match org {
        None => Ok(None),
        Some(o) => Ok(with_tags(conn, vec![o])?.pop()),
    }
}

#[async_trait]
impl OrgRepo for SqliteTx {
    async fn org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
        let conn = self.conn()?;
        let org = row(
            conn,
            concat!("SELECT ", columns!(), " FROM orgs WHERE id = ?"),
            [id.as_str()],
            org_from_row,
        )?;
        Ok(one_with_tags(conn, org)?)
    }

    async fn lock_org(&mut self, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
        // There is one writer, and a write transaction holds it from begin
        // to end: the whole database is already locked.
        self.org(id).await
    }

    async fn root_org(&mut self) -> StoreResult<Option<OrgRecord>> {
        let conn = self.conn()?;
        let org = row(
            conn,
            concat!("SELECT ", columns!(), " FROM orgs WHERE parent_id IS NULL"),
            [],
            org_from_row,
        )?;
        Ok(one_with_tags(conn, org)?)
    }

    async fn insert_org(&mut self, o: &OrgRecord) -> StoreResult<()> {
        execute(
            self.conn()?,
            concat!(
                "INSERT INTO orgs (",
                columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            params![
                o.id.as_str(),
                o.name,
                o.parent_id.as_ref().map(OrgId::as_str),
                o.path,
                o.depth,
                ts(o.created_at),
                ts(o.updated_at),
                o.version,
                o.customizations.to_string(),
                configs_json(&o.configs),
                o.deleted_at.map(ts),
            ],
        )?;
        Ok(())
    }

    async fn update_org(&mut self, o: &OrgRecord) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE orgs SET name = ?, parent_id = ?, path = ?, depth = ?, updated_at = ?, \
             version = ?, customizations = ?, configs = ?, deleted_at = ? WHERE id = ?",
            params![
                o.name,
                o.parent_id.as_ref().map(OrgId::as_str),
                o.path,
                o.depth,
                ts(o.updated_at),
                o.version,
                o.customizations.to_string(),
                configs_json(&o.configs),
                o.deleted_at.map(ts),
                o.id.as_str(),
            ],
        )?;
        Ok(())
    }

    async fn move_subtree(&mut self, old_path: &str, new_path: &str) -> StoreResult<()> {
        let depth_delta =
            new_path.matches('/').count() as i64 - old_path.matches('/').count() as i64;
        execute(
            self.conn()?,
            "UPDATE orgs SET path = ? || substr(path, ?), depth = depth + ? \
             WHERE path >= ? AND path < ?",
            params![
                new_path,
                old_path.len() as i64 + 1,
                depth_delta,
                old_path,
                subtree_upper_bound(old_path),
            ],
        )?;
        Ok(())
    }

    async fn list_orgs(
        &mut self,
        q: &OrgQuery,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<OrgRecord>> {
        let mut b = Query::new(concat!(
            "SELECT ",
            columns!(),
            " FROM orgs WHERE deleted_at IS NULL AND path >= "
        ));
        b.bind(q.subtree_of.clone())
            .push(" AND path < ")
            .bind(subtree_upper_bound(&q.subtree_of));
        if !q.include_root {
            b.push(" AND path <> ").bind(q.subtree_of.clone());
        }
        if let Some(p) = &q.parent_id {
            b.push(" AND parent_id = ").bind(p.to_string());
        }
        if let Some(prefix) = &q.name_prefix {
            b.push(" AND substr(name, 1, ")
                .bind(prefix.chars().count() as i64)
                .push(") = ")
                .bind(prefix.clone());
        }
        for tag in &q.tags {
            b.push(" AND EXISTS (SELECT 1 FROM org_tags t WHERE t.org_id = orgs.id AND t.name = ")
                .bind(tag.clone())
                .push(")");
        }
        if let Some(after) = &page.after {
            b.push(" AND id > ").bind(after.clone());
        }
        b.push(" ORDER BY id LIMIT ").bind(fetch_limit(page.limit));
        let conn = self.conn()?;
        let orgs = b.rows(conn, org_from_row)?;
        Ok(with_tags(conn, orgs)?)
    }

    async fn count_live_children(&mut self, id: &OrgId) -> StoreResult<i64> {
        Ok(count(
            self.conn()?,
            // Kept by triggers (migration 0006).
            "SELECT coalesce((SELECT live_children FROM orgs WHERE id = ?), 0)",
            [id.as_str()],
        )?)
    }

    async fn max_depth_in_subtree(&mut self, path: &str) -> StoreResult<i64> {
        Ok(count(
            self.conn()?,
            "SELECT coalesce(max(depth), 0) FROM orgs \
             WHERE deleted_at IS NULL AND path >= ? AND path < ?",
            params![path, subtree_upper_bound(path)],
        )?)
    }

    async fn live_subtree(&mut self, path: &str) -> StoreResult<Vec<OrgRecord>> {
        let conn = self.conn()?;
        let orgs = rows(
            conn,
            concat!(
                "SELECT ",
                columns!(),
                " FROM orgs WHERE deleted_at IS NULL AND path >= ? AND path < ? \
                 ORDER BY depth DESC, id"
            ),
            params![path, subtree_upper_bound(path)],
            org_from_row,
        )?;
        Ok(with_tags(conn, orgs)?)
    }

    async fn all_org_ids(&mut self) -> StoreResult<Vec<OrgId>> {
        Ok(rows(
            self.conn()?,
            "SELECT id FROM orgs ORDER BY id",
            [],
            |r| Ok(OrgId::from_trusted(r.get(0)?)),
        )?)
    }

    async fn subtree_orgs(&mut self, path: &str) -> StoreResult<Vec<(OrgId, String)>> {
        Ok(rows(
            self.conn()?,
            "SELECT id, path FROM orgs WHERE path >= ? AND path < ? ORDER BY id",
            params![path, subtree_upper_bound(path)],
            |r| Ok((OrgId::from_trusted(r.get(0)?), r.get(1)?)),
        )?)
    }

    async fn orgs_with_audit_configs(&mut self) -> StoreResult<Vec<OrgRecord>> {
        // The configs are a JSON object of integers: `"audit.` can only be
        // the start of a key.
        let ids: Vec<OrgId> = rows(
            self.conn()?,
            "SELECT id FROM orgs WHERE configs LIKE '%\"audit.%'",
            [],
            |r| Ok(OrgId::from_trusted(r.get(0)?)),
        )?;
        self.orgs_by_ids(&ids).await
    }

    async fn orgs_by_ids(&mut self, ids: &[OrgId]) -> StoreResult<Vec<OrgRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn()?;
        let orgs = rows(
            conn,
            concat!(
                "SELECT ",
                columns!(),
                " FROM orgs WHERE id IN (SELECT value FROM json_each(?))"
            ),
            [json_list(ids.iter().map(OrgId::as_str))],
            org_from_row,
        )?;
        Ok(with_tags(conn, orgs)?)
    }
}
