//! The console's static files, built into the binary: one stylesheet, one
//! small script (the copy button; every page works without it) and the icon.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");
const ICON: &str = include_str!("assets/favicon.svg");

pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => return super::layout::error_page(StatusCode::NOT_FOUND, "Not found", ""),
    };
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    // Short: a new orgd may bring new files under the same names.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}
