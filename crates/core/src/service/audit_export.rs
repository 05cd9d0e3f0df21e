//! `GET /orgs/{id}/audit/export`: the audit trail as NDJSON, org by org and
//! each chain in order, ending with a signed manifest (see
//! [`crate::export`]). The export is read a page of events at a time, each
//! page in a read transaction of its own, so memory stays flat however long
//! the trail and no connection is held while the client reads. Chains only
//! grow, so paging by `seq` sees each event once.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Orgd, path_org_id, reach_org};
use crate::Result;
use crate::authz::Principal;
use crate::checkpoint::Checkpoint;
use crate::export::{ExportScope, LineDigest, Manifest};
use crate::ids::OrgId;
use crate::keys::Permission;

/// Events read per page.
const PAGE: usize = 1000;

/// An export under way: call [`AuditExport::next_chunk`] until it answers
/// `None`.
pub struct AuditExport {
    orgd: Arc<Orgd>,
    org_id: OrgId,
    scope: ExportScope,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    checkpoint: Option<Checkpoint>,
    /// The orgs still to export, in id order.
    orgs: VecDeque<OrgId>,
    /// The org being exported and the last `seq` written of it.
    current: Option<(OrgId, i64)>,
    digest: LineDigest,
    finished: bool,
}

impl Orgd {
    /// Starts an export of the org's trail (`scope`: its own events, or its
    /// whole subtree's), of events at or after `start` and before `end`.
    /// Reach and permission are checked here, before the first byte.
    pub async fn audit_export(
        self: &Arc<Self>,
        who: &Principal,
        org_id: &str,
        scope: ExportScope,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<AuditExport> {
        let org_id = path_org_id(org_id)?;
        let mut tx = self.store.read().await?;
        let org = reach_org(tx.as_mut(), who, &org_id, Permission::Read).await?;
        let orgs = match scope {
            ExportScope::Own => vec![org.id.clone()],
            ExportScope::Subtree => tx
                .subtree_orgs(&org.path)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        };
        let checkpoint = tx.latest_checkpoint().await?.map(|(_, c)| c);
        Ok(AuditExport {
            orgd: self.clone(),
            org_id: org.id,
            scope,
            start,
            end,
            checkpoint,
            orgs: orgs.into(),
            current: None,
            digest: LineDigest::default(),
            finished: false,
        })
    }
}

impl AuditExport {
    /// The next lines of the export; the last chunk is the manifest line.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        while !self.finished {
            let Some((org, after)) = self
                .current
                .take()
                .or_else(|| self.orgs.pop_front().map(|o| (o, 0)))
            else {
                self.finished = true;
                return Ok(Some(self.manifest().await?));
            };
            let mut tx = self.orgd.store.read().await?;
            let events = tx.chain_events(&org, after, PAGE).await?;
            drop(tx);
            if events.len() == PAGE
                && let Some(last) = events.last()
            {
                self.current = Some((org, last.seq));
            }
            let mut out = Vec::new();
            for e in &events {
                let after_start = self.start.is_none_or(|s| e.timestamp >= s);
                let before_end = self.end.is_none_or(|t| e.timestamp < t);
                if after_start && before_end {
                    self.digest.write(e, &mut out);
                }
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    async fn manifest(&mut self) -> Result<Vec<u8>> {
        let (count, sha256) = std::mem::take(&mut self.digest).finish();
        let mut tx = self.orgd.store.read().await?;
        let key = self.orgd.signing_key(tx.as_mut()).await?;
        drop(tx);
        let mut m = Manifest {
            org_id: self.org_id.to_string(),
            scope: self.scope.as_str().to_owned(),
            start: self.start,
            end: self.end,
            count,
            sha256,
            checkpoint: self.checkpoint.take(),
            kid: String::new(),
            signature: String::new(),
        };
        m.sign(&key);
        Ok(m.line())
    }
}
