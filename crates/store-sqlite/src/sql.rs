//! Running statements and converting values: shared by every repository.

use chrono::{DateTime, Utc};
use orgd_core::store::StoreError;
use rusqlite::types::Value;
use rusqlite::{Connection, Params, Row, params_from_iter};

use crate::error::Error;

/// Runs a statement that returns no rows (transaction control included).
pub(crate) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs a statement; returns how many rows it changed.
pub(crate) fn execute<P: Params>(conn: &Connection, sql: &str, params: P) -> Result<u64, Error> {
    let changed = conn.prepare_cached(sql)?.execute(params)?;
    Ok(changed as u64)
}

/// The first row, if any, mapped by `f`.
pub(crate) fn row<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(r) => Ok(Some(f(r)?)),
        None => Ok(None),
    }
}

/// Every row, mapped by `f`.
pub(crate) fn rows<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    mut f: impl FnMut(&Row<'_>) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(r)?);
    }
    Ok(out)
}

/// A number the query always returns (a count): no row is an error.
pub(crate) fn count<P: Params>(conn: &Connection, sql: &str, params: P) -> Result<i64, Error> {
    row(conn, sql, params, |r| Ok(r.get(0)?))?
        .ok_or_else(|| Error::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}

/// A statement whose conditions depend on the request (filters, pages).
/// Each shape is prepared once and cached like any other statement.
pub(crate) struct Query {
    sql: String,
    params: Vec<Value>,
}

impl Query {
    pub(crate) fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            params: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.sql.push('?');
        self.params.push(value.into());
        self
    }

    pub(crate) fn rows<T>(
        &self,
        conn: &Connection,
        f: impl FnMut(&Row<'_>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        rows(conn, &self.sql, params_from_iter(self.params.iter()), f)
    }
}

/// A JSON array of strings, for `IN (SELECT value FROM json_each(?))`: one
/// cached statement whatever the number of values.
pub(crate) fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    serde_json::Value::Array(items.map(|s| s.into()).collect()).to_string()
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    orgd_core::time::format(t)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, Error> {
    orgd_core::time::parse(s)
        .ok_or_else(|| StoreError::Other(format!("bad stored timestamp {s:?}")).into())
}

pub(crate) fn parse_opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
    s.as_deref().map(parse_ts).transpose()
}

pub(crate) fn parse_json(s: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("bad stored JSON: {e}")).into())
}

/// The page size as SQL wants it: one row more than asked, to see whether a
/// next page exists.
pub(crate) fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
}
