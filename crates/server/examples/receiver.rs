//! The webhook benchmark's receiver: answers every `POST` with 204 at once
//! and counts them (`GET /count`), so that `bench/deliveries.py` measures
//! orgd's delivering, not the receiver.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move || {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
        .route(
            "/count",
            axum::routing::get(move || async move { count.load(Ordering::Relaxed).to_string() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    eprintln!("receiver: listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
