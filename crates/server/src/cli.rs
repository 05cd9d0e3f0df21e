//! The command line: `orgd serve`, `migrate`, `keys create`, `audit verify`,
//! `backup`, `completions`, `openapi`. Every line it writes goes through the
//! logger ([`crate::logging`]), except a command's own output on stdout and
//! the one-time root secret.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgGroup, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use orgd_core::clock::SystemClock;
use orgd_core::ids::OrgId;
use orgd_core::service::{Bootstrap, NewKey, Orgd, Settings};
use orgd_core::store::OpenMode;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::app::{Application, open_sqlite, open_store};
use crate::config::{Config, DatabaseArgs, ServeArgs};
use crate::logging::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "orgd",
    version,
    about = "Self-hosted organization management service"
)]
struct Cli {
    /// How log lines look: `text` for people, `json` (one object a line) for
    /// log shippers. `ORGD_LOG` sets the filter (e.g. `info`, `warn,orgd=debug`).
    #[arg(long, global = true, env = "ORGD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (migrates and bootstraps the database first).
    Serve(ServeArgs),
    /// Bring the database schema up to date, say what was applied, and exit.
    Migrate(DatabaseArgs),
    /// Manage API keys straight in the database (recovery, automation).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the audit trail (read-only: works on a read-only copy).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent copy of a SQLite database while orgd runs
    /// (read-only: works on a read-only copy). For PostgreSQL, use pg_dump.
    Backup {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The file to write (it must not exist), e.g. `orgd-2026-11-24.db`.
        /// Serve it with `orgd serve --database-url sqlite://FILE`.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Print a shell completion script, e.g. `orgd completions bash >
    /// /etc/bash_completion.d/orgd`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
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
struct NewKeyArgs {
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

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute hash chains: one org's (`--org ID`) or every org's (`--all`).
    /// Exit status 0: all valid; 1: some chain is broken; 2: could not check.
    #[command(group(ArgGroup::new("which").required(true).args(["org", "all"])))]
    Verify {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The organization whose chain to check, e.g. `org-123`.
        #[arg(long, value_name = "ORG_ID")]
        org: Option<String>,
        /// Check every organization that ever existed, deleted ones included,
        /// and print each broken chain and a summary line.
        #[arg(long)]
        all: bool,
    },
    /// Check every signed checkpoint: its signature, its link to the one
    /// before, its leaves against its signed root, and the latest one against
    /// the chains of now. Exit status 0: all valid; 1: a problem was found;
    /// 2: could not check.
    VerifyCheckpoints {
        #[command(flatten)]
        db: DatabaseArgs,
        /// A public key to trust (base64url, as `GET /audit/keys` gives it),
        /// kept from before; repeat for several. Without it, the keys the
        /// database lists are trusted, and someone who rewrote the database
        /// could have replaced them too.
        #[arg(long = "public-key", value_name = "KEY", allow_hyphen_values = true)]
        public_keys: Vec<String>,
    },
    /// Check a saved inclusion proof (`GET /orgs/{id}/audit/proof`) with no
    /// server and no database: the org's leaf is in the checkpoint's tree,
    /// and the checkpoint is signed by the key given. Exit status 0: proven;
    /// 1: not proven; 2: could not check.
    VerifyProof {
        /// The proof, as JSON.
        file: PathBuf,
        /// The public key to trust (base64url, as `GET /audit/keys` gives it).
        #[arg(long = "public-key", value_name = "KEY", allow_hyphen_values = true)]
        public_key: String,
    },
    /// Check an export (`GET /orgs/{id}/audit/export`) with no server and no
    /// database: every event's hash, each org's chain continuity, the
    /// manifest's count, hash and signature, the checkpoint's signature, and
    /// that each org's events reach (or are linked to) the head the
    /// checkpoint signed for it, by its inclusion proof.
    /// Exit status 0: valid; 1: not valid; 2: could not check.
    VerifyExport {
        /// The export, as saved (NDJSON).
        file: PathBuf,
        /// A public key to trust (base64url, as `GET /audit/keys` gives it);
        /// repeat when the checkpoint was signed by an older key.
        #[arg(
            long = "public-key",
            value_name = "KEY",
            required = true,
            allow_hyphen_values = true
        )]
        public_keys: Vec<String>,
    },
    /// Retire the key that signs checkpoints and make a new one, kept in the
    /// database; running servers sign with it from their next checkpoint.
    /// Checkpoints signed before stay valid under the retired key.
    RotateKey {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Exit status of a command that could not do its work (as opposed to
/// `audit verify` finding a broken chain, which is 1).
const COULD_NOT: u8 = 2;

pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(why) = logging::init(cli.log_format) {
        tracing::error!("{why}");
        return ExitCode::from(COULD_NOT);
    }
    let bootstrap_key_from_env = matches
        .subcommand_matches("serve")
        .and_then(|m| m.value_source("bootstrap_key"))
        == Some(ValueSource::EnvVariable);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, bootstrap_key_from_env)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, bootstrap_key_from_env: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => return serve(args, bootstrap_key_from_env).await,
        Command::Migrate(db) => migrate(&db).await?,
        Command::Keys(KeysCommand::Create { db, org, new }) => create_key(&db, &org, new).await?,
        Command::Audit(AuditCommand::Verify { db, org, all }) => {
            return Ok(match audit_verify(&db, org.as_deref(), all).await {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!("could not check the audit trail: {e:#}");
                    ExitCode::from(COULD_NOT)
                }
            });
        }
        Command::Audit(AuditCommand::VerifyCheckpoints { db, public_keys }) => {
            return Ok(match verify_checkpoints(&db, &public_keys).await {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!("could not check the checkpoints: {e:#}");
                    ExitCode::from(COULD_NOT)
                }
            });
        }
        Command::Audit(AuditCommand::VerifyProof { file, public_key }) => {
            return Ok(match verify_proof(&file, &public_key) {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!("could not check the proof: {e:#}");
                    ExitCode::from(COULD_NOT)
                }
            });
        }
        Command::Audit(AuditCommand::VerifyExport { file, public_keys }) => {
            return Ok(match verify_export(&file, &public_keys) {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!("could not check the export: {e:#}");
                    ExitCode::from(COULD_NOT)
                }
            });
        }
        Command::Audit(AuditCommand::RotateKey { db }) => {
            let orgd = operator_service(&db, OpenMode::Existing).await?;
            let key = orgd.rotate_audit_key().await.map_err(describe)?;
            println!("{}", serde_json::to_string_pretty(&key)?);
            tracing::info!(
                "the audit trail is now signed with key {}; publish its public key to the \
                 trail's auditors",
                key.kid
            );
        }
        Command::Backup { db, to } => return backup(&db, &to).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "orgd", &mut std::io::stdout());
        }
        Command::Openapi => println!("{}", crate::http::openapi_json()?),
    }
    Ok(ExitCode::SUCCESS)
}

