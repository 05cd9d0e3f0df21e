//! JSON Schemas of the field kinds the API validates, for the OpenAPI
//! document (with the `openapi` feature: components that fields name with
//! `#[schema(value_type = …)]`). Each states exactly what its validator
//! accepts, so that a client, or a fuzzer, reading the document knows which
//! values are well-formed: a value the schema allows is never refused as
//! malformed, and one it refuses is never accepted (the tests below hold the
//! patterns to the validators). What a schema cannot say (a cursor must be
//! one the list issued, an expiry must be in the future) is said in the
//! field's description.

#[cfg(feature = "openapi")]
mod kinds;
#[cfg(feature = "openapi")]
pub use kinds::*;

/// No control characters (Unicode `Cc`, as `char::is_control`).
pub const NO_CONTROL: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";

/// A display name ([`crate::orgs::parse_name`]): 1–200 characters, no control
/// characters, not only white space (`char::is_whitespace`).
pub const NAME: &str = concat!(
    r"^[^\u0000-\u001f\u007f-\u009f]*",
    r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\u0000-\u001f\u007f-\u009f]*$"
);

/// An organization id ([`crate::ids::OrgId::parse`]).
pub const ORG_ID: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// An event type or a `prefix.*` ([`crate::events::TypeFilter::parse`] of
/// one part).
pub const EVENT_TYPE: &str = r"^[a-z_]+(\.[a-z_]+)*(\.\*)?$";

/// A tag name ([`crate::tags::parse_name`]).
pub const TAG_NAME: &str = "^[A-Za-z0-9_.:-]{1,64}$";

/// A usage metric name ([`crate::consumption::parse_usage`]), not one orgd
/// counts itself ([`crate::consumption::API_REQUESTS`],
/// [`crate::limits::gauges`]).
pub const METRIC: &str = concat!(
    "^(?!(api_requests|applications|workspaces|usergroups|children)$)",
    "[a-z][a-z0-9_.]{0,63}$"
);

