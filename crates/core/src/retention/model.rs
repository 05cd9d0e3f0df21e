//! How long each org's audit events are kept (SPEC §12): `audit.retention_days`
//! is inherited like the limits (the nearest value wins), and
//! `audit.legal_hold` = 1 on an org keeps every event of its subtree, which
//! no descendant can lift (see [`crate::configs::Inherit`]).
//!
//! The pruner reads only the orgs that set one of the two keys, and decides
//! for every other org from its path: the nearest retention above it, and
//! any hold above it.

use crate::configs::{AUDIT_LEGAL_HOLD, AUDIT_RETENTION_DAYS};
use crate::orgs::OrgRecord;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `(path, days)` of each org setting a retention, deepest first.
    retention: Vec<(String, i64)>,
    /// The paths of the orgs holding their subtree.
    holds: Vec<String>,
}

impl RetentionPolicy {
    /// The policy the configs of `setters` make (other orgs set neither key).
    pub fn new<'a>(setters: impl IntoIterator<Item = &'a OrgRecord>) -> Self {
        let mut p = Self::default();
        for o in setters {
            if let Some(days) = o.configs.get(AUDIT_RETENTION_DAYS) {
                p.retention.push((o.path.clone(), *days));
            }
            if o.configs.get(AUDIT_LEGAL_HOLD) == Some(&1) {
                p.holds.push(o.path.clone());
            }
        }
        p.retention
            .sort_by_key(|(path, _)| std::cmp::Reverse(path.matches('/').count()));
        p
    }

    /// Days the events of the org at `path` are kept; `None`: for ever
    /// (no retention above it, or a hold).
    pub fn days_for(&self, path: &str) -> Option<i64> {
        if self.holds.iter().any(|h| path.starts_with(h.as_str())) {
            return None;
        }
        self.retention
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
            .map(|(_, days)| *days)
    }

    /// The subtrees (by path) in which some org may have a retention: those
    /// of the retention setters that lie under no other setter.
    pub fn subtrees(&self) -> Vec<&str> {
        let paths: Vec<&str> = self.retention.iter().map(|(p, _)| p.as_str()).collect();
        paths
            .iter()
            .filter(|p| !paths.iter().any(|q| q != *p && p.starts_with(q)))
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;

    fn org(path: &str, configs: &[(&str, i64)]) -> OrgRecord {
        let id = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("root");
        OrgRecord {
            id: OrgId::from_trusted(id.into()),
            name: id.into(),
            parent_id: None,
            path: path.into(),
            depth: 1,
            created_at: Default::default(),
            updated_at: Default::default(),
            version: 1,
            customizations: serde_json::json!({}),
            configs: configs.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            tags: vec![],
            deleted_at: None,
        }
    }

    #[test]
    fn the_nearest_retention_wins_and_a_hold_above_keeps_everything() {
        let setters = [
            org("/root/", &[(AUDIT_RETENTION_DAYS, 365)]),
            org("/root/a/", &[(AUDIT_RETENTION_DAYS, 30)]),
            org("/root/a/held/", &[(AUDIT_LEGAL_HOLD, 1)]),
            org("/root/b/", &[(AUDIT_LEGAL_HOLD, 0)]),
            org("/root/c/", &[(AUDIT_LEGAL_HOLD, 1)]),
            org(
                "/root/c/d/",
                &[(AUDIT_LEGAL_HOLD, 0), (AUDIT_RETENTION_DAYS, 1)],
            ),
        ];
        let p = RetentionPolicy::new(&setters);
        assert_eq!(p.days_for("/root/"), Some(365));
        assert_eq!(p.days_for("/root/x/"), Some(365));
        assert_eq!(p.days_for("/root/a/"), Some(30));
        assert_eq!(p.days_for("/root/a/x/y/"), Some(30));
        assert_eq!(p.days_for("/root/a/held/"), None);
        assert_eq!(p.days_for("/root/a/held/x/"), None);
        assert_eq!(p.days_for("/root/b/"), Some(365));
        assert_eq!(
            p.days_for("/root/c/d/"),
            None,
            "a descendant cannot lift a hold"
        );
        assert_eq!(p.subtrees(), vec!["/root/"]);
        // `/root/ab/` is not under `/root/a/`.
        assert_eq!(p.days_for("/root/ab/"), Some(365));

        let p = RetentionPolicy::new(&setters[1..3]);
        assert_eq!(p.days_for("/root/x/"), None);
        assert_eq!(p.subtrees(), vec!["/root/a/"]);
        assert_eq!(RetentionPolicy::new(&[]).subtrees(), Vec::<&str>::new());
    }
}
