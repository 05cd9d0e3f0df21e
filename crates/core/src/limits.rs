//! The five limits and how they are resolved: an org's own config value,
//! else its nearest ancestor's, else none (unlimited).

use crate::configs::Configs;
use crate::ids::OrgId;
use crate::org::OrgRecord;
use crate::resources::ResourceKind;

/// Something an org holds a bounded number of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limited {
    Resource(ResourceKind),
    /// Live direct child orgs.
    Children,
    /// Live (neither revoked nor expired) API keys of the org.
    ApiKeys,
}

impl Limited {
    pub const ALL: [Limited; 5] = [
        Limited::Resource(ResourceKind::Application),
        Limited::Resource(ResourceKind::Workspace),
        Limited::Resource(ResourceKind::Usergroup),
        Limited::Children,
        Limited::ApiKeys,
    ];

    /// Its name in `/limits` and in `limit-exceeded` problems.
    pub fn name(self) -> &'static str {
        match self {
            Limited::Resource(k) => k.plural(),
            Limited::Children => "children",
            Limited::ApiKeys => "api_keys",
        }
    }

    /// The config key that bounds it.
    pub fn config_key(self) -> &'static str {
        match self {
            Limited::Resource(ResourceKind::Application) => "applications.limit",
            Limited::Resource(ResourceKind::Workspace) => "workspaces.limit",
            Limited::Resource(ResourceKind::Usergroup) => "usergroups.limit",
            Limited::Children => "children.limit",
            Limited::ApiKeys => "api_keys.limit",
        }
    }
}

/// The value of `key` that governs the last org of `lineage` (root first):
/// the nearest value set on it or an ancestor, with the org that set it.
pub fn effective<'a, O: std::borrow::Borrow<OrgRecord>>(
    lineage: &'a [O],
    key: &str,
) -> Option<(i64, &'a OrgId)> {
    effective_in(
        lineage
            .iter()
            .map(|o| (&o.borrow().id, &o.borrow().configs)),
        key,
    )
}

fn effective_in<'a>(
    lineage: impl DoubleEndedIterator<Item = (&'a OrgId, &'a Configs)>,
    key: &str,
) -> Option<(i64, &'a OrgId)> {
    lineage
        .rev()
        .find_map(|(id, configs)| configs.get(key).map(|v| (*v, id)))
}

/// How an org stands against one of its limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitStatus {
    /// `null`: unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// The org the limit comes from (this one or an ancestor); `null` when unlimited.
    pub source: Option<String>,
    /// More are held than the limit allows (it was lowered below the count).
    pub over_limit: bool,
}

impl LimitStatus {
    pub fn new(limit: Option<(i64, &OrgId)>, used: i64) -> Self {
        Self {
            limit: limit.map(|(v, _)| v),
            used,
            source: limit.map(|(_, id)| id.to_string()),
            over_limit: limit.is_some_and(|(v, _)| used > v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, i64)]) -> Configs {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn the_nearest_value_wins() {
        let ids: Vec<OrgId> = ["root", "a", "b"]
            .iter()
            .map(|s| OrgId::from_trusted((*s).into()))
            .collect();
        let cs = [
            configs(&[("children.limit", 9), ("api_keys.limit", 1)]),
            configs(&[("children.limit", 5)]),
            configs(&[]),
        ];
        let chain = || ids.iter().zip(cs.iter());
        assert_eq!(effective_in(chain(), "children.limit"), Some((5, &ids[1])));
        assert_eq!(effective_in(chain(), "api_keys.limit"), Some((1, &ids[0])));
        assert_eq!(effective_in(chain(), "usergroups.limit"), None);
    }

    #[test]
    fn status_tells_excess() {
        let id = OrgId::from_trusted("a".into());
        let at = LimitStatus::new(Some((2, &id)), 2);
        assert!(!at.over_limit, "at the limit is not over it");
        let over = LimitStatus::new(Some((2, &id)), 5);
        assert!(over.over_limit);
        let under = LimitStatus::new(Some((2, &id)), 1);
        assert!(!under.over_limit);
        let zero = LimitStatus::new(Some((0, &id)), 0);
        assert!(!zero.over_limit);
        let free = LimitStatus::new(None, 1_000);
        assert!(!free.over_limit && free.source.is_none());
    }

    #[test]
    fn every_limit_has_a_registered_config_key() {
        for l in Limited::ALL {
            assert!(crate::configs::spec(l.config_key()).is_some(), "{l:?}");
        }
        let limits = crate::configs::REGISTRY
            .iter()
            .filter(|s| s.key.ends_with(".limit"))
            .count();
        assert_eq!(Limited::ALL.len(), limits);
    }
}
