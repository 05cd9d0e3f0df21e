//! The access log's layout on SQLite: entries kept in blocks.
//!
//! A block is one row of `access_blocks` holding up to [`BLOCK`] entries of
//! one org from one stored batch, as a JSON array of arrays, with the
//! block's oldest and newest timestamps beside it. A row per entry cost the
//! traffic writer a B-tree insert into the table and one into its
//! `(org, time)` index for every request the API served (perf: most of the
//! access log's 13 % of GET throughput); a block costs one of each per org
//! per batch, and the JSON is written in one pass.
//!
//! Reading an org's entries newest first walks its blocks by newest
//! timestamp down, and stops once the entries it holds are newer than any a
//! further block could hold ([`Newest`]). An entry's position, the page
//! key's tie-breaker, is `block * BLOCK + index`, the index being the
//! entry's place in the block as written: it is stored with the entry, so
//! pruning can rewrite a block without moving anyone.
//!
//! Entry layout (JSON array), the order of `access_entry!` below:
//! `[index, id, timestamp, user, key_id, action, status, http_status,
//! method, path, ip, user_agent, request_id, latency_ms, source, details]`,
//! timestamps in orgd's fixed-width text form, so text order is time order.
//! Migration 0009 writes the same layout from the old table.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use orgd_core::access_log::{AccessEntry, AccessEntryRef, AccessFilter, Outcome, Source};
use orgd_core::store::StoreError;
use orgd_core::time;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sql::{parse_ts, ts};

/// Entries per block at most; a block of a larger batch is cut there.
pub(crate) const BLOCK: usize = 4096;

/// The position of the `index`th entry of `block`.
pub(crate) fn position(block: i64, index: u32) -> i64 {
    block * BLOCK as i64 + i64::from(index)
}

/// An entry as a block holds it, written.
#[derive(Serialize)]
struct Out<'a>(
    u32,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    &'a str,
    Option<u16>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    &'a str,
    Option<&'a serde_json::Value>,
);

/// An entry as a block holds it, read: text borrowed from the block where
/// it needs no unescaping.
#[derive(Deserialize)]
pub(crate) struct Stored<'a>(
    u32,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    Option<u16>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    Option<i64>,
    #[serde(borrow)] Cow<'a, str>,
    Option<serde_json::Value>,
);

/// A block ready to store.
pub(crate) struct Block {
    pub(crate) min_ts: String,
    pub(crate) max_ts: String,
    pub(crate) entries: usize,
    pub(crate) data: String,
}

/// Writes `entries` (at most [`BLOCK`], all of one org) as a block, each
/// with its index: its place among them unless given.
pub(crate) fn encode<'a, 'e: 'a>(
    entries: impl IntoIterator<Item = (u32, &'a AccessEntryRef<'e>)>,
) -> Result<Block, Error> {
    let entries = entries.into_iter();
    // About what an API request's entry takes, so the buffer seldom grows.
    let mut data = Vec::with_capacity(256 * entries.size_hint().0.max(1));
    data.push(b'[');
    let mut range: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut count = 0;
    let mut buf = [0; time::LEN];
    for (index, e) in entries {
        if count > 0 {
            data.push(b',');
        }
        count += 1;
        let formatted;
        let when = match time::format_into(e.timestamp, &mut buf) {
            Some(when) => when,
            None => {
                formatted = time::format(e.timestamp);
                &formatted
            }
        };
        let out = Out(
            index,
            e.id,
            when,
            e.user,
            e.key_id,
            e.action,
            e.status.as_str(),
            e.http_status,
            e.method,
            e.path,
            e.ip,
            e.user_agent,
            e.request_id,
            e.latency_ms,
            e.source.as_str(),
            e.details,
        );
        serde_json::to_writer(&mut data, &out).map_err(|e| other(&e))?;
        let t = e.timestamp;
        range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
    }
    data.push(b']');
    let Some((min, max)) = range else {
        return Err(StoreError::Other("an access block needs an entry".into()).into());
    };
    Ok(Block {
        min_ts: ts(min),
        max_ts: ts(max),
        entries: count,
        // serde_json writes UTF-8 only.
        data: String::from_utf8(data).map_err(|e| other(&e))?,
    })
}

