//! Customizations: a free-form JSON object per organization (branding, feature
//! flags, UI text), bounded in size and depth.

use serde_json::Value;

pub const MAX_BYTES: usize = 64 * 1024;
pub const MAX_DEPTH: usize = 32;

/// Checks that `v` may be stored as an org's customizations.
pub fn validate(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("must be a JSON object".into());
    }
    let depth = depth(v);
    if depth > MAX_DEPTH {
        return Err(format!(
            "is nested {depth} levels deep; at most {MAX_DEPTH} are allowed"
        ));
    }
    let size = v.to_string().len();
    if size > MAX_BYTES {
        return Err(format!(
            "is {size} bytes serialized; at most {MAX_BYTES} are allowed"
        ));
    }
    Ok(())
}

/// Applies an RFC 7396 JSON merge patch: objects merge key by key, `null`
/// removes a key, anything else (arrays included) replaces the target whole.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Deep merge for effective customizations: objects merge key by key, and
/// any other value in `over` (arrays, scalars, `null`) replaces what `base`
/// had — the nearer organization's value wins.
pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The body of `PUT …/customizations`: the object itself, or the seed's
/// wording, an object whose only key is `customizations` holding the object.
pub fn unwrap_put_body(body: Value) -> Value {
    match body {
        Value::Object(mut m)
            if m.len() == 1 && m.get("customizations").is_some_and(Value::is_object) =>
        {
            m.remove("customizations").unwrap_or_default()
        }
        other => other,
    }
}

/// Nesting depth: `{}` is 1, `{"a": {}}` is 2. Iterative, so no input can
/// overflow the stack.
pub(crate) fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Object(m) => {
                max = max.max(d);
                stack.extend(m.values().map(|c| (c, d + 1)));
            }
            Value::Array(a) => {
                max = max.max(d);
                stack.extend(a.iter().map(|c| (c, d + 1)));
            }
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut v = json!({});
        for _ in 1..levels {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": 2}]})), 3);
        assert_eq!(depth(&nested(32)), 32);
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "arr": [1, 2]});
        merge_patch(
            &mut t,
            &json!({"a": "z", "c": {"f": null, "h": 1}, "arr": [3]}),
        );
        assert_eq!(t, json!({"a": "z", "c": {"d": "e", "h": 1}, "arr": [3]}));
        let mut t = json!({"a": 1});
        merge_patch(&mut t, &json!(["x"]));
        assert_eq!(t, json!(["x"]));
        let mut t = json!({"a": [1]});
        merge_patch(&mut t, &json!({"a": {"b": null, "c": 1}}));
        assert_eq!(t, json!({"a": {"c": 1}}));
    }

    #[test]
    fn deep_merge_lets_the_nearest_value_win() {
        let mut base =
            json!({"theme": {"color": "blue", "font": "serif"}, "logo": "a.png", "flags": [1]});
        deep_merge(
            &mut base,
            &json!({"theme": {"color": "red"}, "flags": [2], "extra": null}),
        );
        assert_eq!(
            base,
            json!({"theme": {"color": "red", "font": "serif"}, "logo": "a.png", "flags": [2], "extra": null})
        );
    }

    #[test]
    fn the_seeds_wrapped_put_body_is_unwrapped() {
        assert_eq!(
            unwrap_put_body(json!({"customizations": {"a": 1}})),
            json!({"a": 1})
        );
        assert_eq!(
            unwrap_put_body(json!({"customizations": 1})),
            json!({"customizations": 1})
        );
        assert_eq!(
            unwrap_put_body(json!({"customizations": {}, "b": 2})),
            json!({"customizations": {}, "b": 2})
        );
    }

    #[test]
    fn bounds_are_inclusive() {
        assert!(validate(&nested(32)).is_ok());
        assert!(validate(&nested(33)).is_err());
        let big = json!({ "k": "x".repeat(MAX_BYTES) });
        assert!(validate(&big).is_err());
        assert!(validate(&json!([])).is_err());
    }
}
