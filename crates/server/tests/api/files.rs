//! Which test file runs on which database: every file of `tests/api` runs on
//! both (through `both_databases.rs`) unless it is named here with its
//! reason, and every file of `tests/api_postgres` is PostgreSQL's own. A new
//! file left out of the shared list fails here instead of quietly running on
//! SQLite only.

use std::collections::BTreeSet;
use std::path::Path;

/// The files of `tests/api` that run on SQLite only, and why.
const SQLITE_ONLY: &[(&str, &str)] = &[
    ("main", "the SQLite binary itself"),
    (
        "helpers",
        "shared by both binaries as a module, not a test file",
    ),
    ("both_databases", "the list of files run on both"),
    (
        "browser",
        "the console's browser harness, a module of console_browser",
    ),
    (
        "console_browser",
        "the browser drives the same domain service: the stores are proven on both \
         databases by the HTTP suite, console.rs included; one browser run keeps CI short",
    ),
    ("files", "this check"),
    (
        "readme",
        "runs the README's commands, which use the SQLite default",
    ),
    (
        "sqlite_files",
        "SQLite's files on disk: permissions, WAL, backups",
    ),
];

/// The files of `tests/api_postgres` besides its `main.rs`, and why.
const POSTGRES_ONLY: &[(&str, &str)] = &[
    ("multinode", "several nodes sharing one PostgreSQL database"),
    ("outage", "the database server going away and coming back"),
];

fn stems(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The modules a file declares with `mod NAME;`.
fn declared(file: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

fn names(list: &[(&str, &str)]) -> BTreeSet<String> {
    list.iter().map(|(n, _)| (*n).to_owned()).collect()
}

#[test]
fn every_test_file_runs_on_both_databases_or_says_why() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let both = declared(&tests.join("api/both_databases.rs"));
    let sqlite_only = names(SQLITE_ONLY);

    let files = stems(&tests.join("api"));
    let unplaced: Vec<_> = files
        .iter()
        .filter(|f| !both.contains(*f) && !sqlite_only.contains(*f))
        .collect();
    assert!(
        unplaced.is_empty(),
        "{unplaced:?} run on SQLite only: list them in tests/api/both_databases.rs, \
         or in files::SQLITE_ONLY with the reason"
    );
    let twice: Vec<_> = both.intersection(&sqlite_only).collect();
    assert!(
        twice.is_empty(),
        "{twice:?} are listed as both and SQLite only"
    );
    let missing: Vec<_> = both.iter().filter(|m| !files.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "{missing:?} are listed but have no file"
    );

    // The SQLite binary declares the SQLite-only files itself.
    let main = declared(&tests.join("api/main.rs"));
    let expected: BTreeSet<String> = sqlite_only
        .iter()
        .filter(|f| !["main", "both_databases"].contains(&f.as_str()))
        .cloned()
        .collect();
    assert_eq!(main, expected, "tests/api/main.rs declares");

    // The PostgreSQL binary: the shared list, and its own files.
    let mut pg_files = stems(&tests.join("api_postgres"));
    pg_files.remove("main");
    assert_eq!(
        pg_files,
        names(POSTGRES_ONLY),
        "files of tests/api_postgres"
    );
    let pg_main = std::fs::read_to_string(tests.join("api_postgres/main.rs")).unwrap();
    assert!(pg_main.contains(r#"include!("../api/both_databases.rs");"#));
    let pg_declared = declared(&tests.join("api_postgres/main.rs"));
    let expected: BTreeSet<String> = names(POSTGRES_ONLY)
        .into_iter()
        .chain(["helpers".to_owned()])
        .collect();
    assert_eq!(pg_declared, expected, "tests/api_postgres/main.rs declares");
}
