//! The one place sqlx's errors become the store's.

use orgd_core::store::StoreError;
use sqlx::error::ErrorKind;

/// What the store's functions fail with: sqlx's error as it came, or one
/// already sorted. It exists so `?` works on both (neither `StoreError` nor
/// `sqlx::Error` is this crate's, so one cannot convert into the other), as
/// in the SQLite store.
#[derive(Debug)]
pub(crate) enum Error {
    Sqlx(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Sqlx(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            Error::Sqlx(e) => classify(e),
        }
    }
}

/// Sorts sqlx errors into the store's kinds.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        // Only the queries that must return a row (a count) get here.
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if matches!(db.kind(), ErrorKind::UniqueViolation) => {
            StoreError::Conflict(db.message().to_owned())
        }
        // Class 08 (connection), 40001/40P01 (serialization, deadlock: retry),
        // 53 (insufficient resources), 57P01–57P03 (shutdown, cannot connect
        // now), 57014 (statement timeout).
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| {
                c.starts_with("08")
                    || c.starts_with("53")
                    || matches!(
                        &*c,
                        "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "57014"
                    )
            }) =>
        {
            StoreError::Unavailable(db.message().to_owned())
        }
        // 22021 (character not in repertoire: NUL in text), 22P05
        // (untranslatable character: \u0000 in JSONB).
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| matches!(&*c, "22021" | "22P05")) =>
        {
            StoreError::Unstorable(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}