/// The entries of a block.
pub(crate) fn decode(data: &str) -> Result<Vec<Stored<'_>>, Error> {
    serde_json::from_str(data).map_err(|e| other(&e))
}

fn other(e: &dyn std::fmt::Display) -> Error {
    StoreError::Other(format!("bad access block: {e}")).into()
}

impl Stored<'_> {
    pub(crate) fn index(&self) -> u32 {
        self.0
    }

    /// The timestamp's text form.
    pub(crate) fn ts(&self) -> &str {
        &self.2
    }

    fn matches(&self, f: &Query) -> bool {
        let ts = self.ts();
        f.start.as_deref().is_none_or(|s| ts >= s)
            && f.end.as_deref().is_none_or(|e| ts < e)
            && f.user.is_none_or(|u| self.3.as_deref() == Some(u))
            && f.action.is_none_or(|a| self.5 == a)
            && f.status.is_none_or(|s| self.6 == s)
    }

    /// The entry, of `org_id`.
    pub(crate) fn into_entry(self, org_id: &str) -> Result<AccessEntry, Error> {
        let own = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
        Ok(AccessEntry {
            id: self.1.into_owned(),
            timestamp: parse_ts(&self.2)?,
            org_id: org_id.to_owned(),
            user: own(self.3),
            key_id: own(self.4),
            action: self.5.into_owned(),
            status: Outcome::parse(&self.6)
                .ok_or_else(|| other(&format_args!("status {:?}", self.6)))?,
            http_status: self.7,
            method: own(self.8),
            path: own(self.9),
            ip: own(self.10),
            user_agent: own(self.11),
            request_id: own(self.12),
            latency_ms: self.13,
            source: Source::parse(&self.14)
                .ok_or_else(|| other(&format_args!("source {:?}", self.14)))?,
            details: self.15,
        })
    }
}

/// An access log query in the blocks' terms: timestamps as text.
pub(crate) struct Query<'f> {
    pub(crate) start: Option<String>,
    pub(crate) end: Option<String>,
    pub(crate) user: Option<&'f str>,
    pub(crate) action: Option<&'f str>,
    pub(crate) status: Option<&'static str>,
    /// Entries before this `(timestamp, position)` only.
    pub(crate) after: Option<(String, i64)>,
}

impl<'f> Query<'f> {
    pub(crate) fn new(f: &'f AccessFilter, after: Option<(DateTime<Utc>, i64)>) -> Self {
        Self {
            start: f.start.map(ts),
            end: f.end.map(ts),
            user: f.user.as_deref(),
            action: f.action.as_deref(),
            status: f.status.map(Outcome::as_str),
            after: after.map(|(t, pos)| (ts(t), pos)),
        }
    }
}

/// The newest `want` entries matching a query, gathered block by block from
/// the newest block down: a min-heap of the best so far, keyed by
/// `(timestamp text, position)`.
pub(crate) struct Newest<'q> {
    query: &'q Query<'q>,
    want: usize,
    best: BinaryHeap<Reverse<(String, i64, Kept)>>,
}

/// An entry in the heap; compared by key only.
struct Kept(AccessEntry);

impl PartialEq for Kept {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<'q> Newest<'q> {
    pub(crate) fn new(query: &'q Query<'q>, want: usize) -> Self {
        Self {
            query,
            want,
            best: BinaryHeap::new(),
        }
    }

    /// Whether a block whose newest entry is at `max_ts` could still add
    /// anything: false once `want` entries are held, all newer than it
    /// (blocks come newest first, so no later block could either).
    pub(crate) fn wants(&self, max_ts: &str) -> bool {
        self.want > 0
            && (self.best.len() < self.want
                || self
                    .best
                    .peek()
                    .is_none_or(|Reverse((worst, _, _))| worst.as_str() <= max_ts))
    }

