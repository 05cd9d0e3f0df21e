//! The read connections: a few, each used by one read transaction at a time.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orgd_core::store::{PoolStats, StoreError, WaitMeter};
use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::Error;
use crate::open::Opener;
use crate::sql::exec;

pub(crate) struct Readers {
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: waiting for a permit is waiting for a
    /// connection, in order, and with a timeout.
    permits: Arc<Semaphore>,
    size: usize,
    meter: WaitMeter,
    acquire_timeout: Duration,
    opener: Opener,
}

impl Readers {
    pub(crate) fn open(
        opener: Opener,
        size: usize,
        acquire_timeout: Duration,
    ) -> Result<Self, Error> {
        let size = size.max(1);
        let conns = (0..size)
            .map(|_| opener.open())
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self::new(conns, opener, acquire_timeout))
    }

    /// A pool of `conns`, already open.
    pub(crate) fn new(conns: Vec<Connection>, opener: Opener, acquire_timeout: Duration) -> Self {
        let size = conns.len();
        Self {
            idle: Mutex::new(conns),
            permits: Arc::new(Semaphore::new(size)),
            size,
            meter: WaitMeter::default(),
            acquire_timeout,
            opener,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The lock only guards pushes and pops: a panic cannot leave the
        // list half-changed.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a connection and begins a read transaction on it (deferred: it
    /// takes its snapshot at its first read and keeps it to the end).
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<ReadUnit, Error> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(closed().into()),
            Err(TryAcquireError::NoPermits) => {
                let _waiting = self.meter.acquiring(0, self.size as u32, self.size as u32);
                tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| {
                        StoreError::Unavailable(
                            "timed out waiting for a SQLite read connection".into(),
                        )
                    })?
                    .map_err(|_| closed())?
            }
        };
        let conn = self
            .idle()
            .pop()
            .ok_or_else(|| StoreError::Other("no SQLite read connection is left".into()))?;
        let unit = ReadUnit {
            readers: self.clone(),
            conn: Some(conn),
            permit: Some(permit),
        };
        exec(unit.conn()?, "BEGIN")?;
        Ok(unit)
    }

    /// Waits for every connection to come back, then closes them all.
    pub(crate) async fn close(&self) {
        let Ok(all) = self.permits.acquire_many(self.size as u32).await else {
            return; // closed already
        };
        self.permits.close();
        for conn in std::mem::take(&mut *self.idle()) {
            if let Err((_, e)) = conn.close() {
                tracing::warn!(error = %e, "closing a SQLite read connection failed");
            }
        }
        drop(all);
    }

    pub(crate) fn stats(&self, pool: &'static str) -> PoolStats {
        let idle = self.idle().len() as u64;
        let (waiting, waits_total) = self.meter.read();
        PoolStats {
            pool,
            in_use: (self.size as u64).saturating_sub(idle),
            idle,
            waiting,
            waits_total,
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the SQLite store is closed".into())
}

/// A read transaction. Dropped (or committed: it changed nothing), it ends
/// and its connection goes back to the pool.
pub(crate) struct ReadUnit {
    readers: Arc<Readers>,
    conn: Option<Connection>,
    permit: Option<OwnedSemaphorePermit>,
}

impl ReadUnit {
    pub(crate) fn conn(&self) -> Result<&Connection, Error> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Other("the read transaction has ended".into()).into())
    }
}

impl Drop for ReadUnit {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !conn.is_autocommit() {
            let _ = exec(&conn, "ROLLBACK");
        }
        if !conn.is_autocommit() {
            // Left inside a transaction, it would fail every later BEGIN.
            tracing::warn!("replacing a SQLite read connection left inside a transaction");
            match self.readers.opener.open() {
                Ok(fresh) => conn = fresh,
                Err(e) => {
                    tracing::error!(error = %e, "reopening a SQLite read connection failed");
                    // One connection fewer: its permit goes with it.
                    if let Some(p) = self.permit.take() {
                        p.forget();
                    }
                    return;
                }
            }
        }
        // Back in the list before the permit (dropped after this) says so.
        self.readers.idle().push(conn);
    }
}
