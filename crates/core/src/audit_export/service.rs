//! `GET /orgs/{id}/audit/export`: the audit trail as NDJSON, org by org and
//! each chain in order, each org's lines held to a signed checkpoint by a
//! proof line and, where the window leaves a gap, link lines, ending with a
//! signed manifest (the format is [`crate::audit_export`]'s).
//!
//! orgd never signs an export of a chain that does not verify. Before the
//! first byte, each chain is held to its signed head (through the
//! checkpoint's tree) and its prune anchor: a cut, a consistent rewrite
//! before the head, or a changed checkpoint answers 409. Every event is
//! then walked as it streams, as `audit/verify` walks it, and a chain that
//! breaks ends the export there, with no manifest: what a walk before the
//! first byte would find, at the cost of reading the trail once, and with
//! no wait before the first byte however long the trail. The events are
//! read a page at a time, each page in a read
//! transaction of its own, so memory stays flat however long the trail and
//! no connection is held while the client reads. Chains only grow, so
//! paging by `seq` sees each event once.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::Result;
use crate::api_keys::Permission;
use crate::audit::{AuditEvent, ChainVerifier};
use crate::audit_export::{ExportLink, ExportProof, ExportScope, LineDigest, Manifest};
use crate::authz::Principal;
use crate::checkpoints::Checkpoint;
use crate::checkpoints::ProvenLeaf;
use crate::checkpoints::signing_state::Tree;
use crate::error::ConflictKind;
use crate::ids::OrgId;
use crate::service::Orgd;
use crate::store::Tx;

/// Events read per page, and at most per link line.
const PAGE: usize = 1000;
/// Orgs whose chains are checked in one read transaction.
const CHECK_ORGS: usize = 256;

/// An export under way: call [`AuditExport::next_chunk`] until it answers
/// `None`.
pub struct AuditExport {
    orgd: Arc<Orgd>,
    org_id: OrgId,
    scope: ExportScope,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    /// The checkpoint the export is held to, with its position and tree.
    held_to: Option<HeldTo>,
    /// The orgs still to export, in id order.
    orgs: VecDeque<OrgId>,
    /// The org being exported.
    current: Option<OrgExport>,
    digest: LineDigest,
    finished: bool,
}

struct HeldTo {
    position: i64,
    checkpoint: Checkpoint,
    tree: Arc<Tree>,
}

/// Where the export of one org stands.
struct OrgExport {
    id: OrgId,
    /// The last `seq` read of it.
    after: i64,
    /// Its first event in the window was met, and its proof (if any)
    /// written.
    opened: bool,
    /// The `seq` the checkpoint holds for it, once its proof is written.
    head: Option<i64>,
    /// The last `seq` exported.
    last: Option<i64>,
    /// Link events still to write, up to this `seq`.
    link_to: Option<i64>,
    /// The link under way is the one after the org's events: the org is
    /// done when it is.
    closing: bool,
    /// The org's chain walked as it is read (every event, in the window or
    /// not), and the `seq` it has walked through.
    walk: Option<ChainVerifier>,
    walked: i64,
}

