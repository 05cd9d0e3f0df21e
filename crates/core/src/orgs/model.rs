//! Organizations and their place in the tree.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::FieldError;
use crate::configs::{self, Configs};
use crate::error::parse_optional;
use crate::ids::OrgId;
use crate::tags::Tag;

/// An organization as stored, tombstones included.
///
/// `path` lists the ids from the root down to this org, each followed by `/`
/// (`/root/acme/team-1/`). It makes "is X in K's subtree" a prefix test and a
/// subtree an index range scan; a move rewrites the paths of the moved subtree.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgRecord {
    pub id: OrgId,
    pub name: String,
    pub parent_id: Option<OrgId>,
    pub path: String,
    /// 1 for the root.
    pub depth: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub customizations: Value,
    /// The limits set on this org (not inherited ones).
    pub configs: Configs,
    /// Loaded with the org, ordered by name; written through
    /// [`crate::store::TagRepo`], never by `insert_org`/`update_org`.
    pub tags: Vec<Tag>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The value of `spec` that governs the last org of `lineage` (root first),
/// with the org that sets it ([`configs::effective`]'s rule).
pub fn effective_config<'a, O: std::borrow::Borrow<OrgRecord>>(
    lineage: &'a [O],
    spec: &configs::ConfigSpec,
) -> Option<(i64, &'a OrgId)> {
    configs::effective(
        lineage.iter().map(|o| {
            let o = o.borrow();
            (&o.id, &o.configs)
        }),
        spec,
    )
}

impl OrgRecord {
    /// A new org `id` under `parent`, at version 1, with nothing set on it.
    pub fn new_child(parent: &OrgRecord, id: OrgId, name: String, now: DateTime<Utc>) -> Self {
        Self {
            path: child_path(&parent.path, &id),
            id,
            name,
            parent_id: Some(parent.id.clone()),
            depth: parent.depth + 1,
            created_at: now,
            updated_at: now,
            version: 1,
            customizations: Value::Object(serde_json::Map::new()),
            configs: Configs::new(),
            tags: Vec::new(),
            deleted_at: None,
        }
    }

    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }

    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }

    /// True when `other` is this org or one of its descendants.
    pub fn contains(&self, other: &OrgRecord) -> bool {
        other.path.starts_with(&self.path)
    }

    pub fn view(&self) -> Org {
        Org {
            id: self.id.to_string(),
            name: self.name.clone(),
            parent_id: self.parent_id.as_ref().map(ToString::to_string),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            customizations: self.customizations.clone(),
            tags: self.tags.iter().map(|t| t.name.clone()).collect(),
        }
    }

    /// The org as [`OrgRecord::view`] makes it, borrowed: it serializes to the
    /// same JSON without copying a field (the hottest read answers with it).
    pub fn as_view(&self) -> OrgView<'_> {
        OrgView(self)
    }

    /// The ids on the path from the root down to this org, both included.
    pub fn lineage(&self) -> Vec<OrgId> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| OrgId::from_trusted(s.to_owned()))
            .collect()
    }
}

/// The org object every endpoint returns (the seed's example, with the
/// fields orgd adds).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    #[cfg_attr(feature = "openapi", schema(example = "org-123"))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(example = "Example Organization"))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(example = "root"))]
    pub parent_id: Option<String>,
    #[serde(with = "crate::time::serde_ts")]
    #[cfg_attr(feature = "openapi", schema(example = "2023-01-01T00:00:00Z"))]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::serde_ts")]
    #[cfg_attr(feature = "openapi", schema(example = "2023-01-01T00:00:00Z"))]
    pub updated_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(example = 1))]
    pub version: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object, example = json!({"theme": "dark"})))]
    pub customizations: Value,
    /// Names of the org's tags.
    pub tags: Vec<String>,
}

/// [`Org`]'s JSON, written from the record it would be made from.
pub struct OrgView<'a>(&'a OrgRecord);

