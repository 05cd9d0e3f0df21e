//! Failed console sign-ins, limited per client address, so that an API key
//! cannot be guessed through the sign-in form faster than through the API.
//! Held by the sign-in route alone (`console/mod.rs` gives it to that route).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Failed sign-ins allowed per client address a minute: a person mistyping
/// never meets it, a guesser gets ten guesses a minute.
const FAILED_SIGN_INS_PER_MINUTE: u32 = 10;

/// When a map of addresses is pruned of what it no longer needs.
const PRUNE_AT: usize = 10_000;

/// Failed sign-ins, counted per client address (the address the
/// trusted-proxy rule gives, see `web/client_ip.rs`). governor counts the
/// failures; an address it refuses is blocked until governor would let it
/// fail again, and while it is, a wrong key is answered 429 rather than
/// 401. A right key signs in all the same (`sign_in.rs`): behind a proxy
/// everyone shares one address.
pub struct SignInThrottle {
    failures: RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(FAILED_SIGN_INS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::default(),
        }
    }
}

impl SignInThrottle {
    /// `Err(seconds to wait)` while `ip` is blocked.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > now => Err((*until - now).as_secs().max(1)),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.failures.len() > PRUNE_AT {
            self.failures.retain_recent();
        }
        if let Err(not_until) = self.failures.check_key(&ip) {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            let now = Instant::now();
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            if blocked.len() > PRUNE_AT {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, now + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_a_minute_then_the_address_waits() {
        let t = SignInThrottle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..FAILED_SIGN_INS_PER_MINUTE {
            assert!(t.check(ip).is_ok());
            t.failed(ip);
        }
        assert!(t.check(ip).is_ok(), "the tenth failure is still allowed");
        t.failed(ip);
        let wait = t.check(ip).unwrap_err();
        assert!((1..=6).contains(&wait), "{wait}");
        assert!(t.check(other).is_ok(), "per address");
    }
}
