//! Running statements and decoding rows: shared by every repository.
//!
//! sqlx's own `fetch_*` and `execute` fail with `sqlx::Error`, which `?`
//! cannot turn into the traits' `StoreError` (neither type is this crate's).
//! [`Fetch`] and [`Run`] run the same statements but fail with this crate's
//! [`Error`], which it can: repositories end a query in `.await?`.

use std::future::Future;

use chrono::{DateTime, Utc};
use orgd_core::store::{StoreError, StoreResult};
use orgd_core::time::truncate;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{FromRow, PgConnection, Postgres};

use crate::error::Error;

/// A statement that returns rows (`sqlx::query`, `query_as`,
/// `query_scalar`), run on a transaction's connection.
pub(crate) trait Fetch: Sized {
    /// A row, a `FromRow` value or a scalar, as the query makes it.
    type Out;
    fn one(self, conn: &mut PgConnection) -> impl Future<Output = Result<Self::Out, Error>> + Send;
    fn optional(
        self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<Option<Self::Out>, Error>> + Send;
    fn all(
        self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<Vec<Self::Out>, Error>> + Send;
}

/// The body of each [`Fetch`] impl: sqlx's own `fetch_*`, with its error
/// made this crate's. The impls differ only in their types and bounds.
macro_rules! fetch_through_sqlx {
    () => {
        async fn one(self, conn: &mut PgConnection) -> Result<Self::Out, Error> {
            Ok(self.fetch_one(conn).await?)
        }
        async fn optional(self, conn: &mut PgConnection) -> Result<Option<Self::Out>, Error> {
            Ok(self.fetch_optional(conn).await?)
        }
        async fn all(self, conn: &mut PgConnection) -> Result<Vec<Self::Out>, Error> {
            Ok(self.fetch_all(conn).await?)
        }
    };
}

impl<'q> Fetch for Query<'q, Postgres, PgArguments> {
    type Out = PgRow;
    fetch_through_sqlx!();
}

impl<'q, O> Fetch for QueryAs<'q, Postgres, O, PgArguments>
where
    O: Send + Unpin + for<'r> FromRow<'r, PgRow>,
{
    type Out = O;
    fetch_through_sqlx!();
}

impl<'q, O> Fetch for QueryScalar<'q, Postgres, O, PgArguments>
where
    O: Send + Unpin,
    (O,): for<'r> FromRow<'r, PgRow>,
{
    type Out = O;
    fetch_through_sqlx!();
}

/// A statement run for its effect (`execute`, renamed so sqlx's own method,
/// which fails with `sqlx::Error`, is not picked instead).
pub(crate) trait Run: Sized {
    fn run(
        self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<PgQueryResult, Error>> + Send;
}

impl<'q> Run for Query<'q, Postgres, PgArguments> {
    async fn run(self, conn: &mut PgConnection) -> Result<PgQueryResult, Error> {
        Ok(self.execute(conn).await?)
    }
}

/// Deletes, among the oldest `limit` rows of `table` by position (`gid`),
/// those whose `time` is before `before`: how the append-only tables are
/// pruned, with no index on time (a row dated ahead holds its place at the
/// front). Returns how many went. The names are spliced into the SQL, so
/// they are `'static` literals of this crate's, never input.
pub(crate) async fn prune_front(
    conn: &mut PgConnection,
    table: &'static str,
    time: &'static str,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, Error> {
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE gid IN (SELECT gid FROM \
         (SELECT gid, {time} FROM {table} ORDER BY gid LIMIT $2) AS front \
         WHERE {time} < $1)"
    ))
    .bind(truncate(before))
    .bind(limit)
    .run(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The end of an `INSERT … ON CONFLICT DO NOTHING`: a conflict when it
/// inserted nothing, saying which (`taken`). Such inserts do not raise unique
/// violations, which in PostgreSQL would abort the caller's whole
/// transaction (see the crate's documentation).
pub(crate) fn inserted(done: &PgQueryResult, taken: impl FnOnce() -> String) -> StoreResult<()> {
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(taken()));
    }
    Ok(())
}

/// Every row, decoded by `f`.
pub(crate) fn decode_all<T>(
    rows: &[PgRow],
    f: impl FnMut(&PgRow) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    rows.iter().map(f).collect()
}

pub(crate) fn parse_json(s: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("bad stored JSON: {e}")).into())
}

/// The page size as SQL wants it: one row more than asked, to see whether a
/// next page exists.
pub(crate) fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
}

/// A row count bound as a `LIMIT` (one too large for SQL means no limit).
pub(crate) fn row_limit(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
