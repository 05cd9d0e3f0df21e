//! The layer around every route that needs an API key: authentication, the
//! key's rate limit, undeclared query parameters, then `Idempotency-Key`.
//! The caller it resolves rides on the request (for the handler's
//! [`Caller`] extractor) and on the response (for the access log, outside).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;

use super::auth::authenticate;
use super::idempotency;
use super::query::{Declared, refuse_undeclared};
use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::client_ip::ClientIp;
use crate::web::layer::{Inner, Wrap, run};
use crate::web::rate_limit;

#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    /// The query parameters each operation declares.
    pub declared: Arc<Declared>,
}

impl Wrap for Guard {
    fn wrap<S: Inner>(
        self,
        req: Request,
        inner: S,
    ) -> impl Future<Output = Response> + Send + 'static {
        serve(self, req, inner)
    }
}

async fn serve<S: Inner>(guard: Guard, mut req: Request, inner: S) -> Response {
    let state = &guard.state;
    let ip = req.extensions().get::<ClientIp>().map(|c| c.0.to_string());
    // Shared: the handler's extractor takes a copy, the access log (outside)
    // reads it from the response.
    let caller: Arc<Caller> = match authenticate(state, req.headers(), ip).await {
        Ok(caller) => Arc::new(caller),
        Err(refused) => return refused,
    };
    let decision = state.rate_limits.decide(&state.orgd, &caller.principal);
    let mut res = if let Some(refused) = decision.and_then(rate_limit::refusal) {
        refused
    } else if let Some(refused) = refuse_undeclared(&guard.declared, &req) {
        refused
    } else {
        req.extensions_mut().insert(caller.clone());
        if idempotency::applies(&req) {
            // Boxed: its buffers would otherwise make every request's
            // future (and what it copies) kilobytes larger.
            Box::pin(idempotency::idempotent(state, req, inner)).await
        } else {
            run(inner, req).await
        }
    };
    if let Some(d) = decision {
        rate_limit::stamp(res.headers_mut(), d);
    }
    res.extensions_mut().insert(caller);
    res
}
