use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::api_keys::{KeyRecord, Permissions};
use orgd_core::ids::OrgId;
use orgd_core::orgs::OrgRecord;
use orgd_core::page::PageRequest;
use orgd_core::store::{KeyRepo, StoreError, StoreResult};
use rusqlite::{Row, params};

use crate::SqliteTx;
use crate::error::Error;
use crate::orgs::org_from_row;
use crate::sql::{count, execute, fetch_limit, parse_opt_ts, parse_ts, row, rows, ts};

/// Aliased where an org column has the same name, so a key and its org can
/// be read from one joined row.
macro_rules! columns {
    () => {
        "k.id AS key_id, k.org_id AS key_org_id, k.name AS key_name, k.user_name, \
         k.permissions, k.digest, k.prefix, k.created_at AS key_created_at, k.expires_at, \
         k.last_used_at, k.revoked_at, k.rate_limit_per_minute"
    };
}

fn key_from_row(r: &Row<'_>) -> Result<KeyRecord, Error> {
    let perms: String = r.get("permissions")?;
    Ok(KeyRecord {
        id: r.get("key_id")?,
        org_id: OrgId::from_trusted(r.get("key_org_id")?),
        name: r.get("key_name")?,
        user: r.get("user_name")?,
        permissions: Permissions::from_csv(&perms)
            .map_err(|bad| StoreError::Other(format!("bad stored permissions {bad:?}")))?,
        digest: r.get("digest")?,
        prefix: r.get("prefix")?,
        created_at: parse_ts(&r.get::<_, String>("key_created_at")?)?,
        expires_at: parse_opt_ts(r.get("expires_at")?)?,
        last_used_at: parse_opt_ts(r.get("last_used_at")?)?,
        revoked_at: parse_opt_ts(r.get("revoked_at")?)?,
        rate_limit_per_minute: r
            .get::<_, Option<i64>>("rate_limit_per_minute")?
            .map(u32::try_from)
            .transpose()
            .map_err(|_| StoreError::Other("bad stored rate limit".into()))?,
    })
}

#[async_trait]
impl KeyRepo for SqliteTx {
    async fn insert_key(&mut self, k: &KeyRecord) -> StoreResult<()> {
        execute(
            self.conn()?,
            "INSERT INTO api_keys (id, org_id, name, user_name, permissions, digest, prefix, \
             created_at, expires_at, last_used_at, revoked_at, rate_limit_per_minute) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                k.id,
                k.org_id.as_str(),
                k.name,
                k.user,
                k.permissions.to_csv(),
                k.digest,
                k.prefix,
                ts(k.created_at),
                k.expires_at.map(ts),
                k.last_used_at.map(ts),
                k.revoked_at.map(ts),
                k.rate_limit_per_minute.map(i64::from),
            ],
        )?;
        Ok(())
    }

    async fn key(&mut self, org: &OrgId, id: &str) -> StoreResult<Option<KeyRecord>> {
        Ok(row(
            self.conn()?,
            concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys k WHERE k.org_id = ? AND k.id = ?"
            ),
            params![org.as_str(), id],
            key_from_row,
        )?)
    }

    async fn key_by_digest(&mut self, digest: &str) -> StoreResult<Option<(KeyRecord, OrgRecord)>> {
        Ok(row(
            self.conn()?,
            concat!(
                "SELECT ",
                columns!(),
                ", o.* FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.digest = ?"
            ),
            [digest],
            |r| Ok((key_from_row(r)?, org_from_row(r)?)),
        )?)
    }

    async fn list_keys(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<KeyRecord>> {
        Ok(rows(
            self.conn()?,
            concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys k WHERE k.org_id = ? AND k.revoked_at IS NULL \
                 AND k.id > ? ORDER BY k.id LIMIT ?"
            ),
            params![
                org.as_str(),
                page.after.as_deref().unwrap_or(""),
                fetch_limit(page.limit),
            ],
            key_from_row,
        )?)
    }

    async fn revoke_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE api_keys SET revoked_at = ? WHERE org_id = ? AND id = ?",
            params![ts(at), org.as_str(), id],
        )?;
        Ok(())
    }

    async fn count_live_keys(&mut self, org: &OrgId, now: DateTime<Utc>) -> StoreResult<i64> {
        Ok(count(
            self.conn()?,
            "SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?)",
            params![org.as_str(), ts(now)],
        )?)
    }

    async fn touch_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        execute(
            self.conn()?,
            "UPDATE api_keys SET last_used_at = ? WHERE org_id = ? AND id = ?",
            params![ts(at), org.as_str(), id],
        )?;
        Ok(())
    }
}