/// `orgd migrate`: brings the schema up to date, and says what it did.
async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let store = open_store(db, OpenMode::Create).await?;
    let applied = store.migrations_applied();
    store.close().await;
    if applied.is_empty() {
        tracing::info!(
            "{} is up to date: no migration was pending",
            db.database_url
        );
    }
    for m in &applied {
        tracing::info!("applied migration {m}");
    }
    if !applied.is_empty() {
        tracing::info!(
            "{} is up to date: applied {} migration(s)",
            db.database_url,
            applied.len()
        );
    }
    Ok(())
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

/// `orgd backup`: a consistent copy of a SQLite database, taken while it serves.
async fn backup(db: &DatabaseArgs, to: &std::path::Path) -> anyhow::Result<ExitCode> {
    if !db.database_url.is_sqlite() {
        tracing::error!(
            "orgd backup copies SQLite databases; for PostgreSQL use pg_dump, which takes a \
                 consistent snapshot while orgd runs, e.g. \
                 pg_dump --format=custom --file orgd.dump 'postgres://USER@HOST/DATABASE'"
        );
        return Ok(ExitCode::from(COULD_NOT));
    }
    let store = open_sqlite(db, OpenMode::ReadOnly).await?;
    let done = store.backup_to(to).await;
    orgd_core::store::Store::close(&store).await;
    done.map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
    tracing::info!(
        "wrote a consistent copy of {} to {}; serve it with: orgd serve --database-url sqlite://{}",
        db.database_url,
        to.display(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs, bootstrap_key_from_env: bool) -> anyhow::Result<ExitCode> {
    if let Some(key) = &args.bootstrap_key
        && !orgd_core::keys::is_well_formed_secret(key.expose_secret())
    {
        // Never echo the value: it is meant to be a secret.
        let source = if bootstrap_key_from_env {
            "ORGD_BOOTSTRAP_KEY"
        } else {
            "--bootstrap-key"
        };
        tracing::error!(
            "{source} is not usable as the root key's secret: it must be 32 to 256 printable \
             ASCII characters without spaces (its value is not shown)"
        );
        return Ok(ExitCode::from(COULD_NOT));
    }
    let config = Config::from(args);
    let root_id = config.root_id.clone();
    let generated = config.bootstrap_key.is_none();
    let app = Application::build(config).await?;
    match app.bootstrap() {
        Bootstrap::Created(secret) if generated => {
            tracing::info!("created the root organization '{root_id}' and its root key");
            // The only copy there is: on stderr, on its own line, never logged.
            eprintln!("orgd: root key secret (shown once, store it now): {secret}");
        }
        Bootstrap::Created(_) => tracing::info!(
            "created the root organization '{root_id}'; its root key's secret is ORGD_BOOTSTRAP_KEY"
        ),
        Bootstrap::Existing => {}
        Bootstrap::ExistingOtherSecret => tracing::warn!(
            "ORGD_BOOTSTRAP_KEY is set, but this database was bootstrapped earlier with another \
             root key, so it has no effect (it applies only to a new database). Use the root key \
             printed when the database was created, mint one with `orgd keys create --org {} \
             --permissions read,write,delete,admin --name NAME`, or start on a new database \
             (--database-url)",
            app_root(&app).await
        ),
    }
    stop_on_signal(app.shutdown_token())?;
    tracing::info!("listening on {}", app.local_addr());
    app.run().await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn app_root(app: &Application) -> String {
    app.service()
        .root_id()
        .await
        .map_or_else(|_| "ROOT_ID".to_owned(), |id| id.to_string())
}

/// `orgd audit verify`: read-only, so it never creates or changes a file.
async fn audit_verify(db: &DatabaseArgs, org: Option<&str>, all: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(db, OpenMode::ReadOnly).await?;
    let orgd = Orgd::new(store.clone(), Arc::new(SystemClock), operator_settings());
    let broken = if all {
        let ids = orgd.all_org_ids_as_operator().await.map_err(describe)?;
        let mut broken = Vec::new();
        for id in &ids {
            let v = orgd
                .verify_audit_as_operator(id.as_str())
                .await
                .map_err(describe)?;
            if !v.valid {
                let why = match v.first_bad_seq {
                    Some(seq) => format!("first bad seq {seq}"),
                    None => format!(
                        "truncated: shorter than checkpoint {}",
                        v.checkpoint_id.as_deref().unwrap_or("?")
                    ),
                };
                println!("broken: {id} ({} events; {why})", v.events);
                broken.push(id.to_string());
            }
        }
        println!(
            "audit verify: {} organizations, {} valid, {} broken",
            ids.len(),
            ids.len() - broken.len(),
            broken.len()
        );
        !broken.is_empty()
    } else {
        let org = org.unwrap_or_default();
        let v = orgd.verify_audit_as_operator(org).await.map_err(describe)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        !v.valid
    };
    store.close().await;
    Ok(if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_public_key(k: &str) -> anyhow::Result<orgd_core::checkpoint::PublicKey> {
    orgd_core::checkpoint::PublicKey::parse(k).ok_or_else(|| {
        anyhow::anyhow!(
            "--public-key {k:?} is not an Ed25519 public key (32 bytes, base64url, as GET \
             /audit/keys gives it)"
        )
    })
}

/// `orgd audit verify-proof`: no server, no database.
fn verify_proof(file: &std::path::Path, public_key: &str) -> anyhow::Result<ExitCode> {
    let key = parse_public_key(public_key)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let proof: orgd_core::checkpoint::InclusionProof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an inclusion proof", file.display()))?;
    let failures = orgd_core::checkpoint::check_proof(&proof, &key);
    for f in &failures {
        println!("not proven: {f}");
    }
    if !failures.is_empty() {
        return Ok(ExitCode::from(1));
    }
    println!(
        "proven: {} at seq {} is in checkpoint {} ({} leaves), signed by key {}",
        proof.leaf.org_id, proof.leaf.seq, proof.checkpoint.id, proof.tree_size, key.kid
    );
    Ok(ExitCode::SUCCESS)
}

/// `orgd audit verify-export`: no server, no database; reads the file line
/// by line.
fn verify_export(file: &std::path::Path, public_keys: &[String]) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    let keys = public_keys
        .iter()
        .map(|k| parse_public_key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut reader = std::io::BufReader::new(f);
    let mut verifier = orgd_core::export::ExportVerifier::new(keys);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        verifier.push_line(&line);
    }
    let report = verifier.finish();
    for p in &report.problems {
        println!("{p}");
    }
    if report.problems.is_empty() {
        println!(
            "valid: {} events of {} organization(s), the manifest and the checkpoint signed by \
             a key given; {} organization(s) proven to reach the head the checkpoint signed for \
             them",
            report.events, report.orgs, report.proven
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("not valid: {} problem(s)", report.problems.len());
        Ok(ExitCode::from(1))
    }
}

/// `orgd audit verify-checkpoints`: read-only.
async fn verify_checkpoints(db: &DatabaseArgs, public_keys: &[String]) -> anyhow::Result<ExitCode> {
    let pinned = public_keys
        .iter()
        .map(|k| parse_public_key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = open_store(db, OpenMode::ReadOnly).await?;
    let orgd = Orgd::new(store.clone(), Arc::new(SystemClock), operator_settings());
    let report = orgd.verify_checkpoints(&pinned).await.map_err(describe);
    store.close().await;
    let report = report?;
    for p in &report.problems {
        println!("{p}");
    }
    println!(
        "audit verify-checkpoints: {} checkpoints, {} heads of the latest checked, {} problem(s)",
        report.checkpoints,
        report.heads,
        report.problems.len()
    );
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Settings for the operator's commands: they act as the root, and make nothing
/// that depends on the rest.
fn operator_settings() -> Settings {
    Settings {
        root_id: OrgId::from_trusted(crate::config::DEFAULT_ROOT_ID.into()),
        max_depth: orgd_core::service::DEFAULT_MAX_DEPTH,
        default_rate_limit_per_minute: None,
        cache_ttl: Default::default(),
        webhook_allow_private_targets: false,
    }
}

async fn operator_service(db: &DatabaseArgs, mode: OpenMode) -> anyhow::Result<Orgd> {
    let store = open_store(db, mode).await?;
    let orgd = Orgd::new(store, Arc::new(SystemClock), operator_settings());
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

/// Cancels `token` on SIGTERM or SIGINT. The handlers are installed here,
/// before the caller says it listens: a signal that arrives right after
/// that line must stop the server gracefully, not kill it.
fn stop_on_signal(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
        token.cancel();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base64url key starts with `-` one time in 64: it is still a value.
    #[test]
    fn a_public_key_may_start_with_a_hyphen() {
        for args in [
            &[
                "orgd",
                "audit",
                "verify-proof",
                "p.json",
                "--public-key",
                "-Pq2",
            ][..],
            &[
                "orgd",
                "audit",
                "verify-export",
                "e.ndjson",
                "--public-key",
                "-Pq2",
            ],
            &[
                "orgd",
                "audit",
                "verify-checkpoints",
                "--public-key",
                "-Pq2",
            ],
        ] {
            let cli = Cli::try_parse_from(args);
            assert!(cli.is_ok(), "{args:?}: {:?}", cli.err());
        }
    }

    #[test]
    fn the_command_line_is_well_formed_and_every_flag_has_help() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_positional() {
                    continue;
                }
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "{path} --{id} has no help text"
                );
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&cmd, "orgd");
    }
}
