//! The command line: `orgd serve`, `migrate`, `keys create`, `audit verify`,
//! `backup`, `completions`, `openapi`. Every line it writes goes through the
//! logger ([`crate::logging`]), except a command's own output on stdout and
//! the one-time root secret.
//!
//! Here: the commands (clap) and the dispatch; a file per command beside it
//! (`serve.rs`, `migrate.rs`, `keys.rs`, `audit.rs`, `backup.rs`) holding its
//! own arguments and work, and `operator.rs` what they share. A new command
//! is a file, a variant of [`Command`] and its arm in `run`.

mod audit;
mod backup;
mod keys;
mod migrate;
mod operator;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{DatabaseArgs, ServeArgs};
use crate::logging::{self, LogFormat};
use audit::AuditCommand;
use keys::KeysCommand;
use operator::COULD_NOT;

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
        Command::Serve(args) => serve::run(args, bootstrap_key_from_env).await,
        Command::Migrate(db) => migrate::run(&db).await.map(|()| ExitCode::SUCCESS),
        Command::Keys(command) => keys::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Audit(command) => audit::run(command).await,
        Command::Backup { db, to } => backup::run(&db, &to).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "orgd", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", crate::http::openapi_json()?);
            Ok(ExitCode::SUCCESS)
        }
    }
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
