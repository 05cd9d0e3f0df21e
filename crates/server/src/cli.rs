//! The command line: `orgd serve`, `migrate`, `keys create`, `audit verify`, `openapi`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use orgd_core::clock::SystemClock;
use orgd_core::ids::OrgId;
use orgd_core::service::{NewKey, Orgd, Settings};
use tokio_util::sync::CancellationToken;

use crate::app::{Application, open_store};
use crate::config::{DatabaseArgs, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "orgd",
    version,
    about = "Self-hosted organization management service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (migrates and bootstraps the database first).
    Serve(ServeArgs),
    /// Bring the database schema up to date, then exit.
    Migrate(DatabaseArgs),
    /// Manage API keys straight in the database (recovery, automation).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it, with its secret, as JSON.
    Create {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Organization the key belongs to.
        #[arg(long)]
        org: String,
        /// Comma-separated: read, write, delete, admin.
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
        #[arg(long)]
        name: String,
        /// The person or system the key acts for.
        #[arg(long)]
        user: Option<String>,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
        /// Requests a minute (default: the server's `--rate-limit-per-minute`).
        #[arg(long)]
        rate_limit_per_minute: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute an organization's hash chain. Exit status 1 when it is broken.
    Verify {
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long)]
        org: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orgd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("orgd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORGD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let app = Application::build(args.into()).await?;
            let token = app.shutdown_token();
            tokio::spawn(stop_on_signal(token));
            eprintln!("orgd: listening on {}", app.local_addr());
            app.run().await?;
            eprintln!("orgd: stopped");
        }
        Command::Migrate(db) => {
            open_store(&db).await?.close().await;
            eprintln!("orgd: {} is up to date", db.database_url);
        }
        Command::Keys(KeysCommand::Create {
            db,
            org,
            permissions,
            name,
            user,
            expires_at,
            rate_limit_per_minute,
        }) => {
            let orgd = operator_service(&db).await?;
            let created = orgd
                .create_key_as_operator(
                    &org,
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
        }
        Command::Audit(AuditCommand::Verify { db, org }) => {
            let orgd = operator_service(&db).await?;
            let v = orgd
                .verify_audit_as_operator(&org)
                .await
                .map_err(describe)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            if !v.valid {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Openapi => println!("{}", crate::http::openapi_json()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn operator_service(db: &DatabaseArgs) -> anyhow::Result<Orgd> {
    let store = open_store(db).await?;
    let settings = Settings {
        root_id: OrgId::from_trusted("root".into()),
        max_depth: 16,
        default_rate_limit_per_minute: None,
    };
    let orgd = Orgd::new(store, Arc::new(SystemClock), settings);
    orgd.root_id().await.map_err(|_| {
        anyhow::anyhow!("the database has no root organization yet: run `orgd serve` once first")
    })?;
    Ok(orgd)
}

fn describe(e: orgd_core::Error) -> anyhow::Error {
    match e {
        orgd_core::Error::Validation(errors) => anyhow::anyhow!(
            "invalid input: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        e => anyhow::Error::new(e).context("the operation failed"),
    }
}

async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
    token.cancel();
}
