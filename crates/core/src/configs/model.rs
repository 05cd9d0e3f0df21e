//! Organization configs: the limits, keyed as the seed names them
//! (`applications.limit`, …), and the audit trail's retention (SPEC §12).
//! Adding a key is one entry in [`REGISTRY`] (a limit's key: one row of
//! [`crate::limits::LIMITS`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

use crate::FieldError;
use crate::ids::OrgId;
use crate::limits::LIMITS;

/// One known configuration key, as `GET …/organizations/configs` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigSpec {
    #[cfg_attr(feature = "openapi", schema(example = "applications.limit"))]
    pub key: &'static str,
    #[serde(rename = "displayText")]
    #[cfg_attr(
        feature = "openapi",
        schema(example = "Max number of applications allowed")
    )]
    pub display_text: &'static str,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(example = "integer"))]
    pub kind: &'static str,
    pub minimum: i64,
    pub maximum: i64,
    /// How an org inherits the key from its ancestors.
    #[serde(skip)]
    pub inherit: Inherit,
}

/// How a config applies beneath the org that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inherit {
    /// The nearest value set on the org or an ancestor wins (the limits).
    Nearest,
    /// 1 on the org or any ancestor is 1 for the whole subtree: no
    /// descendant can lift it (a legal hold).
    Sticky,
}

const MAX_LIMIT: i64 = 1_000_000_000;

const fn limit(key: &'static str, display_text: &'static str) -> ConfigSpec {
    ConfigSpec {
        key,
        display_text,
        kind: "integer",
        minimum: 0,
        maximum: MAX_LIMIT,
        inherit: Inherit::Nearest,
    }
}

/// `audit.retention_days`: audit events older than this many days are
/// pruned (unset: kept for ever).
pub const AUDIT_RETENTION_DAYS: &str = "audit.retention_days";
/// `audit.legal_hold`: 1 keeps every audit event of the subtree.
pub const AUDIT_LEGAL_HOLD: &str = "audit.legal_hold";

/// Every known key: one per limit ([`crate::limits::LIMITS`]), then the
/// audit trail's.
pub static REGISTRY: LazyLock<Vec<ConfigSpec>> = LazyLock::new(|| {
    LIMITS
        .iter()
        .map(|l| limit(l.config_key, l.display_text))
        .chain([
            ConfigSpec {
                key: AUDIT_RETENTION_DAYS,
                display_text: "Days audit events are kept before they are pruned (unset: for ever)",
                kind: "integer",
                minimum: 1,
                maximum: 36_500,
                inherit: Inherit::Nearest,
            },
            ConfigSpec {
                key: AUDIT_LEGAL_HOLD,
                display_text: "1: keep every audit event of the subtree, whatever its retention",
                kind: "integer",
                minimum: 0,
                maximum: 1,
                inherit: Inherit::Sticky,
            },
        ])
        .collect()
});

/// The value of `spec` that governs the last org of `lineage` (each org's
/// id and configs, root first), with the org that sets it: the nearest
/// value, or for a sticky key the topmost org that sets 1, else the nearest
/// value. (`orgs::effective_config` reads it from a lineage of org records.)
pub fn effective<'a>(
    lineage: impl DoubleEndedIterator<Item = (&'a OrgId, &'a Configs)> + Clone,
    spec: &ConfigSpec,
) -> Option<(i64, &'a OrgId)> {
    if spec.inherit == Inherit::Sticky
        && let Some((id, _)) = lineage
            .clone()
            .find(|(_, configs)| configs.get(spec.key) == Some(&1))
    {
        return Some((1, id));
    }
    lineage
        .rev()
        .find_map(|(id, configs)| configs.get(spec.key).map(|v| (*v, id)))
}

pub fn spec(key: &str) -> Option<&'static ConfigSpec> {
    REGISTRY.iter().find(|s| s.key == key)
}

/// The configs set on one org: key → value.
pub type Configs = BTreeMap<String, i64>;

/// Reads one value: a JSON integer or a string of ASCII digits (the seed shows
/// both), within the key's bounds.
fn parse_value(spec: &ConfigSpec, v: &Value) -> Result<i64, String> {
    let range = || {
        format!(
            "must be an integer from {} to {}",
            spec.minimum, spec.maximum
        )
    };
    let n = match v {
        // JSON does not tell `5` from `5.0`; both are the integer 5.
        Value::Number(n) => crate::integer::integral::<i64>(n).ok_or_else(range)?,
        // Digits in canonical form: no sign, no leading zero.
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 19
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0')) =>
        {
            s.parse::<i64>().map_err(|_| range())?
        }
        Value::String(_) => return Err(format!("{}, or a string of digits", range())),
        _ => return Err(range()),
    };
    if (spec.minimum..=spec.maximum).contains(&n) {
        Ok(n)
    } else {
        Err(range())
    }
}