impl serde::Serialize for OrgView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Ts(DateTime<Utc>);
        impl serde::Serialize for Ts {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                crate::time::serde_ts::serialize(&self.0, s)
            }
        }
        struct TagNames<'a>(&'a [Tag]);
        impl serde::Serialize for TagNames<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|t| &t.name))
            }
        }
        let o = self.0;
        // The fields of `Org`, in its order.
        let mut m = s.serialize_struct("Org", 8)?;
        m.serialize_field("id", o.id.as_str())?;
        m.serialize_field("name", &o.name)?;
        m.serialize_field("parent_id", &o.parent_id.as_ref().map(OrgId::as_str))?;
        m.serialize_field("created_at", &Ts(o.created_at))?;
        m.serialize_field("updated_at", &Ts(o.updated_at))?;
        m.serialize_field("version", &o.version)?;
        m.serialize_field("customizations", &o.customizations)?;
        m.serialize_field("tags", &TagNames(&o.tags))?;
        m.end()
    }
}

/// The path of `id` placed under a parent whose path is `parent_path`.
pub fn child_path(parent_path: &str, id: &OrgId) -> String {
    format!("{parent_path}{id}/")
}

/// True when the org with `path` is the org `id` or lies beneath it.
pub fn path_has(path: &str, id: &OrgId) -> bool {
    path.split('/').any(|seg| seg == id.as_str())
}

/// The exclusive upper bound of the paths in the subtree rooted at `path`:
/// every path of the subtree starts with `path`, and since `/` is followed by
/// `0` in byte order and ids never contain `/`, the range `[path, bound)` holds
/// exactly that subtree (compared bytewise: `BINARY` in SQLite, `COLLATE "C"`
/// in PostgreSQL).
pub fn subtree_upper_bound(path: &str) -> String {
    let mut bound = path.trim_end_matches('/').to_owned();
    bound.push('0');
    bound
}

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A validated organization name: 1–200 characters after trimming, no control characters.
pub fn parse_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    // Length and control characters are judged on the name as sent, as
    // the OpenAPI document's schema judges it (`crate::schema::NAME`).
    if raw.chars().count() > MAX_NAME_CHARS {
        return Err("must be at most 200 characters");
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(name.to_owned())
}

/// A new org as the client sent it (`POST /orgs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewOrg {
    pub id: Option<String>,
    pub name: String,
    /// Defaults to the caller's org.
    pub parent_id: Option<String>,
    pub customizations: Option<Value>,
    /// Tag names to put on the new org.
    pub tags: Vec<String>,
    /// Configs (limits) of the new org, as in `PUT …/configs`.
    pub configs: Option<Value>,
}

/// A new org whose every field is valid on its own: what `create_org`
/// works from. Where it may go (reach, depth, the parent's limits) is
/// decided there.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidNewOrg {
    /// `None`: one is generated.
    pub id: Option<OrgId>,
    pub name: String,
    /// `None`: the caller's org.
    pub parent_id: Option<OrgId>,
    pub customizations: Value,
    /// Distinct tag names.
    pub tags: Vec<String>,
    pub configs: Configs,
}

impl ValidNewOrg {
    /// Checks every field of `raw`, naming each invalid one (a config key as
    /// `configs.KEY`, a tag as `tags[i]`).
    pub fn parse(raw: NewOrg) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let id = parse_optional("id", raw.id.as_deref(), OrgId::parse, &mut errors);
        let name = parse_name(&raw.name)
            .map_err(|why| errors.push(FieldError::new("name", why)))
            .ok();
        let customizations = raw
            .customizations
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Err(why) = crate::customizations::validate(&customizations) {
            errors.push(FieldError::new("customizations", why));
        }
        let parent_id = parse_optional(
            "parent_id",
            raw.parent_id.as_deref(),
            OrgId::parse,
            &mut errors,
        );
        let tags = parse_tag_names(&raw.tags, &mut errors);
        let mut configs = Configs::new();
        match raw.configs.as_ref().map(|c| configs::parse_body(c, false)) {
            None => {}
            Some(Ok(changes)) => configs::apply(&mut configs, changes),
            Some(Err(errs)) => errors.extend(
                errs.into_iter()
                    .map(|e| FieldError::new(format!("configs.{}", e.field), e.message)),
            ),
        }
        match name {
            Some(name) if errors.is_empty() => Ok(Self {
                id,
                name,
                parent_id,
                customizations,
                tags,
                configs,
            }),
            _ => Err(errors),
        }
    }
}

