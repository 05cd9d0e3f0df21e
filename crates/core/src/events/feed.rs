//! What wakes those who wait for events (the feed's long polls, the
//! deliverer). Kept apart from the feed's operations: the kernel
//! ([`crate::service::Orgd`]) holds one, and this file needs nothing of it.

use std::sync::atomic::{AtomicBool, Ordering};

/// Wakes feed requests that wait for an event: told when events commit on
/// this node, and when another node announces a change.
#[derive(Debug, Default)]
pub struct Feed {
    notify: tokio::sync::Notify,
    /// Set when the server begins to shut down: no read waits any more.
    closed: AtomicBool,
}

impl Feed {
    pub(crate) fn arrived(&self) {
        self.notify.notify_waiters();
    }

    /// The server is shutting down: every held read answers now, as when
    /// its wait runs out (an empty page and its cursor), and none waits from
    /// now on. Shutdown finishes in-flight requests, and one held for 30 s
    /// would outlast a container's stop grace (Docker's is 10 s).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Completes at the next word of new events. Enable it before looking,
    /// so that news between the look and the wait is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}
