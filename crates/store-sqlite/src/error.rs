//! The one place SQLite's errors become the store's.

use orgd_core::store::StoreError;
use rusqlite::ErrorCode;

/// What the store's functions fail with: SQLite's error as it came, or one
/// already sorted. It exists so `?` works on both (neither `StoreError` nor
/// `rusqlite::Error` is this crate's, so one cannot convert into the other).
#[derive(Debug)]
pub(crate) enum Error {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
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
            Error::Sqlite(e) => classify(e),
        }
    }
}

/// Sorts SQLite's errors into the store's kinds. Constraint names do not
/// exist on SQLite, so a conflict is known by its extended code alone.
pub(crate) fn classify(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    match &e {
        // Only the queries that must return a row (a count) get here.
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, message) => {
            let message = message.clone().unwrap_or_else(|| e.to_string());
            match f.extended_code {
                SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
                    StoreError::Conflict(message)
                }
                // Another connection (or process) held the lock past the
                // busy timeout.
                _ if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                    StoreError::Unavailable(message)
                }
                _ => StoreError::Other(message),
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// A copy of an error to hand to each unit of a failed batch. Only the two
/// kinds a failed COMMIT can have survive: anything else is "other".
pub(crate) fn duplicate(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        e => StoreError::Other(e.to_string()),
    }
}
