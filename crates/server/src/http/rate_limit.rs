//! Per-key rate limits: a token bucket per API key, in this node's memory.
//!
//! Written here rather than taken from a crate: the keyed limiters on
//! crates.io give every key the same quota, and orgd's quota is per key. A
//! bucket holds up to `per_minute` tokens and refills at `per_minute / 60`
//! tokens a second; each request takes one. One mutex guards the map: a
//! request holds it for a few arithmetic operations, so concurrent requests
//! of one key share its bucket exactly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use orgd_core::authz::Principal;

use super::AppState;
use super::problem::{Kind, Problem};

/// Above this many buckets, full (idle) ones are dropped when a new key
/// arrives, at most once a minute: they hold nothing a new bucket would not.
const PRUNE_ABOVE: usize = 10_000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Takes one request from the caller's key: its own limit, else the
/// server-wide default (which spares the exempt org's keys, so that a
/// default set too low cannot lock the operator out). `None` when no limit
/// applies.
pub fn decide(state: &AppState, principal: &Principal) -> Option<Decision> {
    let default = state
        .orgd
        .settings()
        .default_rate_limit_per_minute
        .filter(|_| state.rate_limit_exempt.as_ref() != Some(&principal.org_id));
    let per_minute = principal.rate_limit_per_minute.or(default)?;
    let key_id = principal.key_id.as_deref()?;
    Some(state.rate_limiter.take(key_id, per_minute, Instant::now()))
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

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    per_minute: u32,
}

#[derive(Debug, Default)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    pruned_at: Option<Instant>,
}

impl Buckets {
    fn prune(&mut self, now: Instant) {
        if self.by_key.len() <= PRUNE_ABOVE
            || self
                .pruned_at
                .is_some_and(|t| now.saturating_duration_since(t) < PRUNE_EVERY)
        {
            return;
        }
        self.pruned_at = Some(now);
        self.by_key.retain(|_, b| {
            let r = f64::from(b.per_minute) / 60.0;
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * r
                < f64::from(b.per_minute)
        });
    }
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    /// Takes one request from `key`'s bucket, if it has one to give.
    pub fn take(&self, key: &str, per_minute: u32, now: Instant) -> Decision {
        let per_minute = per_minute.max(1);
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0; // tokens a second
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A known key costs no allocation; only a new one may prune.
        if !buckets.by_key.contains_key(key) {
            buckets.prune(now);
            buckets.by_key.insert(
                key.to_owned(),
                Bucket {
                    tokens: capacity,
                    at: now,
                    per_minute,
                },
            );
        }
        let Some(bucket) = buckets.by_key.get_mut(key) else {
            unreachable!("inserted above");
        };
        if bucket.per_minute != per_minute {
            *bucket = Bucket {
                tokens: capacity,
                at: now,
                per_minute,
            };
        }
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let secs = |tokens: f64| (tokens.max(0.0) / rate).ceil() as u64;
        Decision {
            allowed,
            limit: per_minute,
            remaining: bucket.tokens.floor() as u32,
            reset_secs: secs(capacity - bucket.tokens),
            retry_after_secs: if allowed {
                0
            } else {
                secs(1.0 - bucket.tokens).max(1)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_limit_then_refills_at_its_rate() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for n in 0..10 {
            let d = l.take("k", 10, t0);
            assert!(d.allowed, "request {n}");
            assert_eq!(d.remaining, 9 - n);
        }
        let refused = l.take("k", 10, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 6, "one token every 6 s");
        assert!(!l.take("k", 10, t0 + Duration::from_secs(5)).allowed);
        assert!(l.take("k", 10, t0 + Duration::from_secs(7)).allowed);
        // Another key has its own bucket.
        assert!(l.take("other", 10, t0).allowed);
    }

    #[test]
    fn a_full_bucket_does_not_overflow() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        assert!(l.take("k", 2, t0).allowed);
        let later = t0 + Duration::from_secs(3600);
        assert!(l.take("k", 2, later).allowed);
        assert!(l.take("k", 2, later).allowed);
        assert!(!l.take("k", 2, later).allowed);
    }
}
