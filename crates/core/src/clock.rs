//! Time is a parameter: the service reads it from a [`Clock`], so tests can fix it.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock. The only place allowed to call `Utc::now` (see clippy.toml).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        crate::time::truncate(Utc::now())
    }
}

/// A clock that stands still unless moved; for tests.
#[derive(Debug)]
pub struct FixedClock(std::sync::Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(crate::time::truncate(at)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// The wall clock shifted by an offset that can be moved forward; lets a test
/// of the running server jump past an expiry without sleeping.
#[derive(Debug, Default)]
pub struct OffsetClock(std::sync::Mutex<chrono::Duration>);

impl OffsetClock {
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut off) = self.0.lock() {
            *off += by;
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let off = match self.0.lock() {
            Ok(o) => *o,
            Err(poisoned) => *poisoned.into_inner(),
        };
        SystemClock.now() + off
    }
}