/// A parsed configs request body. For PATCH, `None` removes the key.
pub type ConfigChanges = BTreeMap<String, Option<i64>>;

/// Parses a configs body. Every unknown key and every bad value is reported
/// at once. `allow_null` is PATCH's "remove this key".
pub fn parse_body(body: &Value, allow_null: bool) -> Result<ConfigChanges, Vec<FieldError>> {
    let Value::Object(map) = body else {
        return Err(vec![FieldError::new(
            "body",
            "must be a JSON object of configuration keys",
        )]);
    };
    let mut out = ConfigChanges::new();
    let mut errors = Vec::new();
    for (key, v) in map {
        match spec(key) {
            None => errors.push(FieldError::new(key.clone(), "unknown configuration key")),
            Some(_) if v.is_null() && allow_null => {
                out.insert(key.clone(), None);
            }
            Some(s) => match parse_value(s, v) {
                Ok(n) => {
                    out.insert(key.clone(), Some(n));
                }
                Err(why) => errors.push(FieldError::new(key.clone(), why)),
            },
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies parsed changes to a set of configs.
pub fn apply(configs: &mut Configs, changes: ConfigChanges) {
    for (k, v) in changes {
        match v {
            Some(n) => configs.insert(k, n),
            None => configs.remove(&k),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_nearest_value_wins() {
        let ids: Vec<OrgId> = ["root", "a", "b"]
            .iter()
            .map(|s| OrgId::from_trusted((*s).into()))
            .collect();
        let configs = |pairs: &[(&str, i64)]| -> Configs {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        let cs = [
            configs(&[("children.limit", 9), ("api_keys.limit", 1)]),
            configs(&[("children.limit", 5), (AUDIT_LEGAL_HOLD, 1)]),
            configs(&[(AUDIT_LEGAL_HOLD, 0)]),
        ];
        let chain = || ids.iter().zip(cs.iter());
        let at = |key| effective(chain(), spec(key).unwrap());
        assert_eq!(at("children.limit"), Some((5, &ids[1])));
        assert_eq!(at("api_keys.limit"), Some((1, &ids[0])));
        assert_eq!(at("usergroups.limit"), None);
        assert_eq!(at(AUDIT_LEGAL_HOLD), Some((1, &ids[1])), "a hold is sticky");
    }

    #[test]
    fn every_limit_has_its_config_key() {
        for l in LIMITS {
            assert!(spec(l.config_key).is_some(), "{}", l.name);
        }
    }

    #[test]
    fn seed_values_parse_as_integers_or_digit_strings() {
        let c = parse_body(
            &json!({"applications.limit": "5", "workspaces.limit": 3}),
            false,
        )
        .unwrap_or_default();
        assert_eq!(c.get("applications.limit"), Some(&Some(5)));
        assert_eq!(c.get("workspaces.limit"), Some(&Some(3)));
    }

    #[test]
    fn the_seeds_typo_example_names_both_unknown_keys() {
        let errs = parse_body(
            &json!({"applications.limit": 1, "workspaces1.limit": 2, "usergrouos.limit": 30}),
            false,
        )
        .err()
        .unwrap_or_default();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["usergrouos.limit", "workspaces1.limit"]);
    }

    #[test]
    fn bad_values_are_refused() {
        for v in [
            json!(-1),
            json!(1.5),
            json!("x"),
            json!(true),
            json!([]),
            json!({}),
            json!(1_000_000_000_000i64),
            json!("1e3"),
            json!(""),
            json!(" 1"),
            json!(null),
        ] {
            assert!(
                parse_body(&json!({"applications.limit": v}), false).is_err(),
                "{v}"
            );
        }
        assert!(parse_body(&json!({"applications.limit": 1_000_000_000}), false).is_ok());
        assert!(parse_body(&json!({"applications.limit": 0}), false).is_ok());
        assert!(parse_body(&json!([1]), false).is_err());
    }

    #[test]
    fn patch_null_removes() {
        let mut c = Configs::from([
            ("applications.limit".into(), 5),
            ("workspaces.limit".into(), 2),
        ]);
        let changes = parse_body(
            &json!({"applications.limit": null, "usergroups.limit": "7"}),
            true,
        )
        .unwrap_or_default();
        apply(&mut c, changes);
        assert_eq!(
            c,
            Configs::from([
                ("workspaces.limit".into(), 2),
                ("usergroups.limit".into(), 7)
            ])
        );
    }
}
