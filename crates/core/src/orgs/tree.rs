//! What the console's tree shows (SPEC §13): an org's children a page at a
//! time, each with how many children it has (so the page can offer to expand
//! it without fetching them), the path from the caller's own org down, and
//! how many orgs a cascading delete would remove.

use crate::Result;
use crate::api_keys::Permission;
use crate::authz::Principal;
use crate::orgs::Org;
use crate::page::{Page, PageRequest, encode_id_cursor, paginate};
use crate::service::Orgd;
use crate::store::OrgQuery;

/// One level of the tree under `org`.
#[derive(Debug, Clone)]
pub struct TreeLevel {
    pub org: Org,
    /// From the caller's own org down to `org`'s parent: what a reader may
    /// climb back up to. Empty at the caller's own org.
    pub ancestors: Vec<Org>,
    /// `org`'s children, each with its number of live children.
    pub children: Page<(Org, i64)>,
}

impl Orgd {
    pub async fn tree_level(
        &self,
        who: &Principal,
        org_id: &str,
        page: PageRequest<String>,
    ) -> Result<TreeLevel> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let q = OrgQuery {
            subtree_of: org.path.clone(),
            include_root: false,
            parent_id: Some(org.id.clone()),
            name_prefix: None,
            tags: vec![],
        };
        let limit = page.limit;
        let rows = tx.list_orgs(&q, &page).await?;
        let rows = paginate(rows, limit, |o| encode_id_cursor(o.id.as_str()));
        let mut children = Vec::with_capacity(rows.items.len());
        for child in &rows.items {
            let n = tx.count_live_children(&child.id).await?;
            children.push((child.view(), n));
        }
        let mut ancestors = Vec::new();
        let mut parent = org.parent_id.clone();
        // Up to the caller's own org, never past it: what lies above is out
        // of reach.
        while org.id != who.org_id
            && let Some(id) = parent
        {
            let Some(above) = tx.org(&id).await? else {
                break;
            };
            parent = above.parent_id.clone();
            let reached = above.id == who.org_id;
            ancestors.push(above.view());
            if reached {
                break;
            }
        }
        ancestors.reverse();
        Ok(TreeLevel {
            org: org.view(),
            ancestors,
            children: Page {
                items: children,
                next: rows.next,
            },
        })
    }

    /// How many live orgs a cascading delete of `org_id` removes: the org and
    /// its descendants. Reads the subtree a page at a time, in one snapshot:
    /// O(subtree), paid only where a delete is offered.
    pub async fn subtree_size(&self, who: &Principal, org_id: &str) -> Result<usize> {
        const PAGE: usize = 1000;
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let q = OrgQuery {
            subtree_of: org.path,
            include_root: true,
            parent_id: None,
            name_prefix: None,
            tags: vec![],
        };
        let mut page = PageRequest::first(PAGE);
        let mut count = 0;
        loop {
            let rows = tx.list_orgs(&q, &page).await?;
            count += rows.len().min(PAGE);
            match rows.get(PAGE - 1) {
                Some(last) if rows.len() > PAGE => page.after = Some(last.id.to_string()),
                _ => return Ok(count),
            }
        }
    }
}
