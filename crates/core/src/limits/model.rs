//! The limits: what an org may hold a bounded number of. Each limited thing
//! is one row of [`LIMITS`]: its name, its config key, whether consumption
//! keeps a gauge of it, and how the number held is counted. The configs
//! registry ([`crate::configs::REGISTRY`]), the gauges
//! ([`gauges`]) and the count a limit
//! check reads ([`Count`], matched once in `limits/service.rs`) all come
//! from that table, so a new limited thing is one row (and, when it is
//! counted in a new way, one [`Count`] variant, which the compiler then
//! asks for where counts are read).
//!
//! How a limit is resolved (an org's own config value, else its nearest
//! ancestor's, else none: unlimited) is the configs' rule,
//! [`crate::configs::effective`].

use crate::ids::OrgId;
use crate::registries::ResourceKind;

/// How the number an org holds of a limited thing is counted (read in the
/// write transaction that would add one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Count {
    /// The items of one registry.
    Items(ResourceKind),
    /// Live direct child orgs.
    LiveChildren,
    /// Live (neither revoked nor expired) API keys of the org.
    LiveKeys,
}

/// One limited thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Its name in `/limits`, in `limit-exceeded` problems and in
    /// `limit.threshold` events; also its gauge's name.
    pub name: &'static str,
    /// The config key that bounds it.
    pub config_key: &'static str,
    /// The config key's text in `GET …/organizations/configs`.
    pub display_text: &'static str,
    /// Whether consumption keeps a monthly gauge of it, named [`Limit::name`].
    pub gauge: bool,
    pub count: Count,
}

/// Every limited thing, in the order `/limits` and the configs registry list them.
pub const LIMITS: &[Limit] = &[
    Limit {
        name: "applications",
        config_key: "applications.limit",
        display_text: "Max number of applications allowed",
        gauge: true,
        count: Count::Items(ResourceKind::Application),
    },
    Limit {
        name: "workspaces",
        config_key: "workspaces.limit",
        display_text: "Max number of workspaces allowed",
        gauge: true,
        count: Count::Items(ResourceKind::Workspace),
    },
    Limit {
        name: "usergroups",
        config_key: "usergroups.limit",
        display_text: "Max number of usergroups allowed",
        gauge: true,
        count: Count::Items(ResourceKind::Usergroup),
    },
    Limit {
        name: "children",
        config_key: "children.limit",
        display_text: "Max number of live direct child organizations allowed",
        gauge: true,
        count: Count::LiveChildren,
    },
    Limit {
        name: "api_keys",
        config_key: "api_keys.limit",
        display_text: "Max number of live API keys of the organization allowed",
        gauge: false,
        count: Count::LiveKeys,
    },
];

impl Limit {
    /// The row of the limit that counts `count`. Every [`Count`] has one
    /// (a unit test walks them), so `None` is a bug the caller reports.
    pub fn of(count: Count) -> Option<&'static Limit> {
        LIMITS.iter().find(|l| l.count == count)
    }
}

/// The names of the gauges consumption keeps of limited things.
pub fn gauges() -> impl Iterator<Item = &'static str> {
    LIMITS.iter().filter(|l| l.gauge).map(|l| l.name)
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

    /// Every `Count`. The match is what the compiler holds complete: a new
    /// variant stops this test from building until it is named there, and
    /// beside it in the list.
    fn every_count() -> Vec<Count> {
        let named = |c: Count| match c {
            Count::Items(_) | Count::LiveChildren | Count::LiveKeys => c,
        };
        ResourceKind::ALL
            .iter()
            .map(|k| Count::Items(*k))
            .chain([Count::LiveChildren, Count::LiveKeys])
            .map(named)
            .collect()
    }

    #[test]
    fn every_count_has_one_row_and_names_are_unique() {
        for c in every_count() {
            assert_eq!(LIMITS.iter().filter(|l| l.count == c).count(), 1, "{c:?}");
        }
        let mut names: Vec<_> = LIMITS.iter().map(|l| l.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LIMITS.len());
        for l in LIMITS {
            assert_eq!(l.config_key, format!("{}.limit", l.name));
        }
    }
}
