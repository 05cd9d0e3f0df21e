//! Who may do what. Every service operation runs these checks, in this order:
//! reach (404, so nothing outside the reach is confirmed to exist), then
//! permission (403), then governance (403).

use crate::api_keys::{Permission, Permissions};
use crate::audit::Actor;
use crate::ids::OrgId;
use crate::orgs::{OrgRecord, path_has};
use crate::{Error, Result};

/// What every webhook operation needs, reading them included (SPEC §11):
/// `admin` to manage them, and `read` because a webhook delivers what the
/// event feed serves (replays included), and the feed needs `read`. Without
/// it, an `admin`-only key refused the org and its feed could read both
/// through a receiver of its own.
pub const WEBHOOKS: Permissions = Permissions::of(&[Permission::Admin, Permission::Read]);

/// The caller of an operation: an API key, or the operator's CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `None` for the operator acting through the CLI.
    pub key_id: Option<String>,
    pub org_id: OrgId,
    pub user: Option<String>,
    pub permissions: Permissions,
    /// The key's own rate limit (requests a minute), if it has one.
    pub rate_limit_per_minute: Option<u32>,
}

impl Principal {
    /// The operator at the console: all permissions, acting from `root`.
    pub fn operator(root: OrgId) -> Self {
        Self {
            key_id: None,
            org_id: root,
            user: Some("orgd-cli".into()),
            permissions: Permissions::all(),
            rate_limit_per_minute: None,
        }
    }

    /// Whether this is the operator at the console rather than an API key.
    pub fn is_operator(&self) -> bool {
        self.key_id.is_none()
    }