/// The canonical decimal text (no sign, no leading zero) of the integers
/// from `min` to `max`, where `min` is 0 or 1 (every configs key's lower
/// bound; a unit test holds them to it): the lengths below `max`'s, then
/// `max`'s own length digit by digit.
pub fn digits_between(min: i64, max: i64) -> String {
    let top = max.to_string();
    let len = top.len();
    let mut alternatives = Vec::new();
    if min == 0 {
        alternatives.push("0".to_owned());
    }
    if len > 1 {
        alternatives.push(format!("[1-9][0-9]{{0,{}}}", len - 2));
    }
    for (i, digit) in top.bytes().map(|b| b - b'0').enumerate() {
        let low = u8::from(i == 0);
        if digit > low {
            let class = if digit - 1 == low {
                low.to_string()
            } else {
                format!("[{low}-{}]", digit - 1)
            };
            let rest = len - i - 1;
            let tail = if rest > 0 {
                format!("[0-9]{{{rest}}}")
            } else {
                String::new()
            };
            alternatives.push(format!("{}{class}{tail}", &top[..i]));
        }
    }
    alternatives.push(top);
    format!("^({})$", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;
    use crate::{access_log, configs, consumption, orgs, tags};
    use regex::Regex;

    /// Strings around every edge the patterns draw: controls, blanks of
    /// every kind, the id and tag alphabets, non-ASCII, and lengths at and
    /// past each bound, padded or not.
    fn corpus() -> Vec<String> {
        let chars = [
            "", "\0", "\t", "\n", "\u{1f}", " ", "\u{7f}", "\u{85}", "\u{9f}", "\u{a0}",
            "\u{2000}", "\u{3000}", "\u{feff}", "a", "Z", "0", "9", "-", "_", ".", ":", "/", "é",
            "😀",
        ];
        let mut out = Vec::new();
        for a in chars {
            for b in chars {
                for c in chars {
                    out.push(format!("{a}{b}{c}"));
                }
            }
        }
        for n in [63, 64, 65, 199, 200, 201] {
            for fill in ["x", "é", "1"] {
                let body = fill.repeat(n);
                out.push(body.clone());
                out.push(format!(" {body}"));
                out.push(format!("a{body}"));
            }
        }
        for n in [
            "0",
            "5",
            "05",
            "1000000000",
            "1000000001",
            "999999999",
            "9999999999",
            "-1",
        ] {
            out.push(n.to_owned());
        }
        for m in [
            "api_requests",
            "applications",
            "children",
            "children2",
            "a.b_c",
            "A",
            "1a",
            "org.*",
            "org.*.x",
            "*",
            "org.",
            "a,b",
        ] {
            out.push(m.to_owned());
        }
        out
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn agree(pattern: &str, max_chars: Option<usize>, valid: impl Fn(&str) -> bool) {
        let re = Regex::new(pattern).unwrap();
        for s in corpus() {
            let by_schema = re.is_match(&s) && max_chars.is_none_or(|m| s.chars().count() <= m);
            assert_eq!(by_schema, valid(&s), "{pattern} vs the validator on {s:?}");
        }
    }

    #[test]
    fn patterns_accept_exactly_what_the_validators_accept() {
        agree(NAME, Some(orgs::MAX_NAME_CHARS), |s| {
            orgs::parse_name(s).is_ok()
        });
        agree(ORG_ID, None, |s| OrgId::parse(s).is_ok());
        agree(TAG_NAME, None, |s| tags::parse_name(s).is_ok());
        agree(EVENT_TYPE, None, |s| {
            crate::webhooks::parse_types(&[s.to_owned()]).is_ok()
        });
        agree(NO_CONTROL, Some(access_log::MAX_ACTION_CHARS), |s| {
            let event = access_log::ExternalEvent {
                timestamp: None,
                user: Some(s.to_owned()),
                action: if s.is_empty() {
                    "x".into()
                } else {
                    s.to_owned()
                },
                status: "SUCCESS".into(),
                ip: None,
                user_agent: None,
                details: None,
            };
            access_log::parse_external("a", vec![event], now()).is_ok()
        });
        for spec in configs::REGISTRY.iter() {
            agree(&digits_between(spec.minimum, spec.maximum), None, |s| {
                let body = serde_json::json!({ spec.key: s });
                configs::parse_body(&body, false).is_ok()
            });
        }
        // The regex crate has no look-ahead: the names orgd counts itself
        // are checked against the validator one by one.
        let (own, rest) = METRIC.split_at(METRIC.find("[a-z]").unwrap());
        let usage = |m: &str| {
            let e = consumption::UsageEvent {
                metric: m.to_owned(),
                quantity: 1,
                timestamp: None,
                idempotency_key: None,
            };
            consumption::parse_usage(vec![e], now()).is_ok()
        };
        let reserved: Vec<&str> = std::iter::once(consumption::API_REQUESTS)
            .chain(crate::limits::gauges())
            .collect();
        agree(&format!("^{rest}"), None, |m| {
            usage(m) || reserved.contains(&m)
        });
        for m in &reserved {
            assert!(
                own.contains(&format!("{m}|")) || own.contains(&format!("{m})")),
                "{m}"
            );
            assert!(!usage(m));
        }
    }

    #[test]
    fn configs_text_patterns_cover_exactly_the_bounds() {
        for spec in configs::REGISTRY.iter() {
            assert!((0..=1).contains(&spec.minimum), "{}", spec.key);
        }
        for (min, max) in [
            (0, 1),
            (1, 1),
            (0, 9),
            (1, 36_500),
            (0, 1000),
            (0, 1_000_000_000),
        ] {
            let re = Regex::new(&digits_between(min, max)).unwrap();
            let probes = (0..=2000)
                .chain(max.saturating_sub(2000)..=max.saturating_add(2000))
                .chain([
                    max * 10,
                    10_i64.pow(u32::try_from(max.to_string().len()).unwrap()) - 1,
                ]);
            for n in probes {
                assert_eq!(
                    re.is_match(&n.to_string()),
                    (min..=max).contains(&n),
                    "{n} in {min}..={max}"
                );
            }
            for bad in ["", "-1", "01", "+1", " 1", "1.0"] {
                assert!(!re.is_match(bad), "{bad:?}");
            }
        }
        assert_eq!(digits_between(0, 1000), "^(0|[1-9][0-9]{0,2}|1000)$");
        assert_eq!(
            digits_between(1, 36_500),
            "^([1-9][0-9]{0,3}|[1-2][0-9]{4}|3[0-5][0-9]{3}|36[0-4][0-9]{2}|36500)$"
        );
    }
}
