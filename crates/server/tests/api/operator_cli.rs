//! The operator's command line: `audit verify --all`, `backup`, commands
//! that only read working on a read-only copy, completions, `migrate`'s
//! report, and start-up errors a person can act on.

use reqwest::StatusCode;

use crate::helpers::{RawDb, Remote, Storage, populated, postgres, run_cli, serve};

#[tokio::test]
async fn audit_verify_all_checks_every_org_and_exits_by_outcome() {
    let storage = Storage::new().await;
    let url = storage.database_url.clone();
    populated(&storage, &orgd_core::api_keys::generate_secret()).await;

    let (code, out, err) = run_cli(&["audit", "verify", "--all", "--database-url", &url]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "audit verify: 5 organizations, 5 valid, 0 broken"
    );

    let mut raw = RawDb::connect(&url).await;
    raw.drop_audit_guard().await;
    raw.execute("UPDATE audit_events SET action = 'org.forged' WHERE org_id = 'b1' AND seq = 1")
        .await
        .unwrap();
    drop(raw);
    let (code, out, _) = run_cli(&["audit", "verify", "--all", "--database-url", &url]).await;
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "broken: b1 (1 events; first bad seq 1)",
            "audit verify: 5 organizations, 4 valid, 1 broken"
        ]
    );

    // Could not check: exit 2, and nothing is created on the way.
    let (code, _, err) = run_cli(&["audit", "verify", "--org", "zz", "--database-url", &url]).await;
    assert_eq!(code, 2, "{err}");
    if !postgres() {
        let missing = storage.dir.path().join("typo.db");
        let typo = format!("sqlite://{}", missing.display());
        let (code, _, err) = run_cli(&["audit", "verify", "--all", "--database-url", &typo]).await;
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("there is no database at"), "{err}");
        assert!(
            !missing.exists(),
            "a read-only command created a database file"
        );
    }
    let (code, _, err) = run_cli(&["audit", "verify", "--database-url", &url]).await;
    assert_eq!(code, 2, "--org or --all is required: {err}");
}

#[tokio::test]
async fn backup_writes_a_copy_that_serves_with_the_same_keys() {
    let storage = Storage::new().await;
    let root = orgd_core::api_keys::generate_secret();
    populated(&storage, &root).await;
    let dest = storage.dir.path().join("backup.db");
    let dest_s = dest.display().to_string();
    let backup = [
        "backup",
        "--database-url",
        &storage.database_url,
        "--to",
        &dest_s,
    ];
    let (code, out, err) = run_cli(&backup).await;
    if postgres() {
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("pg_dump"), "{err}");
        assert!(!dest.exists());
        return;
    }
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("wrote a consistent copy"), "{err}");
    // Never over an existing file.
    let (code, _, err) = run_cli(&backup).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists already"), "{err}");

    let backup_url = format!("sqlite://{dest_s}");
    let mut orgd = serve(&backup_url, None);
    let res = Remote::new(&orgd.base().await, &root).get("/orgs/b1").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        !orgd.lines().iter().any(|l| l.contains("shown once")),
        "the copy is bootstrapped already"
    );
    orgd.stop().await;
    let (code, out, _) =
        run_cli(&["audit", "verify", "--all", "--database-url", &backup_url]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn reading_commands_never_migrate_or_write() {
    let storage = Storage::new().await;
    let url = storage.database_url.clone();
    populated(&storage, &orgd_core::api_keys::generate_secret()).await;
    // As if the database were left by an older orgd: its newest migration
    // is not recorded. A reader must refuse it rather than migrate it.
    let mut raw = RawDb::connect(&url).await;
    let newest = raw
        .scalar("SELECT max(version) FROM _sqlx_migrations")
        .await;
    raw.execute(&format!(
        "DELETE FROM _sqlx_migrations WHERE version = {newest}"
    ))
    .await
    .unwrap();
    let events = raw.scalar("SELECT count(*) FROM audit_events").await;
    for args in [
        vec!["audit", "verify", "--all", "--database-url", &url],
        vec!["audit", "verify", "--org", "a", "--database-url", &url],
    ] {
        let (code, _, err) = run_cli(&args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("run `orgd migrate`"), "{err}");
    }
    let dest = storage.dir.path().join("b.db").display().to_string();
    let (code, _, err) = run_cli(&["backup", "--database-url", &url, "--to", &dest]).await;
    assert_eq!(code, if postgres() { 2 } else { 1 }, "{err}");
    let recorded = raw
        .scalar(&format!(
            "SELECT count(*) FROM _sqlx_migrations WHERE version = {newest}"
        ))
        .await;
    assert_eq!(recorded, 0, "a reading command ran a migration");
    assert_eq!(
        raw.scalar("SELECT count(*) FROM audit_events").await,
        events
    );
}

#[tokio::test]
async fn start_up_errors_name_the_path_or_host_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/orgd.db");
    let url = format!("sqlite://{}", missing.display());
    let (code, _, err) =
        run_cli(&["serve", "--listen", "127.0.0.1:0", "--database-url", &url]).await;
    assert_eq!(code, 1, "{err}");
    let parent = missing.parent().unwrap().display().to_string();
    assert!(
        err.contains(&format!("the directory {parent} does not exist")),
        "{err}"
    );
    assert!(err.contains("mkdir -p"), "{err}");
    assert!(!err.contains("code: 14"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");

    // Nothing listens on port 1.
    let (code, _, err) = run_cli(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "postgres://orgd@127.0.0.1:1/orgd",
    ])
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot connect to PostgreSQL at 127.0.0.1:1/orgd"),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
}

#[tokio::test]
async fn migrate_says_what_it_applied() {
    let storage = Storage::new().await;
    let url = storage.database_url.clone();
    let (code, _, err) = run_cli(&["migrate", "--database-url", &url]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("applied migration 1 "), "{err}");
    assert!(err.contains("migration(s)"), "{err}");
    let (code, _, err) = run_cli(&["migrate", "--database-url", &url]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no migration was pending"), "{err}");
    assert!(!err.contains("applied migration"), "{err}");
}

#[tokio::test]
async fn completions_are_printed_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run_cli(&["completions", shell]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("orgd"), "{shell}");
        assert!(
            out.contains("backup") && out.contains("--database-url"),
            "{shell}"
        );
    }
    let (code, _, _) = run_cli(&["completions", "cmd.exe"]).await;
    assert_eq!(code, 2);
}
