//! Who is asking: the principal a request acts as and where it came from.
//! Put in place by the API's guard (`http/guard.rs`) or the console's
//! session layer (`console/session.rs`), and read back from the response by
//! the access log (`access_log.rs`).

use std::sync::Arc;

use orgd_core::authz::Principal;
use orgd_core::service::Origin;

/// The authenticated caller and where the request came from, carried as an
/// `Arc<Caller>` in the request's (and then the response's) extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Shared with the key cache: a request copies no string of it.
    pub principal: Arc<Principal>,
    pub origin: Origin,
}
