//! `orgd audit …`: checking the audit trail (its chains, its signed
//! checkpoints, a saved proof or export) and rotating its signing key.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{ArgGroup, Subcommand};
use orgd_core::clock::SystemClock;
use orgd_core::service::Orgd;
use orgd_core::store::OpenMode;

use super::operator::{LOG, checked, describe, operator_service, operator_settings};
use crate::app::open_store;
use crate::config::DatabaseArgs;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
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

/// Runs `orgd audit …`: a check's exit status is 0 (valid), 1 (not), or 2
/// (could not check).
pub async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    Ok(match command {
        AuditCommand::Verify { db, org, all } => {
            checked("the audit trail", verify(&db, org.as_deref(), all).await)
        }
        AuditCommand::VerifyCheckpoints { db, public_keys } => checked(
            "the checkpoints",
            verify_checkpoints(&db, &public_keys).await,
        ),
        AuditCommand::VerifyProof { file, public_key } => {
            checked("the proof", verify_proof(&file, &public_key))
        }
        AuditCommand::VerifyExport { file, public_keys } => {
            checked("the export", verify_export(&file, &public_keys))
        }
        AuditCommand::RotateKey { db } => {
            let orgd = operator_service(&db, OpenMode::Existing).await?;
            let key = orgd.rotate_audit_key().await.map_err(describe)?;
            println!("{}", serde_json::to_string_pretty(&key)?);
            tracing::info!(
                target: LOG,
                "the audit trail is now signed with key {}; publish its public key to the \
                 trail's auditors",
                key.kid
            );
            ExitCode::SUCCESS
        }
    })
}

/// `orgd audit verify`: read-only, so it never creates or changes a file.
async fn verify(db: &DatabaseArgs, org: Option<&str>, all: bool) -> anyhow::Result<ExitCode> {
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

fn parse_public_key(k: &str) -> anyhow::Result<orgd_core::checkpoints::PublicKey> {
    orgd_core::checkpoints::PublicKey::parse(k).ok_or_else(|| {
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
    let proof: orgd_core::checkpoints::InclusionProof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an inclusion proof", file.display()))?;
    let failures = orgd_core::checkpoints::check_proof(&proof, &key);
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
    let mut verifier = orgd_core::audit_export::ExportVerifier::new(keys);
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
