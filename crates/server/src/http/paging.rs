//! Lists a page at a time: the parameters every list takes, and the
//! `Link: rel="next"` that carries the cursor to the next page.

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use orgd_core::page::Page;
use serde::Serialize;

/// A JSON array, with `Link: <…>; rel="next"` when there is a next page.
pub fn page_response<T: Serialize>(uri: &Uri, page: Page<T>) -> Response {
    let mut res = Json(page.items).into_response();
    if let Some(next) = page.next {
        set_next_link(&mut res, uri, "cursor", &next);
    }
    res
}

/// `Link: <…>; rel="next"`: the request's own parameters as it sent them,
/// but `param` set to `value`.
pub fn set_next_link(res: &mut Response, uri: &Uri, param: &str, value: &str) {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(param))
        .collect();
    let query = form_urlencoded::Serializer::new(kept.join("&"))
        .append_pair(param, value)
        .finish();
    if let Ok(v) = HeaderValue::from_str(&format!("<{}?{query}>; rel=\"next\"", uri.path())) {
        res.headers_mut().insert(header::LINK, v);
    }
}

/// The paging parameters every list takes.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Rows per page, 1–1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `cursor` from the previous page's `Link: rel="next"`, as given:
    /// opaque, and valid only for the list that issued it (any other value
    /// is a 400).
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}
