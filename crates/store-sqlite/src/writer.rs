//! The single writer connection, shared by write units with group commit.
//!
//! A unit holds the writer for its whole life: it opens a batch transaction
//! (`BEGIN IMMEDIATE`) or joins the open one, and runs inside its own
//! savepoint. Committing releases the savepoint and, if another unit is
//! queued, hands the writer on with the batch still open; the unit that
//! finds nobody queued commits the batch for everyone in it. Every unit's
//! `commit` returns once its batch's COMMIT has (or has not) made it durable.
//!
//! Every way a holder lets go of the writer goes through
//! [`Writer::hand_back`], so no batch is left open with nobody to finish it.
//!
//! A unit's events (the outbox, `events.rs`) are not written inside its
//! savepoint: they are handed to the batch when the unit is released, and
//! the batch writes all of them just before its COMMIT, in release order,
//! in the same transaction. A unit that rolls back never hands its events
//! on; a batch that fails takes them with it. Written inside each savepoint,
//! every unit would copy the outbox's last pages into its sub-journal (three
//! 4 KiB images a unit, for a row of a few hundred bytes), which made the
//! outbox cost a third of PATCH's throughput; appended once a batch, they
//! cost little more than their bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use orgd_core::events::NewEvent;
use orgd_core::store::{PoolStats, StoreError, WaitMeter};
use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::error::{Error, classify, duplicate};
use crate::sql::exec;

/// When a batch commits although units are queued to join it, so that
/// acknowledgements keep coming under constant load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub(crate) units: usize,
    /// Since the batch's first unit was released.
    pub(crate) age: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            units: 256,
            age: Duration::from_millis(10),
        }
    }
}

pub(crate) struct Writer {
    state: Arc<Mutex<State>>,
    /// Units queued for the writer now; a holder hands on only to them.
    queued: AtomicUsize,
    meter: WaitMeter,
    /// How long a unit waits for the writer, or for another process to
    /// release the database's write lock.
    busy_timeout: Duration,
    pub(crate) limits: BatchLimits,
    /// Batches committed since open.
    pub(crate) commits: AtomicU64,
}

struct State {
    /// `None` once the store is closed.
    conn: Option<Connection>,
    /// The open transaction, if any.
    batch: Option<Batch>,
}

type Outcome = Option<Result<(), StoreError>>;

struct Batch {
    /// Its members wait on this; it is set once, when the batch ends.
    outcome: watch::Sender<Outcome>,
    /// Units released into it, waiting to be told it committed.
    members: usize,
    first_release: Option<Instant>,
    changes_at_begin: u64,
    /// The events of the units released into it, written as it commits.
    events: Vec<NewEvent>,
}

impl Batch {
    fn due(&self, limits: BatchLimits) -> bool {
        self.members >= limits.units
            || self
                .first_release
                .is_some_and(|t| t.elapsed() >= limits.age)
    }
}

/// What to do with the open batch as the writer is let go.
enum Next {
    /// Nothing is open, or the next queued unit carries on with it.
    HandOn,
    /// SQLite rolled the whole transaction back: nothing in it is durable.
    Fail,
    /// Nobody was released into it and nobody comes: end it, so the file's
    /// write lock is not held while idle.
    RollBack,
    /// It wrote nothing, so committing it costs no fsync.
    CommitInline,
    Commit,
}

impl State {
    fn conn(&self) -> Result<&Connection, Error> {
        self.conn.as_ref().ok_or_else(closed)
    }

    /// Ends the open batch with `outcome`, telling its members.
    fn finish(&mut self, outcome: Result<(), StoreError>) {
        if let Some(batch) = self.batch.take() {
            batch.outcome.send_replace(Some(outcome));
        }
    }

    fn commit(&mut self, commits: &AtomicU64) {
        let events = self
            .batch
            .as_mut()
            .map(|b| std::mem::take(&mut b.events))
            .unwrap_or_default();
        let outcome = self.conn().map_err(StoreError::from).and_then(|conn| {
            crate::events::insert(conn, &events)
                .map_err(StoreError::from)
                .and_then(|()| exec(conn, "COMMIT").map_err(classify))
                .inspect_err(|_| {
                    // A failed write, or a COMMIT that failed busy, leaves
                    // the transaction open.
                    if !conn.is_autocommit() {
                        let _ = exec(conn, "ROLLBACK");
                    }
                })
        });
        match &outcome {
            Ok(()) => {
                commits.fetch_add(1, SeqCst);
            }
            Err(e) => tracing::error!(error = %e, "committing a batch of SQLite writes failed"),
        }
        self.finish(outcome);
    }