    /// A key of org K reaches K and every descendant of K that is live.
    pub fn reaches(&self, org: &OrgRecord) -> bool {
        org.is_live() && path_has(&org.path, &self.org_id)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            key_id: self.key_id.clone(),
            user: self.user.clone(),
        }
    }

    /// Holds every permission of `needed` (one [`Permission`], or a set such
    /// as [`WEBHOOKS`]), or the 403 naming those it lacks.
    pub fn require(&self, needed: impl Into<Permissions>) -> Result<()> {
        let lacking = self.permissions.lacking(needed.into());
        match lacking.names().split_last() {
            None => Ok(()),
            Some((one, [])) => Err(Error::Forbidden(format!(
                "this API key lacks the '{one}' permission"
            ))),
            Some((last, rest)) => Err(Error::Forbidden(format!(
                "this API key lacks the '{}' and '{last}' permissions",
                rest.join("', '")
            ))),
        }
    }

    /// Returns the org if this principal reaches it; otherwise the same 404 a
    /// missing org gets.
    pub fn reach<O: std::borrow::Borrow<OrgRecord>>(&self, org: Option<O>) -> Result<O> {
        match org {
            Some(org) if self.reaches(org.borrow()) => Ok(org),
            _ => Err(Error::NotFound("organization")),
        }
    }

    /// The preamble of every operation on one org: the org if this principal
    /// reaches it and holds `perm`. Reach is decided first, so a key learns
    /// nothing, not even its missing permission, about an org out of reach.
    pub fn reach_as<O: std::borrow::Borrow<OrgRecord>>(
        &self,
        org: Option<O>,
        perm: impl Into<Permissions>,
    ) -> Result<O> {
        let org = self.reach(org)?;
        self.require(perm)?;
        Ok(org)
    }

    /// [`Principal::govern`] for an org already found in reach (the
    /// console asks it to decide which forms to show): a key of a strict
    /// ancestor, or with `allow_root_self` the root's key on the root.
    pub fn governs_reached(&self, org_id: &str, is_root: bool, allow_root_self: bool) -> bool {
        org_id != self.org_id.as_str() || (allow_root_self && is_root)
    }

    /// Governance: deleting or moving an org, or changing its limits, needs a
    /// key of a strict ancestor, so no org can raise its own limits or delete
    /// itself. `allow_root_self` lets the root's keys govern the root itself
    /// (its configs).
    pub fn govern(&self, org: &OrgRecord, allow_root_self: bool) -> Result<()> {
        if self.reaches(org)
            && self.governs_reached(org.id.as_str(), org.is_root(), allow_root_self)
        {
            Ok(())
        } else if org.is_root() {
            Err(Error::Forbidden(
                "the root organization cannot be deleted or moved".into(),
            ))
        } else {
            Err(Error::Forbidden(
                "only a key of an ancestor organization may do this".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn org(id: &str, path: &str) -> OrgRecord {
        OrgRecord {
            id: OrgId::from_trusted(id.into()),
            name: id.into(),
            parent_id: (id != "root").then(|| OrgId::from_trusted("root".into())),
            path: path.into(),
            depth: path.matches('/').count() as i64 - 1,
            created_at: DateTime::<Utc>::default(),
            updated_at: DateTime::<Utc>::default(),
            version: 1,
            customizations: serde_json::json!({}),
            configs: Default::default(),
            tags: vec![],
            deleted_at: None,
        }
    }

    fn key_of(id: &str, perms: &[&str]) -> Principal {
        Principal {
            key_id: Some("key_1".into()),
            org_id: OrgId::from_trusted(id.into()),
            user: None,
            permissions: Permissions::parse_names(perms.iter().copied()).unwrap_or_default(),
            rate_limit_per_minute: None,
        }
    }

    #[test]
    fn reach_covers_self_and_descendants_only() {
        let k = key_of("a", &["read"]);
        assert!(k.reaches(&org("a", "/root/a/")));
        assert!(k.reaches(&org("b", "/root/a/b/")));
        assert!(!k.reaches(&org("root", "/root/")));
        assert!(!k.reaches(&org("ab", "/root/ab/")));
        let mut dead = org("b", "/root/a/b/");
        dead.deleted_at = Some(DateTime::<Utc>::default());
        assert!(!k.reaches(&dead));
        assert!(matches!(k.reach(Some(dead)), Err(Error::NotFound(_))));
    }

    #[test]
    fn governance_needs_a_strict_ancestor() {
        let k = key_of("a", &["write"]);
        assert!(k.govern(&org("a", "/root/a/"), true).is_err());
        assert!(k.govern(&org("b", "/root/a/b/"), false).is_ok());
        let root = key_of("root", &["write"]);
        assert!(root.govern(&org("root", "/root/"), false).is_err());
        assert!(root.govern(&org("root", "/root/"), true).is_ok());
    }

    #[test]
    fn the_consoles_governance_answer_is_governs_for_an_org_in_reach() {
        let cases = [
            (key_of("a", &["write"]), org("a", "/root/a/")),
            (key_of("a", &["write"]), org("b", "/root/a/b/")),
            (key_of("root", &["write"]), org("root", "/root/")),
            (key_of("root", &["write"]), org("a", "/root/a/")),
        ];
        for (k, o) in cases {
            for allow_root_self in [false, true] {
                assert_eq!(
                    k.governs_reached(o.id.as_str(), o.is_root(), allow_root_self),
                    k.govern(&o, allow_root_self).is_ok(),
                    "{} on {} ({allow_root_self})",
                    k.org_id.as_str(),
                    o.id.as_str()
                );
            }
        }
    }

    #[test]
    fn missing_permission_is_forbidden() {
        let k = key_of("a", &["read"]);
        assert!(k.require(Permission::Read).is_ok());
        assert!(matches!(
            k.require(Permission::Write),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn webhooks_need_admin_and_read_both() {
        let forbidden = |perms: &[&str]| match key_of("a", perms).require(WEBHOOKS) {
            Ok(()) => None,
            Err(Error::Forbidden(why)) => Some(why),
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(forbidden(&["read", "admin"]), None);
        assert_eq!(forbidden(&["read", "write", "delete", "admin"]), None);
        assert_eq!(
            forbidden(&["admin", "write", "delete"]).as_deref(),
            Some("this API key lacks the 'read' permission")
        );
        assert_eq!(
            forbidden(&["read", "write", "delete"]).as_deref(),
            Some("this API key lacks the 'admin' permission")
        );
        assert_eq!(
            forbidden(&["write"]).as_deref(),
            Some("this API key lacks the 'read' and 'admin' permissions")
        );
    }
}
