//! The benchmark's ceiling: an axum server that answers `GET /noop` with
//! nothing to do, on the same runtime settings as orgd. `bench/run.sh`
//! measures it in the same run as orgd itself.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = axum::Router::new().route("/noop", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    eprintln!("noop: listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
