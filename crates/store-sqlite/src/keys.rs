use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::ids::OrgId;
use orgd_core::keys::{KeyRecord, Permissions};
use orgd_core::org::OrgRecord;
use orgd_core::page::PageRequest;
use orgd_core::store::{KeyRepo, StoreError, StoreResult};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::orgs::org_from_row;
use crate::{SqliteTx, fetch_limit, map_err, parse_opt_ts, parse_ts, ts};

const COLUMNS: &str = "k.id AS key_id, k.org_id AS key_org_id, k.name AS key_name, k.user_name, \
     k.permissions, k.digest, k.prefix, k.created_at AS key_created_at, k.expires_at, \
     k.last_used_at, k.revoked_at, k.rate_limit_per_minute";

fn key_from_row(r: &SqliteRow) -> StoreResult<KeyRecord> {
    let perms: String = r.try_get("permissions").map_err(map_err)?;
    Ok(KeyRecord {
        id: r.try_get("key_id").map_err(map_err)?,
        org_id: OrgId::from_trusted(r.try_get("key_org_id").map_err(map_err)?),
        name: r.try_get("key_name").map_err(map_err)?,
        user: r.try_get("user_name").map_err(map_err)?,
        permissions: Permissions::from_csv(&perms)
            .map_err(|bad| StoreError::Other(format!("bad stored permissions {bad:?}")))?,
        digest: r.try_get("digest").map_err(map_err)?,
        prefix: r.try_get("prefix").map_err(map_err)?,
        created_at: parse_ts(r.try_get("key_created_at").map_err(map_err)?)?,
        expires_at: parse_opt_ts(r.try_get("expires_at").map_err(map_err)?)?,
        last_used_at: parse_opt_ts(r.try_get("last_used_at").map_err(map_err)?)?,
        revoked_at: parse_opt_ts(r.try_get("revoked_at").map_err(map_err)?)?,
        rate_limit_per_minute: r
            .try_get::<Option<i64>, _>("rate_limit_per_minute")
            .map_err(map_err)?
            .map(u32::try_from)
            .transpose()
            .map_err(|_| StoreError::Other("bad stored rate limit".into()))?,
    })
}

#[async_trait]
impl KeyRepo for SqliteTx {
    async fn insert_key(&mut self, k: &KeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, user_name, permissions, digest, prefix, \
             created_at, expires_at, last_used_at, revoked_at, rate_limit_per_minute) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&k.id)
        .bind(k.org_id.as_str())
        .bind(&k.name)
        .bind(&k.user)
        .bind(k.permissions.to_csv())
        .bind(&k.digest)
        .bind(&k.prefix)
        .bind(ts(k.created_at))
        .bind(k.expires_at.map(ts))
        .bind(k.last_used_at.map(ts))
        .bind(k.revoked_at.map(ts))
        .bind(k.rate_limit_per_minute.map(i64::from))
        .execute(&mut *self.tx)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn key(&mut self, org: &OrgId, id: &str) -> StoreResult<Option<KeyRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.org_id = ? AND k.id = ?"
        ))
        .bind(org.as_str())
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn key_by_digest(&mut self, digest: &str) -> StoreResult<Option<(KeyRecord, OrgRecord)>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, o.* FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.digest = ?"
        ))
        .bind(digest)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(map_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((key_from_row(&r)?, org_from_row(&r)?))),
        }
    }

    async fn list_keys(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<KeyRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.org_id = ? AND k.revoked_at IS NULL \
             AND k.id > ? ORDER BY k.id LIMIT ?"
        ))
        .bind(org.as_str())
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(fetch_limit(page.limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(map_err)?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn revoke_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE org_id = ? AND id = ?")
            .bind(ts(at))
            .bind(org.as_str())
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn count_live_keys(&mut self, org: &OrgId, now: DateTime<Utc>) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(org.as_str())
        .bind(ts(now))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(map_err)
    }

    async fn touch_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE org_id = ? AND id = ?")
            .bind(ts(at))
            .bind(org.as_str())
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
