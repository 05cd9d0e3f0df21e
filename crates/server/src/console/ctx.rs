//! What a page's handler knows of the browser asking, put in place by the
//! session layer (`session.rs`) in front of every page.

use std::sync::Arc;

use orgd_core::service::Origin;

use super::page::Page;
use crate::web::caller::Caller;

/// What a page's handler knows of the browser asking: the caller its
/// session acts as, the token its forms carry, and the console's pages
/// (whose tabs an org's page shows).
#[derive(Clone)]
pub struct Ctx {
    pub caller: Arc<Caller>,
    pub csrf: Arc<str>,
    pub pages: &'static [Page],
}

impl Ctx {
    pub fn who(&self) -> &orgd_core::authz::Principal {
        &self.caller.principal
    }

    pub fn origin(&self) -> &Origin {
        &self.caller.origin
    }
}
