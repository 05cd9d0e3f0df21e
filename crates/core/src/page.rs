//! Keyset pagination with opaque cursors.
//!
//! A cursor is the sort key of the last row of a page, tagged with the list it
//! belongs to and base64url-encoded. It is opaque to clients, not secret: a
//! cursor edited by hand can only move the page start, never widen what the
//! caller may see, because every query still applies the caller's reach.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Result};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// Which list a cursor belongs to; a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// Rows ordered by id, ascending.
    ById,
    /// Rows ordered by a number, descending (audit `seq`, global event order).
    ByNumberDesc,
    /// Rows ordered by `(timestamp, position)`, descending (the access log).
    ByTimeDesc,
    /// The event feed's position, ascending.
    Feed,
}

impl CursorKind {
    fn tag(self) -> &'static str {
        match self {
            Self::ById => "i",
            Self::ByNumberDesc => "n",
            Self::ByTimeDesc => "t",
            Self::Feed => "f",
        }
    }
}

/// A page request as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<K> {
    pub limit: usize,
    /// Rows strictly after this key, in the list's order.
    pub after: Option<K>,
}

impl<K> PageRequest<K> {
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

/// One page of results: the rows, and the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Parses the client's `limit` parameter.
pub fn parse_limit(raw: Option<&str>) -> Result<usize> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(n as usize),
        _ => Err(Error::invalid(
            "limit",
            format!("must be an integer from 1 to {MAX_LIMIT}"),
        )),
    }
}

pub fn encode_id_cursor(id: &str) -> String {
    encode(CursorKind::ById, id)
}

/// A cursor of a list ordered by `(timestamp, position)`, newest first.
pub fn encode_time_cursor(t: chrono::DateTime<chrono::Utc>, n: i64) -> String {
    encode(
        CursorKind::ByTimeDesc,
        &format!("{}|{n}", crate::time::format(t)),
    )
}

pub fn decode_time_cursor(raw: &str) -> Result<(chrono::DateTime<chrono::Utc>, i64)> {
    let bad = || Error::invalid("cursor", "is not a cursor this list issued");
    let key = decode(CursorKind::ByTimeDesc, raw)?;
    let (t, n) = key.split_once('|').ok_or_else(bad)?;
    Ok((
        crate::time::parse(t).ok_or_else(bad)?,
        n.parse().map_err(|_| bad())?,
    ))
}

pub fn encode_number_cursor(n: i64) -> String {
    encode(CursorKind::ByNumberDesc, &n.to_string())
}

fn encode(kind: CursorKind, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{key}", kind.tag()))
}

fn decode(kind: CursorKind, raw: &str) -> Result<String> {
    let bad = || Error::invalid("cursor", "is not a cursor this list issued");
    if raw.len() > 512 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (tag, key) = text.split_once(':').ok_or_else(bad)?;
    if tag != kind.tag() || key.is_empty() {
        return Err(bad());
    }
    Ok(key.to_owned())
}

pub fn decode_id_cursor(raw: &str) -> Result<String> {
    decode(CursorKind::ById, raw)
}

pub fn decode_number_cursor(raw: &str) -> Result<i64> {
    decode(CursorKind::ByNumberDesc, raw)?
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid("cursor", "is not a cursor this list issued"))
}

/// The feed's `after`: a position, 0 before the first event.
pub fn encode_feed_cursor(n: i64) -> String {
    encode(CursorKind::Feed, &n.to_string())
}

pub fn decode_feed_cursor(raw: &str) -> Result<i64> {
    let bad = || Error::invalid("after", "is not a cursor this feed issued");
    decode(CursorKind::Feed, raw)
        .map_err(|_| bad())?
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(bad)
}

/// Builds a page from up to `limit + 1` rows fetched in order.
pub fn paginate<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(key)
    } else {
        None
    };
    Page { items: rows, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert_eq!(parse_limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("1000")).ok(), Some(1000));
        for bad in ["0", "-1", "1001", "99999999999999999999", "ten", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        assert_eq!(
            decode_id_cursor(&encode_id_cursor("org_1")).ok(),
            Some("org_1".into())
        );
        assert_eq!(
            decode_number_cursor(&encode_number_cursor(42)).ok(),
            Some(42)
        );
        assert!(decode_number_cursor(&encode_id_cursor("org_1")).is_err());
        assert!(decode_id_cursor("!!!").is_err());
        assert!(decode_id_cursor(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
        assert!(decode_number_cursor(&encode(CursorKind::ByNumberDesc, "-5")).is_err());
    }

    #[test]
    fn paginate_reports_a_next_page_only_when_there_is_one() {
        let p = paginate(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((p.items, p.next), (vec![1, 2], Some("2".into())));
        let p = paginate(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(p.next, None);
    }
}
