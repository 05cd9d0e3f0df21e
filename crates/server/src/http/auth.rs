//! Authentication: `Authorization: Bearer …` resolved to a [`Caller`]. Any
//! failure is a 401, logged with its reason (never the key).

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use orgd_core::error::AuthFailure;
use orgd_core::service::Origin;

use crate::state::AppState;
use crate::web::caller::Caller;
use crate::web::problem::ApiError;
use crate::web::request_id;

/// The caller of a request with `headers` from `ip`, or the 401 to answer with.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
) -> Result<Caller, Response> {
    let principal = match bearer(headers) {
        None => Err(orgd_core::Error::unauthenticated(AuthFailure::Missing)),
        Some(secret) => state.orgd.authenticate(secret).await,
    };
    match principal {
        Ok(principal) => Ok(Caller {
            principal,
            origin: Origin {
                request_id: request_id::current(),
                ip,
            },
        }),
        Err(e) => {
            if let orgd_core::Error::Unauthenticated { reason, key_id } = &e {
                tracing::info!(
                    reason = reason.as_str(),
                    key_id = key_id.as_deref(),
                    "authentication refused"
                );
            }
            Err(ApiError::Domain(e).into_response())
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    // Two credentials are none: which one would be meant is a guess.
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return None;
    };
    let v = v.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
