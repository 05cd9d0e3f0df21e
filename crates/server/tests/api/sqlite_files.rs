//! What only a SQLite file can show: commands that only read work on a
//! read-only copy in a read-only directory, and a database orgd cannot write
//! is named with the fix. (On PostgreSQL, `operator_cli.rs` shows that the
//! reading commands never migrate or write.)

use std::path::Path;

use crate::helpers::{Storage, populated, run_cli};

/// Runs `orgd ARGS` as the unprivileged user `nobody` (root ignores file
/// permissions, so only another user can show that a read-only copy is
/// enough). `None` when this process cannot switch users.
async fn run_as_nobody(args: &[&str]) -> Option<(i32, String, String)> {
    if !nix::unistd::geteuid().is_root() {
        let (c, o, e) = run_cli(args).await;
        return Some((c, o, e));
    }
    let out = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_orgd"))
        .args(args)
        .env_remove("ORGD_DATABASE_URL")
        .output()
        .await
        .ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn reading_commands_work_on_a_read_only_copy_and_writers_say_why_not() {
    let storage = Storage::new().await;
    populated(&storage, &orgd_core::api_keys::generate_secret()).await;
    let source = storage.dir.path().join("orgd.db");
    let ro_dir = tempfile::tempdir().unwrap();
    let copy = ro_dir.path().join("copy.db");
    std::fs::copy(&source, &copy).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    chmod(out_dir.path(), 0o777);
    chmod(&copy, 0o444);
    chmod(ro_dir.path(), 0o555);
    let url = format!("sqlite://{}", copy.display());
    let before = std::fs::read(&copy).unwrap();

    let Some((code, out, err)) =
        run_as_nobody(&["audit", "verify", "--all", "--database-url", &url]).await
    else {
        panic!("cannot run orgd as another user here (setpriv is part of util-linux)");
    };
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("5 valid"), "{out}");
    let dest = out_dir.path().join("b.db");
    let dest_s = dest.display().to_string();
    let (code, _, err) = run_as_nobody(&["backup", "--database-url", &url, "--to", &dest_s])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(dest.exists());
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        before,
        "the copy is untouched"
    );
    let mut entries: Vec<String> = std::fs::read_dir(ro_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["copy.db"], "nothing was created beside the copy");

    // Serving from it needs writes: one sentence says why not.
    let (code, _, err) =
        run_as_nobody(&["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
            .await
            .unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("read-only for this user"), "{err}");
    assert!(err.contains(&copy.display().to_string()), "{err}");
    chmod(ro_dir.path(), 0o755);
}
