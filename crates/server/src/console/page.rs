//! A row of the console's page table (`PAGES` in `mod.rs`): where a page
//! is, the tab naming it among an org's pages, and its handlers. The router
//! and the org's tabs are both made from the table, so a new page is one
//! row and no page can be routed without its tab, or tabbed without its
//! route.

use axum::routing::MethodRouter;

use crate::state::AppState;

/// Where an org's pages are; a page [`Page::under_org`] is below it.
pub const ORG: &str = "/console/orgs/{org_id}";

pub struct Page {
    /// The path, below [`ORG`] when `under_org` (`""` is the org itself).
    pub path: &'static str,
    pub under_org: bool,
    /// The tab's name among the org's pages, for a page that has one.
    pub tab: Option<&'static str>,
    /// The handlers, by method.
    pub route: fn() -> MethodRouter<AppState>,
}

impl Page {
    /// A page of the console itself, not of an org.
    pub const fn top(path: &'static str, route: fn() -> MethodRouter<AppState>) -> Self {
        Self {
            path,
            under_org: false,
            tab: None,
            route,
        }
    }

    /// One of an org's tabs.
    pub const fn tab(
        path: &'static str,
        tab: &'static str,
        route: fn() -> MethodRouter<AppState>,
    ) -> Self {
        Self {
            path,
            under_org: true,
            tab: Some(tab),
            route,
        }
    }

    /// An org's action or page that is no tab (a form's target, a detail).
    pub const fn action(path: &'static str, route: fn() -> MethodRouter<AppState>) -> Self {
        Self {
            path,
            under_org: true,
            tab: None,
            route,
        }
    }

    /// The route's full pattern.
    pub fn pattern(&self) -> String {
        if self.under_org {
            format!("{ORG}{}", self.path)
        } else {
            self.path.to_owned()
        }
    }
}