    /// Rolls the open batch back and fails its members.
    fn fail(&mut self, why: &str) {
        if let Some(conn) = &self.conn
            && !conn.is_autocommit()
        {
            let _ = exec(conn, "ROLLBACK");
        }
        if self.batch.as_ref().is_some_and(|b| b.members > 0) {
            tracing::error!("{why}");
        }
        self.finish(Err(StoreError::Other(why.to_owned())));
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection, busy_timeout: Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                conn: Some(conn),
                batch: None,
            })),
            queued: AtomicUsize::new(0),
            meter: WaitMeter::default(),
            busy_timeout,
            limits: BatchLimits::default(),
            commits: AtomicU64::new(0),
        }
    }

    /// Takes the writer and starts a unit in the open batch (or a new one).
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<WriteUnit, Error> {
        let guard = self.acquire().await?;
        let mut unit = WriteUnit {
            writer: self.clone(),
            guard: Some(guard),
            in_savepoint: false,
            events: Vec::new(),
        };
        // On failure the unit drops, which hands the writer back.
        match unit.start(false) {
            Err(e) if is_busy(&e) => {
                // Another process holds the database's write lock. SQLite
                // waits for it by sleeping, which must not stall an async
                // worker thread (the runtime's timers and sockets with it).
                // The unit goes with the task: if this caller is cancelled,
                // the task still ends it, and its drop hands the writer back.
                tokio::task::spawn_blocking(move || unit.start(true).map(|()| unit))
                    .await
                    .map_err(|e| StoreError::Other(format!("beginning a write failed: {e}")))?
            }
            started => started.map(|()| unit),
        }
    }

    async fn acquire(self: &Arc<Self>) -> Result<OwnedMutexGuard<State>, Error> {
        if let Ok(guard) = self.state.clone().try_lock_owned() {
            return Ok(guard);
        }
        let _waiting = self.meter.acquiring(0, 1, 1);
        let queued = Queued::new(self);
        let guard = tokio::time::timeout(self.busy_timeout, self.state.clone().lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable("timed out waiting for the SQLite writer".into())
            })?;
        queued.acquired();
        Ok(guard)
    }

    /// Lets go of the writer, deciding the fate of the open batch: the one
    /// rule for commit, drop, failure and cancellation alike.
    fn hand_back(self: &Arc<Self>, mut guard: OwnedMutexGuard<State>) {
        match self.next(&guard) {
            Next::HandOn => {}
            Next::Fail => guard.fail(
                "SQLite rolled back a batch of writes (disk full, I/O error or out of memory): \
                 none of them was committed",
            ),
            Next::RollBack => guard.fail("an empty batch of writes was rolled back"),
            Next::CommitInline => guard.commit(&self.commits),
            Next::Commit => {
                let writer = self.clone();
                // The fsync runs off the async threads, and the task owns
                // the writer: a caller that goes away cannot stop the
                // COMMIT half-way or leave the batch open.
                let commit = move || {
                    let mut guard = guard;
                    guard.commit(&writer.commits);
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => drop(rt.spawn_blocking(commit)),
                    Err(_) => commit(),
                }
            }
        }
    }

    fn next(&self, state: &State) -> Next {
        let (Some(conn), Some(batch)) = (&state.conn, &state.batch) else {
            return Next::HandOn;
        };
        if conn.is_autocommit() {
            return Next::Fail;
        }
        if self.queued.load(SeqCst) > 0 && !batch.due(self.limits) {
            return Next::HandOn;
        }
        if batch.members == 0 {
            return Next::RollBack;
        }
        if conn.total_changes() == batch.changes_at_begin && batch.events.is_empty() {
            return Next::CommitInline;
        }
        Next::Commit
    }

    /// Waits for the units in flight, finishes their batch, and closes the
    /// connection; later units fail as unavailable.
    pub(crate) async fn close(self: &Arc<Self>) {
        let mut state = self.state.clone().lock_owned().await;
        let writer = self.clone();
        // A COMMIT and the checkpoint of closing both wait for the disk.
        let closed = tokio::task::spawn_blocking(move || {
            if state.batch.as_ref().is_some_and(|b| b.members > 0) {
                state.commit(&writer.commits);
            } else {
                state.fail("the SQLite store closed");
            }
            if let Some(conn) = state.conn.take() {
                conn.close().map_err(|(_, e)| e)
            } else {
                Ok(())
            }
        })
        .await;
        match closed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "closing the SQLite writer failed"),
            Err(e) => tracing::warn!(error = %e, "closing the SQLite writer failed"),
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let in_use = u64::from(self.state.try_lock().is_err());
        let (waiting, waits_total) = self.meter.read();
        PoolStats {
            pool: "writer",
            in_use,
            idle: 1 - in_use,
            waiting,
            waits_total,
        }
    }
}

/// Counts a unit as queued while it waits for the writer. A holder hands
/// the open batch on only while someone is counted; if the last one gives up
/// (cancelled or timed out), nobody may come to finish the batch, so a task
/// takes the writer in its place.
struct Queued<'a> {
    writer: &'a Arc<Writer>,
    acquired: bool,
}

