//! Tags: named labels on an org, each change bumping its version and audited.

use serde_json::Value;

use crate::api_keys::Permission;
use crate::audit::Target;
use crate::authz::Principal;
use crate::error::ConflictKind;
use crate::ids::prefixed_ulid;
use crate::service::change::json;
use crate::service::reach::path_org_id;
use crate::service::{Orgd, Origin};
use crate::tags::{self, Tag};
use crate::{Error, FieldError, Result};

impl Orgd {
    pub async fn list_tags(&self, who: &Principal, org_id: &str) -> Result<Vec<Tag>> {
        let org = self.read_org(who, org_id, Permission::Read).await?;
        Ok(org.tags.clone())
    }

    pub async fn create_tag(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        name: &str,
    ) -> Result<Tag> {
        let org_id = path_org_id(org_id)?;
        let name = tags::parse_name(name)
            .map_err(|why| Error::Validation(vec![FieldError::new("name", why)]))?;
        let mut c = self.change(who, origin).await?;
        let mut org = c.lock_org(who, &org_id, Permission::Write).await?;
        if org.tags.iter().any(|t| t.name == name) {
            return Err(Error::conflict(
                ConflictKind::DuplicateName,
                format!("the organization already has a tag named '{name}'"),
            ));
        }
        if org.tags.len() >= tags::MAX_PER_ORG {
            return Err(Error::conflict(
                ConflictKind::TooManyTags,
                format!(
                    "an organization may have at most {} tags",
                    tags::MAX_PER_ORG
                ),
            ));
        }
        let tag = Tag {
            id: prefixed_ulid("tag"),
            name,
            created_at: c.now,
        };
        c.tx.insert_tag(&org.id, &tag).await?;
        self.bump(&mut c, &mut org).await?;
        c.record(
            &org,
            "tag.create",
            Target::tag(&tag.id),
            Value::Null,
            json(&tag),
        )
        .await?;
        c.commit().await?;
        Ok(tag)
    }

    pub async fn delete_tag(
        &self,
        who: &Principal,
        origin: &Origin,
        org_id: &str,
        tag_id: &str,
    ) -> Result<()> {
        let org_id = path_org_id(org_id)?;
        let mut c = self.change(who, origin).await?;
        let mut org = c.lock_org(who, &org_id, Permission::Write).await?;
        let tag =
            c.tx.delete_tag(&org.id, tag_id)
                .await?
                .ok_or(Error::NotFound("tag"))?;
        self.bump(&mut c, &mut org).await?;
        c.record(
            &org,
            "tag.delete",
            Target::tag(&tag.id),
            json(&tag),
            Value::Null,
        )
        .await?;
        c.commit().await
    }
}