impl Orgd {
    /// Starts an export of the org's trail (`scope`: its own events, or its
    /// whole subtree's), of events at or after `start` and before `end`.
    /// Reach and permission are checked here, and every chain is verified,
    /// before the first byte.
    pub async fn audit_export(
        self: &Arc<Self>,
        who: &Principal,
        org_id: &str,
        scope: ExportScope,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<AuditExport> {
        let (mut tx, org) = self.read_in(who, org_id, Permission::Read).await?;
        let orgs: Vec<OrgId> = match scope {
            ExportScope::Own => vec![org.id.clone()],
            ExportScope::Subtree => tx
                .subtree_orgs(&org.path)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        };
        drop(tx);
        // What can be told without walking each chain (a few hundred orgs
        // per read transaction, no snapshot held for a whole subtree): a
        // cut, a consistent rewrite before a signed head, a changed
        // checkpoint or anchor. What only the walk finds, the stream finds,
        // and ends there unsigned.
        for batch in orgs.chunks(CHECK_ORGS) {
            let mut tx = self.store.read().await?;
            let latest = tx.latest_checkpoint().await?;
            for id in batch {
                if !self
                    .chain_holds_its_checkpoint(tx.as_mut(), latest.as_ref(), id)
                    .await?
                {
                    return Err(chain_invalid(id));
                }
            }
        }
        let mut tx = self.store.read().await?;
        // An export that ends is held to the first checkpoint made after its
        // end, so that what links its last events to the signed heads is
        // short; else to the latest.
        let found = match end {
            Some(end) => match tx.first_checkpoint_since(end).await? {
                Some(c) => Some(c),
                None => tx.latest_checkpoint().await?,
            },
            None => tx.latest_checkpoint().await?,
        };
        let held_to = match found {
            Some((position, checkpoint)) => Some(HeldTo {
                tree: self.tree_of(tx.as_mut(), position, &checkpoint).await?,
                position,
                checkpoint,
            }),
            None => None,
        };
        Ok(AuditExport {
            orgd: self.clone(),
            org_id: org.id,
            scope,
            start,
            end,
            held_to,
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
            let Some(mut org) = self.current.take().or_else(|| {
                self.orgs.pop_front().map(|id| OrgExport {
                    id,
                    after: 0,
                    opened: false,
                    head: None,
                    last: None,
                    link_to: None,
                    closing: false,
                    walk: None,
                    walked: 0,
                })
            }) else {
                self.finished = true;
                return Ok(Some(self.manifest().await?));
            };
            let mut tx = self.orgd.store.read().await?;
            let mut out = Vec::new();
            if let Some(to) = org.link_to {
                self.write_link(tx.as_mut(), &mut org, to, &mut out).await?;
                if org.link_to.is_none() && org.closing {
                    drop(tx);
                    if !out.is_empty() {
                        return Ok(Some(out));
                    }
                    continue;
                }
            } else {
                if org.walk.is_none() {
                    let (walk, from) = self.orgd.chain_walk(tx.as_mut(), &org.id).await?;
                    org.walk = Some(walk);
                    org.walked = from;
                }
                let events = tx.chain_events(&org.id, org.after, PAGE).await?;
                let more = events.len() == PAGE;
                for e in &events {
                    if e.seq > org.walked
                        && let Some(walk) = &mut org.walk
                    {
                        walk.push(e);
                        org.walked = e.seq;
                    }
                    if !self.in_window(e) {
                        org.after = e.seq;
                        continue;
                    }
                    if !org.opened {
                        org.opened = true;
                        self.open(tx.as_mut(), &mut org, e, &mut out).await?;
                        if org.link_to.is_some() {
                            // The link before the window comes first; this
                            // page is read again after it.
                            break;
                        }
                    }
                    self.digest.write(e, &mut out);
                    org.after = e.seq;
                    org.last = Some(e.seq);
                }
                if org.link_to.is_none() && !more {
                    // The org's events are all read. orgd signs nothing over
                    // a chain that does not verify: the export ends here,
                    // with no manifest, and a verifier refuses it.
                    if let Some(walk) = org.walk.take()
                        && !walk.finish().valid
                    {
                        tracing::error!(
                            org = %org.id,
                            "an audit export stopped: the org's chain does not verify"
                        );
                        return Err(chain_invalid(&org.id));
                    }
                    // Link its last event to the checkpointed head, if that
                    // lies beyond.
                    match (org.head, org.last) {
                        (Some(head), Some(last)) if head > last => {
                            org.after = last;
                            org.link_to = Some(head);
                            org.closing = true;
                        }
                        _ => {
                            drop(tx);
                            if !out.is_empty() {
                                return Ok(Some(out));
                            }
                            continue;
                        }
                    }
                }
            }
            drop(tx);
            self.current = Some(org);
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    fn in_window(&self, e: &AuditEvent) -> bool {
        self.start.is_none_or(|s| e.timestamp >= s) && self.end.is_none_or(|t| e.timestamp < t)
    }

    /// The org's first event in the window, `first`, is met: writes its
    /// proof when the checkpoint holds the org, the prune anchor the next
    /// lines follow when retention pruned up to them, and sets up the link
    /// from the checkpointed head (or that anchor) to `first`.
    async fn open(
        &mut self,
        tx: &mut dyn Tx,
        org: &mut OrgExport,
        first: &AuditEvent,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let proven = match &self.held_to {
            Some(h) => Orgd::proven_leaf(tx, &h.tree, h.position, &h.checkpoint, &org.id).await?,
            None => None,
        };
        // Where the lines after the proof start from: the checkpointed head,
        // or the anchor when retention pruned past it.
        let mut from = proven.as_ref().map(|p| p.head.seq);
        let anchor = match tx.audit_anchor(&org.id).await? {
            Some(a)
                if a.seq + 1 == first.seq
                    || from.is_some_and(|h| h < a.seq && h + 1 < first.seq) =>
            {
                from = Some(a.seq);
                Some(a)
            }
            _ => None,
        };
        if let Some(ProvenLeaf {
            head,
            index,
            tree_size,
            path,
        }) = proven
        {
            org.head = Some(head.seq);
            self.digest.write_proof(
                ExportProof {
                    leaf: head,
                    leaf_index: i64::try_from(index).unwrap_or(i64::MAX),
                    tree_size: i64::try_from(tree_size).unwrap_or(i64::MAX),
                    path: path.iter().map(hex::encode).collect(),
                },
                out,
            );
        }
        if let Some(a) = anchor {
            self.digest.write_anchor(a, out);
        }
        if let Some(from) = from
            && from + 1 < first.seq
        {
            org.after = from;
            org.link_to = Some(first.seq - 1);
        }
        Ok(())
    }

    /// One link line: the org's events after `org.after`, up to `to`.
    async fn write_link(
        &mut self,
        tx: &mut dyn Tx,
        org: &mut OrgExport,
        to: i64,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let want = usize::try_from(to - org.after).unwrap_or(0).min(PAGE);
        let events = tx.chain_events(&org.id, org.after, want).await?;
        match events.last() {
            Some(last) if last.seq < to => org.after = last.seq,
            // Done, or the chain ends short of `to` (a link the verifier
            // will refuse; the chains were verified, so only a change made
            // since would do it).
            _ => org.link_to = None,
        }
        if let (None, Some(last)) = (org.link_to, events.last()) {
            org.after = last.seq;
        }
        if !events.is_empty() {
            self.digest.write_link(
                ExportLink {
                    org_id: org.id.to_string(),
                    events,
                },
                out,
            );
        }
        Ok(())
    }

    async fn manifest(&mut self) -> Result<Vec<u8>> {
        let d = std::mem::take(&mut self.digest).finish();
        let mut tx = self.orgd.store.read().await?;
        let key = self.orgd.signing_key(tx.as_mut()).await?;
        drop(tx);
        let mut m = Manifest {
            org_id: self.org_id.to_string(),
            scope: self.scope.as_str().to_owned(),
            start: self.start,
            end: self.end,
            count: d.count,
            proofs: d.proofs,
            linked: d.linked,
            sha256: d.sha256,
            checkpoint: self.held_to.take().map(|h| h.checkpoint),
            kid: String::new(),
            signature: String::new(),
        };
        m.sign(&key);
        Ok(m.line())
    }
}

fn chain_invalid(org: &OrgId) -> crate::Error {
    crate::Error::conflict(
        ConflictKind::AuditChainInvalid,
        format!(
            "the audit chain of {org} does not verify (GET /orgs/{org}/audit/verify says why), \
             so orgd will not sign an export of it"
        ),
    )
}
