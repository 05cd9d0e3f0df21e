//! Organizations: create, read, update, move, delete, list.

use std::sync::Arc;

use serde_json::Value;

use crate::api_keys::Permission;
use crate::audit::Target;
use crate::authz::Principal;
use crate::customizations;
use crate::error::ConflictKind;
use crate::error::parse_optional;
use crate::ids::{OrgId, prefixed_ulid};
use crate::limits::Count;
use crate::orgs::{NewOrg, Org, OrgRecord, ValidNewOrg, child_path, parse_name};
use crate::page::{Page, PageRequest, encode_id_cursor, paginate};
use crate::service::change::{Change, json};
use crate::service::reach::path_org_id;
use crate::service::{IfMatch, Orgd, Origin};
use crate::store::OrgQuery;
use crate::tags::Tag;
use crate::{Error, FieldError, Result};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgPatch {
    pub name: Option<String>,
    /// An RFC 7396 merge patch onto the current customizations.
    pub customizations: Option<Value>,
    /// Moves the org under another parent.
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgFilter {
    pub parent_id: Option<String>,
    pub name_prefix: Option<String>,
    /// Every one of these tag names.
    pub tags: Vec<String>,
}

fn validation(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

impl Orgd {
    /// The org as stored (shared with the cache): answer with
    /// [`OrgRecord::as_view`].
    pub async fn get_org(&self, who: &Principal, id: &str) -> Result<Arc<OrgRecord>> {
        self.read_org(who, id, Permission::Read).await
    }

    pub async fn create_org(&self, who: &Principal, origin: &Origin, new: NewOrg) -> Result<Org> {
        let ValidNewOrg {
            id,
            name,
            parent_id,
            customizations: custom,
            tags: tag_names,
            configs,
        } = ValidNewOrg::parse(new).map_err(Error::Validation)?;
        let parent_id = parent_id.unwrap_or_else(|| who.org_id.clone());

        let mut c = self.change(who, origin).await?;
        c.tx.lock_tree(false).await?;
        // Locking the parent keeps it alive (and its child count stable) until commit.
        let parent = who
            .reach(c.tx.lock_org(&parent_id).await?)
            .map_err(|_| Error::NotFound("parent organization"))?;
        who.require(Permission::Write)?;
        self.admit_child(&mut c, &parent).await?;
        let id = id.unwrap_or_else(OrgId::generate);
        if c.tx.org(&id).await?.is_some() {
            return Err(taken(&id));
        }
        let tags = tag_names
            .into_iter()
            .map(|name| Tag {
                id: prefixed_ulid("tag"),
                name,
                created_at: c.now,
            })
            .collect();
        let mut org = OrgRecord::new_child(&parent, id, name, c.now);
        org.customizations = custom;
        org.configs = configs;
        org.tags = tags;
        c.tx.insert_org(&org).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => taken(&org.id),
            e => e.into(),
        })?;
        for tag in &org.tags {
            c.tx.insert_tag(&org.id, tag).await?;
        }
        self.record_children(&mut c, &parent.id).await?;
        let view = org.view();
        let mut after = json(&view);
        if !org.configs.is_empty() {
            after["configs"] = json(&org.configs);
        }
        c.record(&org, "org.create", Target::org(&org.id), Value::Null, after)
            .await?;
        c.commit().await?;
        Ok(view)
    }

    pub async fn update_org(
        &self,
        who: &Principal,
        origin: &Origin,
        id: &str,
        patch: OrgPatch,
        if_match: Option<IfMatch>,
    ) -> Result<Org> {
        let id = path_org_id(id)?;
        let mut errors = Vec::new();
        let name = parse_optional("name", patch.name.as_deref(), parse_name, &mut errors);
        let new_parent = parse_optional(
            "parent_id",
            patch.parent_id.as_deref(),
            OrgId::parse,
            &mut errors,
        );
        validation(errors)?;

        let mut c = self.change(who, origin).await?;
        if new_parent.is_some() {
            c.tx.lock_tree(true).await?;
        }
        let mut org = c.lock_org(who, &id, Permission::Write).await?;
        if let Some(m) = if_match {
            m.check(org.version)?;
        }
        let before = org.clone();

        if let Some(parent_id) = new_parent.filter(|p| Some(p) != org.parent_id.as_ref()) {
            self.move_org(&mut c, who, &mut org, &parent_id).await?;
        }
        if let Some(name) = name {
            org.name = name;
        }
        if let Some(p) = &patch.customizations {
            customizations::merge_patch(&mut org.customizations, p);
            customizations::validate(&org.customizations)
                .map_err(|why| Error::invalid("customizations", why))?;
        }

        let (old, new) = (before.view(), org.view());
        if old == new {
            return Ok(new);
        }
        self.bump(&mut c, &mut org).await?;
        self.record_update(&mut c, &before, &org).await?;
        c.commit().await?;
        Ok(org.view())
    }

    /// The events of an update: a move (with the child counts it changes)
    /// and the changed fields.
    async fn record_update(
        &self,
        c: &mut Change<'_>,
        before: &OrgRecord,
        org: &OrgRecord,
    ) -> Result<()> {
        let (old, new) = (before.view(), org.view());
        if old.parent_id != new.parent_id {
            for parent in [&before.parent_id, &org.parent_id].into_iter().flatten() {
                self.record_children(c, parent).await?;
            }
            c.record(
                org,
                "org.move",
                Target::org(&org.id),
                serde_json::json!({ "parent_id": old.parent_id }),
                serde_json::json!({ "parent_id": new.parent_id }),
            )
            .await?;
        }
        let (b, a) = changed_fields(&old, &new, &["name", "customizations"]);
        if !a.is_empty() {
            c.record(org, "org.update", Target::org(&org.id), b.into(), a.into())
                .await?;
        }
        Ok(())
    }

    /// Whether `parent` (locked in `c`) may have one more child: its limit
    /// on children, and the tree's depth.
    async fn admit_child(&self, c: &mut Change<'_>, parent: &OrgRecord) -> Result<()> {
        self.ensure_room(c, parent, Count::LiveChildren).await?;
        if parent.depth + 1 > self.settings.max_depth {
            return Err(Error::conflict(
                ConflictKind::DepthExceeded,
                format!(
                    "the tree may be at most {} levels deep",
                    self.settings.max_depth
                ),
            ));
        }
        Ok(())
    }

    /// Re-parents `org` (already locked, its state not yet written) and its subtree.
    async fn move_org(
        &self,
        c: &mut Change<'_>,
        who: &Principal,
        org: &mut OrgRecord,
        parent_id: &OrgId,
    ) -> Result<()> {
        who.govern(org, false)?;
        let parent = who
            .reach(c.tx.lock_org(parent_id).await?)
            .map_err(|_| Error::NotFound("parent organization"))?;
        if parent.path.starts_with(&org.path) {
            return Err(Error::conflict(
                ConflictKind::MoveCycle,
                "an organization cannot be moved under itself or one of its descendants",
            ));
        }
        let height = c.tx.max_depth_in_subtree(&org.path).await? - org.depth;
        if parent.depth + 1 + height > self.settings.max_depth {
            return Err(Error::conflict(
                ConflictKind::DepthExceeded,
                format!(
                    "the tree may be at most {} levels deep",
                    self.settings.max_depth
                ),
            ));
        }
        self.ensure_room(c, &parent, Count::LiveChildren).await?;
        let new_path = child_path(&parent.path, &org.id);
        c.tx.move_subtree(&org.path, &new_path).await?;
        crate::consumption::rollups::move_subtree(c.tx.as_mut(), &org.id, &org.path, &new_path)
            .await?;
        org.path = new_path;
        org.depth = parent.depth + 1;
        org.parent_id = Some(parent.id);
        Ok(())
    }

    pub async fn delete_org(
        &self,
        who: &Principal,
        origin: &Origin,
        id: &str,
        cascade: bool,
        if_match: Option<IfMatch>,
    ) -> Result<()> {
        let id = path_org_id(id)?;
        let mut c = self.change(who, origin).await?;
        if cascade {
            c.tx.lock_tree(true).await?;
        }
        let org = c.lock_org(who, &id, Permission::Delete).await?;
        who.govern(&org, false)?;
        if let Some(m) = if_match {
            m.check(org.version)?;
        }
        let parent_id = org.parent_id.clone();
        let doomed = if cascade {
            c.tx.live_subtree(&org.path).await?
        } else if c.tx.count_live_children(&org.id).await? > 0 {
            return Err(Error::conflict(
                ConflictKind::HasChildren,
                "the organization has child organizations; delete them first or pass cascade=true",
            ));
        } else {
            vec![org]
        };
        let mut affected = std::collections::BTreeSet::new();
        for mut o in doomed {
            affected.extend(o.parent_id.clone());
            affected.insert(o.id.clone());
            let before = o.view();
            o.deleted_at = Some(c.now);
            o.updated_at = c.now;
            o.version += 1;
            c.tx.update_org(&o).await?;
            self.release_resources(&mut c, &o).await?;
            c.record(
                &o,
                "org.delete",
                Target::org(&o.id),
                json(&before),
                Value::Null,
            )
            .await?;
        }
        // Without a cascade the tree lock is not held: lock the parent, as
        // creating a child does, so its `children` gauge counts exactly.
        if !cascade && let Some(parent) = &parent_id {
            c.tx.lock_org(parent).await?;
        }
        for org in &affected {
            self.record_children(&mut c, org).await?;
        }
        // Committing evicts every cached key: those of the deleted orgs stop
        // working at once.
        c.commit().await?;
        Ok(())
    }

    pub async fn list_orgs(
        &self,
        who: &Principal,
        filter: OrgFilter,
        page: PageRequest<String>,
    ) -> Result<Page<Org>> {
        who.require(Permission::Read)?;
        let mut tx = self.store.read().await?;
        let own = who.reach(tx.org(&who.org_id).await?)?;
        let parent_id = match filter.parent_id.as_deref().map(OrgId::parse) {
            None => None,
            Some(Ok(p)) => Some(p),
            // No org has such an id, so none has it as parent.
            Some(Err(_)) => {
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
            }
        };
        let q = OrgQuery {
            subtree_of: own.path,
            include_root: true,
            parent_id,
            name_prefix: filter.name_prefix,
            tags: filter.tags,
        };
        self.query_orgs(tx.as_mut(), &q, page).await
    }

    pub async fn list_children(
        &self,
        who: &Principal,
        id: &str,
        whole_subtree: bool,
        page: PageRequest<String>,
    ) -> Result<Page<Org>> {
        let (mut tx, org) = self.read_in(who, id, Permission::Read).await?;
        let q = OrgQuery {
            subtree_of: org.path,
            include_root: false,
            parent_id: (!whole_subtree).then_some(org.id),
            name_prefix: None,
            tags: vec![],
        };
        self.query_orgs(tx.as_mut(), &q, page).await
    }

    async fn query_orgs(
        &self,
        tx: &mut dyn crate::store::Tx,
        q: &OrgQuery,
        page: PageRequest<String>,
    ) -> Result<Page<Org>> {
        let limit = page.limit;
        let rows = tx.list_orgs(q, &page).await?;
        let page = paginate(rows, limit, |o| encode_id_cursor(o.id.as_str()));
        Ok(Page {
            items: page.items.iter().map(OrgRecord::view).collect(),
            next: page.next,
        })
    }
}

/// Validates tag names given at creation: each well-formed, no repeats, at
/// most [`crate::tags::MAX_PER_ORG`].
fn taken(id: &OrgId) -> Error {
    Error::conflict(
        ConflictKind::DuplicateId,
        format!("the organization id '{id}' is taken (ids are never reused)"),
    )
}

/// The named fields whose values differ, as `(before, after)` objects.
fn changed_fields(
    old: &Org,
    new: &Org,
    fields: &[&str],
) -> (
    serde_json::Map<String, Value>,
    serde_json::Map<String, Value>,
) {
    let (old, new) = (json(old), json(new));
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    for f in fields {
        let (o, n) = (&old[*f], &new[*f]);
        if o != n {
            before.insert((*f).into(), o.clone());
            after.insert((*f).into(), n.clone());
        }
    }
    (before, after)
}
