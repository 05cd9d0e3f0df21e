//! `orgd keys create`: keys made straight in the database (recovery,
//! automation).

use clap::{Args, Subcommand};
use orgd_core::api_keys::NewKey;
use orgd_core::store::OpenMode;

use super::operator::{describe, operator_service};
use crate::config::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, with its secret, as JSON.
    Create {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Organization the key belongs to, e.g. `root` or `org-123`.
        #[arg(long, value_name = "ORG_ID")]
        org: String,
        #[command(flatten)]
        new: NewKeyArgs,
    },
}

/// The key `orgd keys create` makes.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// Comma-separated, from read, write, delete, admin (e.g. `read,write`).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    permissions: Vec<String>,
    /// A name to recognise the key by, e.g. `billing service`.
    #[arg(long)]
    name: String,
    /// The person or system the key acts for, e.g. `jane@example.com`.
    #[arg(long)]
    user: Option<String>,
    /// When the key stops working, RFC 3339 (e.g. `2030-01-01T00:00:00Z`).
    #[arg(long, value_name = "TIMESTAMP")]
    expires_at: Option<String>,
    /// Requests a minute, 1–1000000 (default: the server's `--rate-limit-per-minute`).
    #[arg(long, value_name = "N")]
    rate_limit_per_minute: Option<i64>,
}

/// Runs `orgd keys …`.
pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { db, org, new } => create_key(&db, &org, new).await,
    }
}

/// `orgd keys create`: a key made by the operator, its secret printed once.
async fn create_key(db: &DatabaseArgs, org: &str, new: NewKeyArgs) -> anyhow::Result<()> {
    let NewKeyArgs {
        permissions,
        name,
        user,
        expires_at,
        rate_limit_per_minute,
    } = new;
    let orgd = operator_service(db, OpenMode::Existing).await?;
    let created = orgd
        .create_key_as_operator(
            org,
            NewKey {
                name,
                user,
                permissions,
                expires_at,
                rate_limit_per_minute,
            },
        )
        .await
        .map_err(describe)?;
    let mut out = serde_json::to_value(&created.key)?;
    out["secret"] = created.secret.into();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
