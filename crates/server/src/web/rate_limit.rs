//! Per-key rate limits, in this node's memory, by `governor` (GCRA).
//!
//! A key may make `per_minute` requests in a burst, and one more every
//! `60 / per_minute` seconds. governor's keyed limiters hold one quota for
//! all their keys, and orgd's quota is per key, so there is one keyed
//! limiter per distinct limit (a handful: the default and the few limits
//! keys are given). A key whose limit changes starts afresh under the new one.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};
use orgd_core::authz::Principal;
use orgd_core::ids::OrgId;
use orgd_core::service::Orgd;

use super::problem::{Kind, Problem};

/// How often idle keys are dropped. A key idle this long has its whole burst
/// back, so forgetting it changes nothing.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The keys' rate limits: the limiters, and the org whose keys the
/// server-wide default spares.
#[derive(Default)]
pub struct RateLimits {
    pub limiter: RateLimiter,
    /// The org (the root, unless `--rate-limit-root`) whose keys the
    /// server-wide default rate limit spares, so that a default set too low
    /// cannot lock the operator out.
    pub exempt: Option<OrgId>,
}

impl RateLimits {
    /// Takes one request from the caller's key: its own limit, else the
    /// server-wide default (which spares the exempt org's keys). `None` when
    /// no limit applies.
    pub fn decide(&self, orgd: &Orgd, principal: &Principal) -> Option<Decision> {
        let default = orgd
            .settings()
            .default_rate_limit_per_minute
            .filter(|_| self.exempt.as_ref() != Some(&principal.org_id));
        let per_minute = principal.rate_limit_per_minute.or(default)?;
        let key_id = principal.key_id.as_ref()?;
        Some(self.limiter.take(key_id, per_minute))
    }
}

/// The 429 of a refused request; `None` when it was allowed.
pub fn refusal(d: Decision) -> Option<Response> {
    if d.allowed {
        return None;
    }
    let mut res = Problem::new(
        Kind::RateLimited,
        format!(
            "this key may make {} requests a minute; retry in {} s",
            d.limit, d.retry_after_secs
        ),
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after_secs));
    Some(res)
}

/// The `RateLimit-*` headers of every response to a limited key.
pub fn stamp(headers: &mut HeaderMap, d: Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(d.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(d.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(d.reset_secs));
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// The key's limit, requests a minute.
    pub limit: u32,
    /// Whole requests left now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// When refused: seconds until one request is allowed.
    pub retry_after_secs: u64,
}

type Limiter<C> = Gcra<String, HashMapStateStore<String>, C, StateInformationMiddleware>;

/// The keyed limiters, one per limit in use.
pub struct RateLimiter<C: Clock = DefaultClock> {
    clock: C,
    start: C::Instant,
    by_limit: RwLock<HashMap<NonZeroU32, Arc<Limiter<C>>>>,
    /// When idle keys were last dropped, in nanoseconds since `start`.
    pruned_at: AtomicU64,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    pub fn with_clock(clock: C) -> Self {
        Self {
            start: clock.now(),
            clock,
            by_limit: RwLock::default(),
            pruned_at: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`, allowed `per_minute` requests a minute,
    /// if it has one to give.
    pub fn take(&self, key: &String, per_minute: u32) -> Decision {
        let limit = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiter(limit);
        let interval = limiter_interval(limit);
        let secs = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        let decision = match limiter.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit: limit.get(),
                    remaining,
                    reset_secs: secs(interval * (limit.get() - remaining)),
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => Decision {
                allowed: false,
                limit: limit.get(),
                remaining: 0,
                reset_secs: secs(interval * limit.get()),
                retry_after_secs: secs(not_until.wait_time_from(self.clock.now())).max(1),
            },
        };
        self.prune_now_and_then();
        decision
    }

    fn limiter(&self, limit: NonZeroU32) -> Arc<Limiter<C>> {
        let read = self.by_limit.read().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = read.get(&limit) {
            return Arc::clone(l);
        }
        drop(read);
        let mut write = self.by_limit.write().unwrap_or_else(|e| e.into_inner());
        let made = write.entry(limit).or_insert_with(|| {
            Arc::new(
                Gcra::hashmap_with_clock(Quota::per_minute(limit), self.clock.clone())
                    .with_middleware(),
            )
        });
        Arc::clone(made)
    }

    /// Drops idle keys at most once every [`PRUNE_EVERY`], and limiters no
    /// key uses any more.
    fn prune_now_and_then(&self) {
        let now = Duration::from(self.clock.now().duration_since(self.start));
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let last = self.pruned_at.load(Ordering::Relaxed);
        let due = last.saturating_add(PRUNE_EVERY.as_nanos() as u64);
        if now < due
            || self
                .pruned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mut by_limit = self.by_limit.write().unwrap_or_else(|e| e.into_inner());
        by_limit.retain(|_, l| {
            l.retain_recent();
            l.shrink_to_fit();
            !l.is_empty()
        });
    }
}

/// The time one request's allowance takes to come back.
fn limiter_interval(limit: NonZeroU32) -> Duration {
    Quota::per_minute(limit).replenish_interval()
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn key(k: &str) -> String {
        k.to_owned()
    }

    #[test]
    fn a_key_gets_its_limit_then_one_more_at_its_rate() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(clock.clone());
        for n in 0..10 {
            let d = l.take(&key("k"), 10);
            assert!(d.allowed, "request {n}");
            assert_eq!(d.remaining, 9 - n);
            assert_eq!(d.reset_secs, u64::from(n + 1) * 6);
        }
        let refused = l.take(&key("k"), 10);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 6, "one request every 6 s");
        clock.advance(Duration::from_secs(5));
        assert!(!l.take(&key("k"), 10).allowed);
        clock.advance(Duration::from_secs(2));
        assert!(l.take(&key("k"), 10).allowed);
        // Another key has its own allowance, and so has one with another limit.
        assert!(l.take(&key("other"), 10).allowed);
        assert_eq!(l.take(&key("third"), 3).remaining, 2);
    }

    #[test]
    fn an_idle_key_does_not_save_up_more_than_its_limit() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(clock.clone());
        assert!(l.take(&key("k"), 2).allowed);
        clock.advance(Duration::from_secs(3600));
        assert!(l.take(&key("k"), 2).allowed);
        assert!(l.take(&key("k"), 2).allowed);
        assert!(!l.take(&key("k"), 2).allowed);
    }

    #[test]
    fn idle_keys_and_unused_limits_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(clock.clone());
        l.take(&key("a"), 60);
        l.take(&key("b"), 5);
        clock.advance(PRUNE_EVERY + Duration::from_secs(1));
        // "c" keeps the 60 a minute limiter in use; "a" and "b" are idle.
        l.take(&key("c"), 60);
        let by_limit = l.by_limit.read().unwrap();
        assert_eq!(by_limit.len(), 1);
        assert_eq!(by_limit.values().next().unwrap().len(), 1);
    }
}
