use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgd_core::api_keys::{KeyRecord, Permissions};
use orgd_core::ids::OrgId;
use orgd_core::orgs::OrgRecord;
use orgd_core::page::PageRequest;
use orgd_core::store::{KeyRepo, StoreError, StoreResult};
use orgd_core::time::truncate;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PgTx;
use crate::error::Error;
use crate::orgs::{self, org_from_row};
use crate::sql::{Fetch, Run, decode_all, fetch_limit, inserted};

/// Aliased where they would clash with the org columns of `key_by_digest`.
const COLUMNS: &str = "k.id AS key_id, k.org_id AS key_org_id, k.name AS key_name, k.user_name, \
     k.permissions, k.digest, k.prefix, k.created_at AS key_created_at, k.expires_at, \
     k.last_used_at, k.revoked_at, k.rate_limit_per_minute";

fn key_from_row(r: &PgRow) -> Result<KeyRecord, Error> {
    let perms: String = r.try_get("permissions")?;
    Ok(KeyRecord {
        id: r.try_get("key_id")?,
        org_id: OrgId::from_trusted(r.try_get("key_org_id")?),
        name: r.try_get("key_name")?,
        user: r.try_get("user_name")?,
        permissions: Permissions::from_csv(&perms)
            .map_err(|bad| StoreError::Other(format!("bad stored permissions {bad:?}")))?,
        digest: r.try_get("digest")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("key_created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
        rate_limit_per_minute: r
            .try_get::<Option<i32>, _>("rate_limit_per_minute")?
            .map(u32::try_from)
            .transpose()
            .map_err(|_| StoreError::Other("bad stored rate limit".into()))?,
    })
}

impl PgTx {
    /// Sets the time `column` of the org's key `id` to `at`. The column is
    /// spliced into the SQL, so it is a `'static` literal of this crate's.
    async fn set_key_time(
        &mut self,
        column: &'static str,
        org: &OrgId,
        id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = format!("UPDATE api_keys SET {column} = $1 WHERE org_id = $2 AND id = $3");
        sqlx::query(&sql)
            .bind(truncate(at))
            .bind(org.as_str())
            .bind(id)
            .run(&mut self.tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl KeyRepo for PgTx {
    async fn insert_key(&mut self, k: &KeyRecord) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, user_name, permissions, digest, prefix, \
             created_at, expires_at, last_used_at, revoked_at, rate_limit_per_minute) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        )
        .bind(&k.id)
        .bind(k.org_id.as_str())
        .bind(&k.name)
        .bind(&k.user)
        .bind(k.permissions.to_csv())
        .bind(&k.digest)
        .bind(&k.prefix)
        .bind(truncate(k.created_at))
        .bind(k.expires_at.map(truncate))
        .bind(k.last_used_at.map(truncate))
        .bind(k.revoked_at.map(truncate))
        .bind(
            k.rate_limit_per_minute
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        )
        .run(&mut self.tx)
        .await?;
        inserted(&done, || format!("key id {} or its digest is taken", k.id))
    }

    async fn key(&mut self, org: &OrgId, id: &str) -> StoreResult<Option<KeyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.org_id = $1 AND k.id = $2"
        ))
        .bind(org.as_str())
        .bind(id)
        .optional(&mut self.tx)
        .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    /// The org comes without its tags (the trait's rule: this runs on every
    /// request that misses the key cache).
    async fn key_by_digest(&mut self, digest: &str) -> StoreResult<Option<(KeyRecord, OrgRecord)>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, {} FROM api_keys k JOIN orgs o ON o.id = k.org_id \
             WHERE k.digest = $1",
            orgs::COLUMNS
        ))
        .bind(digest)
        .optional(&mut self.tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some((key_from_row(&r)?, org_from_row(&r)?)))
    }

    async fn list_keys(
        &mut self,
        org: &OrgId,
        page: &PageRequest<String>,
    ) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.org_id = $1 AND k.revoked_at IS NULL \
             AND k.id > $2 ORDER BY k.id LIMIT $3"
        ))
        .bind(org.as_str())
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(fetch_limit(page.limit))
        .all(&mut self.tx)
        .await?;
        Ok(decode_all(&rows, key_from_row)?)
    }

    async fn revoke_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.set_key_time("revoked_at", org, id, at).await
    }

    /// `now` is compared at the millisecond precision expiries are stored with.
    async fn count_live_keys(&mut self, org: &OrgId, now: DateTime<Utc>) -> StoreResult<i64> {
        let live = sqlx::query_scalar(
            "SELECT count(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(org.as_str())
        .bind(truncate(now))
        .one(&mut self.tx)
        .await?;
        Ok(live)
    }

    async fn touch_key(&mut self, org: &OrgId, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.set_key_time("last_used_at", org, id, at).await
    }
}