impl<'a> Queued<'a> {
    fn new(writer: &'a Arc<Writer>) -> Self {
        writer.queued.fetch_add(1, SeqCst);
        Self {
            writer,
            acquired: false,
        }
    }

    fn acquired(mut self) {
        self.acquired = true;
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let last = self.writer.queued.fetch_sub(1, SeqCst) == 1;
        if last
            && !self.acquired
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let writer = self.writer.clone();
            rt.spawn(async move {
                let guard = writer.state.clone().lock_owned().await;
                writer.hand_back(guard);
            });
        }
    }
}

/// A write transaction: a savepoint in the open batch, holding the writer.
pub(crate) struct WriteUnit {
    writer: Arc<Writer>,
    /// `None` once handed back.
    guard: Option<OwnedMutexGuard<State>>,
    in_savepoint: bool,
    /// Its events, handed to the batch when it is released.
    events: Vec<NewEvent>,
}

fn closed() -> Error {
    StoreError::Unavailable("the SQLite store is closed".into()).into()
}

fn is_busy(e: &Error) -> bool {
    matches!(e, Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

fn ended() -> Error {
    StoreError::Other("the write transaction has ended".into()).into()
}

impl WriteUnit {
    /// Joins the open batch or begins one; `wait`: for another process to
    /// release the write lock, up to the busy timeout.
    fn start(&mut self, wait: bool) -> Result<(), Error> {
        let busy_timeout = self.writer.busy_timeout;
        let state = self.guard.as_deref_mut().ok_or_else(ended)?;
        if state.batch.is_some() && state.conn()?.is_autocommit() {
            state.fail("SQLite rolled back a batch of writes: none of them was committed");
        }
        let State { conn, batch } = state;
        let conn = conn.as_ref().ok_or_else(closed)?;
        if batch.is_none() {
            if !conn.is_autocommit() {
                exec(conn, "ROLLBACK")?;
            }
            // IMMEDIATE: a unit that reads before it writes can never fail
            // to upgrade its lock. Another process (`orgd keys create`) may
            // hold the write lock: the first try does not wait, so that
            // waiting happens off the async threads (see `Writer::begin`).
            if !wait {
                conn.busy_timeout(Duration::ZERO)?;
            }
            let begun = exec(conn, "BEGIN IMMEDIATE");
            if !wait {
                conn.busy_timeout(busy_timeout)?;
            }
            begun?;
            let (outcome, _) = watch::channel(None);
            *batch = Some(Batch {
                outcome,
                members: 0,
                first_release: None,
                changes_at_begin: conn.total_changes(),
                events: Vec::new(),
            });
        }
        exec(conn, "SAVEPOINT unit")?;
        self.in_savepoint = true;
        Ok(())
    }

    pub(crate) fn conn(&self) -> Result<&Connection, Error> {
        let conn = self.guard.as_deref().ok_or_else(ended)?.conn()?;
        if conn.is_autocommit() {
            // SQLite rolled the batch back after an error: a statement now
            // would commit on its own, outside this unit.
            return Err(StoreError::Other(
                "SQLite rolled back this transaction after an earlier error".into(),
            )
            .into());
        }
        Ok(conn)
    }

    /// Events to write with the unit, as its batch commits (see the module's
    /// documentation): reads in the unit do not see them.
    pub(crate) fn add_events(&mut self, mut events: Vec<NewEvent>) {
        self.events.append(&mut events);
    }

    /// Releases the unit into its batch, and returns once the batch's
    /// COMMIT has returned: only then is the unit durable.
    pub(crate) async fn commit(mut self) -> Result<(), Error> {
        exec(self.conn()?, "RELEASE unit")?;
        self.in_savepoint = false;
        let mut guard = self.guard.take().ok_or_else(ended)?;
        let Some(batch) = guard.batch.as_mut() else {
            return Err(ended());
        };
        batch.events.append(&mut self.events);
        batch.members += 1;
        batch.first_release.get_or_insert_with(Instant::now);
        let mut outcome = batch.outcome.subscribe();
        self.writer.hand_back(guard);
        let done = outcome.wait_for(Option::is_some).await.map_err(|_| {
            StoreError::Other("the batch of writes was abandoned before it committed".into())
        })?;
        match &*done {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(duplicate(e).into()),
            None => Err(ended()),
        }
    }
}

impl Drop for WriteUnit {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        if self.in_savepoint
            && let Some(conn) = &guard.conn
            && !conn.is_autocommit()
            && exec(conn, "ROLLBACK TO unit")
                .and_then(|()| exec(conn, "RELEASE unit"))
                .is_err()
        {
            // Its changes could not be undone alone: none of the batch may
            // commit with them.
            guard.fail("a write could not be rolled back alone; its whole batch was rolled back");
        }
        self.writer.hand_back(guard);
    }
}
