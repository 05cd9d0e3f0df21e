//! Limited resources: the applications, workspaces and user groups an org
//! holds. Each kind is a registry of named items, counted against the org's
//! `<kind>.limit` config (see [`crate::limits`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;
/// Deepest nesting of a `metadata` object.
pub const MAX_METADATA_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Application,
    Workspace,
    Usergroup,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 3] = [
        ResourceKind::Application,
        ResourceKind::Workspace,
        ResourceKind::Usergroup,
    ];

    /// The collection's name: its URL segment, its gauge and its limit's prefix.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Application => "applications",
            ResourceKind::Workspace => "workspaces",
            ResourceKind::Usergroup => "usergroups",
        }
    }

    /// One item's name: the audit actions' prefix and the target type.
    pub fn singular(self) -> &'static str {
        match self {
            ResourceKind::Application => "application",
            ResourceKind::Workspace => "workspace",
            ResourceKind::Usergroup => "usergroup",
        }
    }

    /// The prefix of generated ids (`app_…`).
    pub fn id_prefix(self) -> &'static str {
        match self {
            ResourceKind::Application => "app",
            ResourceKind::Workspace => "ws",
            ResourceKind::Usergroup => "ug",
        }
    }
}

/// One item of a registry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resource {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "app_01hzy3m6f1q8k3m4v6w8y0a2c4")
    )]
    pub id: String,
    /// Unique among the org's items of this kind.
    #[cfg_attr(feature = "openapi", schema(example = "Billing portal"))]
    pub name: String,
    #[serde(with = "crate::time::serde_ts")]
    pub created_at: DateTime<Utc>,
    /// A small free-form JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Value,
}

/// Checks an item's `metadata`: an object of at most
/// [`MAX_METADATA_BYTES`] and [`MAX_METADATA_DEPTH`] levels.
pub fn validate_metadata(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("must be a JSON object".into());
    }
    let depth = crate::customizations::depth(v);
    if depth > MAX_METADATA_DEPTH {
        return Err(format!(
            "is nested {depth} levels deep; at most {MAX_METADATA_DEPTH} are allowed"
        ));
    }
    let size = v.to_string().len();
    if size > MAX_METADATA_BYTES {
        return Err(format!(
            "is {size} bytes serialized; at most {MAX_METADATA_BYTES} are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_name_themselves_consistently() {
        for k in ResourceKind::ALL {
            assert!(k.plural().starts_with(k.singular()));
            assert!(crate::configs::spec(&format!("{}.limit", k.plural())).is_some());
        }
    }

    #[test]
    fn metadata_is_a_small_shallow_object() {
        assert!(validate_metadata(&json!({})).is_ok());
        assert!(validate_metadata(&json!({"team": "core", "tier": [1, 2]})).is_ok());
        for bad in [json!([]), json!("x"), json!(null), json!(1)] {
            assert!(validate_metadata(&bad).is_err(), "{bad}");
        }
        let big = json!({ "x": "y".repeat(MAX_METADATA_BYTES) });
        assert!(validate_metadata(&big).is_err());
        let mut deep = json!({});
        for _ in 0..MAX_METADATA_DEPTH {
            deep = json!({ "a": deep });
        }
        assert!(validate_metadata(&deep).is_err());
    }
}