    /// Takes what `data`, a block of `org_id` numbered `block`, holds for
    /// the query.
    pub(crate) fn take(&mut self, org_id: &str, block: i64, data: &str) -> Result<(), Error> {
        for s in decode(data)? {
            if !s.matches(self.query) {
                continue;
            }
            let pos = position(block, s.index());
            if let Some((at, at_pos)) = &self.query.after
                && (s.ts(), pos) >= (at.as_str(), *at_pos)
            {
                continue;
            }
            if self.best.len() >= self.want {
                // Full (or wanting nothing): only a newer entry gets in.
                let Some(Reverse((worst, worst_pos, _))) = self.best.peek() else {
                    continue;
                };
                if (s.ts(), pos) <= (worst.as_str(), *worst_pos) {
                    continue;
                }
                self.best.pop();
            }
            let key = s.ts().to_owned();
            self.best
                .push(Reverse((key, pos, Kept(s.into_entry(org_id)?))));
        }
        Ok(())
    }

    /// The entries with their positions, newest first.
    pub(crate) fn into_vec(self) -> Vec<(i64, AccessEntry)> {
        // Ascending order of `Reverse` is descending order of the key.
        self.best
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse((_, pos, Kept(e)))| (pos, e))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone, Utc};

    use super::*;

    fn entry(id: &str, secs: i64) -> AccessEntry {
        AccessEntry {
            id: id.to_owned(),
            timestamp: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
            org_id: "a".to_owned(),
            user: Some("ada \"the\" — ü".to_owned()),
            key_id: None,
            action: "org.read".to_owned(),
            status: Outcome::Success,
            http_status: Some(200),
            method: Some("GET".to_owned()),
            path: Some("/orgs/a".to_owned()),
            ip: None,
            user_agent: None,
            request_id: None,
            latency_ms: Some(3),
            source: Source::Api,
            details: Some(serde_json::json!({"k": [1, "two"]})),
        }
    }

    #[test]
    fn a_block_reads_back_as_written_with_its_time_range() {
        let written = [entry("e1", 5), entry("e2", 1), entry("e3", 9)];
        let refs: Vec<_> = written.iter().map(AccessEntry::to_ref).collect();
        let block = encode(refs.iter().zip(0..).map(|(e, i)| (i * 2, e))).unwrap();
        assert_eq!(block.entries, 3);
        assert_eq!(block.min_ts, ts(written[1].timestamp));
        assert_eq!(block.max_ts, ts(written[2].timestamp));
        let read = decode(&block.data).unwrap();
        assert_eq!(
            read.iter().map(Stored::index).collect::<Vec<_>>(),
            [0, 2, 4]
        );
        let back: Vec<AccessEntry> = read
            .into_iter()
            .map(|s| s.into_entry("a").unwrap())
            .collect();
        assert_eq!(back, written);
    }

    #[test]
    fn an_empty_block_is_refused_and_a_broken_one_is_an_error() {
        assert!(encode(std::iter::empty()).is_err());
        assert!(decode("[[0, \"e1\"]]").is_err());
    }

    #[test]
    fn the_newest_are_kept_across_blocks_and_the_walk_stops_when_no_block_can_add() {
        let none = AccessFilter::default();
        let query = Query::new(&none, None);
        let mut newest = Newest::new(&query, 2);
        let newer = [entry("n1", 10), entry("n2", 20), entry("n3", 5)];
        let newer: Vec<_> = newer.iter().map(AccessEntry::to_ref).collect();
        let b1 = encode(newer.iter().zip(0..).map(|(e, i)| (i, e))).unwrap();
        assert!(newest.wants(&b1.max_ts));
        newest.take("a", 2, &b1.data).unwrap();
        // A block overlapping the two kept (10 s and 20 s) is still read.
        let overlapping = entry("o1", 15);
        let b2 = encode([(0, &overlapping.to_ref())]).unwrap();
        assert!(newest.wants(&b2.max_ts));
        newest.take("a", 1, &b2.data).unwrap();
        // One older than both kept (15 s and 20 s) is not.
        let older = entry("x", 14);
        assert!(!newest.wants(&ts(older.timestamp)));
        let ids: Vec<String> = newest.into_vec().into_iter().map(|(_, e)| e.id).collect();
        assert_eq!(ids, ["n2", "o1"]);
    }
}
