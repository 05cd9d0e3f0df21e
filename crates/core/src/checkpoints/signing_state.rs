//! What a node keeps for signing and proving checkpoints: the signing key
//! and the newest checkpoint's tree. The kernel ([`crate::service::Orgd`])
//! holds it; the operations that use it are in `checkpoints/service.rs`.

use std::sync::{Arc, Mutex};

use crate::checkpoints::{LeafSet, SigningKey};

/// What the service keeps for the signed checkpoints.
#[derive(Debug, Default)]
pub(crate) struct AuditSigning {
    /// The key of `--audit-signing-key-file`, when the server has one.
    pub(crate) file_key: Option<SigningKey>,
    /// The tree of the newest checkpoint this node has built or read.
    pub(crate) latest: Mutex<Option<Arc<Tree>>>,
    /// The newest checkpoint found not to hold up (its position and why),
    /// so that checking every org against it rebuilds its tree once.
    pub(crate) broken: Mutex<Option<(i64, String)>>,
}

#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) position: i64,
    pub(crate) leaves: LeafSet,
}