/// Tag names of a new org: each valid, none repeated, not too many.
fn parse_tag_names(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, n) in raw.iter().enumerate() {
        match crate::tags::parse_name(n) {
            Ok(n) if names.contains(&n) => {
                errors.push(FieldError::new(format!("tags[{i}]"), "repeats a tag name"))
            }
            Ok(n) => names.push(n),
            Err(why) => errors.push(FieldError::new(format!("tags[{i}]"), why)),
        }
    }
    if raw.len() > crate::tags::MAX_PER_ORG {
        errors.push(FieldError::new(
            "tags",
            format!("at most {} tags per organization", crate::tags::MAX_PER_ORG),
        ));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> OrgId {
        OrgId::from_trusted(s.into())
    }

    #[test]
    fn the_borrowed_view_serializes_as_the_view() {
        let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 123_000_000).unwrap_or_default();
        let tag = |name: &str| Tag {
            id: format!("tag_{name}"),
            name: name.into(),
            created_at: at(5),
        };
        let mut org = OrgRecord {
            id: id("a"),
            name: "A \"quoted\" — ü".into(),
            parent_id: Some(id("root")),
            path: "/root/a/".into(),
            depth: 2,
            created_at: at(1),
            updated_at: at(2),
            version: 7,
            customizations: serde_json::json!({"theme": {"dark": true}, "n": [1, 2]}),
            configs: Default::default(),
            tags: vec![tag("gold"), tag("eu")],
            deleted_at: None,
        };
        let same = |o: &OrgRecord| {
            assert_eq!(
                serde_json::to_string(&o.as_view()).ok(),
                serde_json::to_string(&o.view()).ok()
            );
        };
        same(&org);
        org.parent_id = None;
        org.tags.clear();
        org.customizations = serde_json::json!({});
        same(&org);
    }

    #[test]
    fn paths_nest() {
        let p = child_path("/root/", &id("a"));
        assert_eq!(p, "/root/a/");
        assert!(path_has(&p, &id("root")));
        assert!(path_has(&p, &id("a")));
        assert!(!path_has(&p, &id("roo")));
    }

    #[test]
    fn upper_bound_excludes_siblings_sharing_a_prefix() {
        let bound = subtree_upper_bound("/root/a/");
        for inside in [
            "/root/a/",
            "/root/a/b/",
            "/root/a/-x/",
            "/root/a/.x/",
            "/root/a/zzz/",
        ] {
            assert!(inside >= "/root/a/" && inside < bound.as_str(), "{inside}");
        }
        for outside in [
            "/root/a-b/",
            "/root/a.b/",
            "/root/ab/",
            "/root/a0/",
            "/root/b/",
        ] {
            assert!(
                !(outside >= "/root/a/" && outside < bound.as_str()),
                "{outside}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Acme  "), Ok("Acme".into()));
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"é".repeat(200)).is_ok());
        assert!(parse_name(&"é".repeat(201)).is_err());
        assert!(parse_name("a\u{7}b").is_err());
    }

    #[test]
    fn a_new_org_with_valid_fields_parses() {
        let org = ValidNewOrg::parse(NewOrg {
            id: Some("acme".into()),
            name: "Acme".into(),
            tags: vec!["gold".into(), "eu".into()],
            ..NewOrg::default()
        })
        .unwrap();
        assert_eq!(org.id.as_ref().map(OrgId::as_str), Some("acme"));
        assert_eq!((org.name.as_str(), org.parent_id), ("Acme", None));
        assert_eq!(org.customizations, serde_json::json!({}));
        assert_eq!(org.tags, ["gold", "eu"]);
    }

    #[test]
    fn every_invalid_field_of_a_new_org_is_named() {
        let errors = ValidNewOrg::parse(NewOrg {
            id: Some("-bad".into()),
            name: String::new(),
            parent_id: Some("no/such".into()),
            customizations: Some(serde_json::json!([1])),
            tags: vec!["gold".into(), "gold".into()],
            configs: Some(serde_json::json!({"nope.limit": 1})),
        })
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "id",
                "name",
                "customizations",
                "parent_id",
                "tags[1]",
                "configs.nope.limit"
            ]
        );
    }
}
