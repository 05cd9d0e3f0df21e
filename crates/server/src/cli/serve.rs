//! `orgd serve`: checks the bootstrap key, builds the application, says
//! what start-up found, and runs until a signal stops it.

use std::process::ExitCode;

use orgd_core::service::bootstrap::Bootstrap;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use super::operator::{COULD_NOT, LOG};
use crate::app::Application;
use crate::config::{Config, ServeArgs};

pub async fn run(args: ServeArgs, bootstrap_key_from_env: bool) -> anyhow::Result<ExitCode> {
    if let Some(key) = &args.bootstrap_key
        && !orgd_core::api_keys::is_well_formed_secret(key.expose_secret())
    {
        // Never echo the value: it is meant to be a secret.
        let source = if bootstrap_key_from_env {
            "ORGD_BOOTSTRAP_KEY"
        } else {
            "--bootstrap-key"
        };
        tracing::error!(target: LOG,
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
            tracing::info!(target: LOG, "created the root organization '{root_id}' and its root key");
            // The only copy there is: on stderr, on its own line, never logged.
            eprintln!("orgd: root key secret (shown once, store it now): {secret}");
        }
        Bootstrap::Created(_) => tracing::info!(target: LOG,
            "created the root organization '{root_id}'; its root key's secret is ORGD_BOOTSTRAP_KEY"
        ),
        Bootstrap::Existing => {}
        Bootstrap::ExistingOtherSecret => tracing::warn!(target: LOG,
            "ORGD_BOOTSTRAP_KEY is set, but this database was bootstrapped earlier with another \
             root key, so it has no effect (it applies only to a new database). Use the root key \
             printed when the database was created, mint one with `orgd keys create --org {} \
             --permissions read,write,delete,admin --name NAME`, or start on a new database \
             (--database-url)",
            app_root(&app).await
        ),
    }
    stop_on_signal(app.shutdown_token())?;
    tracing::info!(target: LOG, "listening on {}", app.local_addr());
    app.run().await?;
    tracing::info!(target: LOG, "stopped");
    Ok(ExitCode::SUCCESS)
}

async fn app_root(app: &Application) -> String {
    app.service()
        .root_id()
        .await
        .map_or_else(|_| "ROOT_ID".to_owned(), |id| id.to_string())
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
        tracing::info!(target: LOG, "shutdown signal received; finishing in-flight requests");
        token.cancel();
    });
    Ok(())
}
