//! The benchmark's naive baselines, built with a plain stack (axum and sqlx
//! on SQLite, WAL, `synchronous = FULL`), measured by `bench/run.sh` in the
//! same run as orgd:
//!
//! - `GET /select/{id}`: one pooled SELECT of a row by primary key, as JSON;
//!   what a hand-written read endpoint costs.
//! - `POST /insert`: one INSERT in its own transaction on a single writer
//!   connection; what one durable write per request costs on this disk.
//!
//! Usage: `baseline PATH.db`.

use std::str::FromStr;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

#[derive(Clone)]
struct Pools {
    readers: SqlitePool,
    writer: SqlitePool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: baseline PATH.db")?;
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
         configs TEXT NOT NULL DEFAULT '{}')",
    )
    .execute(&writer)
    .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&writer)
        .await?;
    sqlx::query("INSERT OR IGNORE INTO orgs (id, name) VALUES ('bench', 'Bench')")
        .execute(&writer)
        .await?;
    let readers = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    let app = axum::Router::new()
        .route("/select/{id}", get(select))
        .route("/insert", post(insert))
        .with_state(Pools { readers, writer });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    eprintln!("baseline: listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn select(
    State(p): State<Pools>,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>, axum::http::StatusCode> {
    let row = sqlx::query("SELECT id, name, configs FROM orgs WHERE id = ?")
        .bind(id)
        .fetch_optional(&p.readers)
        .await
        .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(axum::http::StatusCode::NOT_FOUND)?;
    let field = |name: &str| row.try_get::<String, _>(name).unwrap_or_default();
    Ok(axum::Json(serde_json::json!({
        "id": field("id"),
        "name": field("name"),
        "configs": field("configs"),
    })))
}

async fn insert(State(p): State<Pools>, body: String) -> axum::http::StatusCode {
    match sqlx::query("INSERT INTO events (body) VALUES (?)")
        .bind(body)
        .execute(&p.writer)
        .await
    {
        Ok(_) => axum::http::StatusCode::CREATED,
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
    }
}
