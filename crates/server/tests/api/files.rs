//! Which test file runs on which database: every file of `tests/api` runs on
//! both (through `both_databases.rs`) unless it is named here with its
//! reason, and every file of `tests/api_postgres` is PostgreSQL's own. A new
//! file left out of the shared list fails here instead of quietly running on
//! SQLite only. A module may be a file (`NAME.rs`) or a folder (`NAME/mod.rs`,
//! listed once: its files come with it, and each must be declared by its
//! `mod.rs`).

use std::collections::{BTreeMap, BTreeSet};
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

/// The modules of a directory of tests: `NAME.rs`, or a folder `NAME/` with
/// its `mod.rs`; each with its file, relative to the directory.
fn modules(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            assert!(
                path.join("mod.rs").is_file(),
                "{} is a folder of tests without a mod.rs",
                path.display()
            );
            out.insert(name.clone(), format!("{name}/mod.rs"));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.insert(name.clone(), format!("{name}.rs"));
        }
    }
    out
}

/// The modules a file declares with `mod NAME;` (`pub` or not).
fn declared(file: &Path) -> BTreeSet<String> {
    declared_with_paths(file).into_keys().collect()
}

/// The modules a file declares with `mod NAME;`, each with the `#[path]`
/// given just before it, if any.
fn declared_with_paths(file: &Path) -> BTreeMap<String, Option<String>> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = BTreeMap::new();
    let mut path = None;
    for line in text.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("#[path = \"") {
            path = Some(p.strip_suffix("\"]").unwrap().to_owned());
            continue;
        }
        let decl = line.strip_prefix("pub ").unwrap_or(line);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|l| l.strip_suffix(';')) {
            out.insert(name.to_owned(), path.take());
        } else if !line.starts_with("#[") {
            path = None;
        }
    }
    out
}

/// Every file of a folder module comes with it: each `.rs` file beside its
/// `mod.rs` (and in its subfolders, the same way) is declared there, so none
/// sits in the tree without compiling or running.
fn assert_children_declared(folder: &Path) {
    let declared = declared(&folder.join("mod.rs"));
    let children = modules(folder);
    let own: BTreeSet<String> = children.keys().filter(|c| *c != "mod").cloned().collect();
    assert_eq!(
        own,
        declared,
        "the files of {} and the modules its mod.rs declares",
        folder.display()
    );
    for (child, file) in &children {
        if file.ends_with("/mod.rs") {
            assert_children_declared(&folder.join(child));
        }
    }
}

fn names(list: &[(&str, &str)]) -> BTreeSet<String> {
    list.iter().map(|(n, _)| (*n).to_owned()).collect()
}

#[test]
fn every_test_file_runs_on_both_databases_or_says_why() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let both_paths = declared_with_paths(&tests.join("api/both_databases.rs"));
    let both: BTreeSet<String> = both_paths.keys().cloned().collect();
    let sqlite_only = names(SQLITE_ONLY);

    let api = modules(&tests.join("api"));
    let files: BTreeSet<String> = api.keys().cloned().collect();
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
    // Each by its own file: `NAME.rs`, or a folder's `NAME/mod.rs`.
    for (name, path) in &both_paths {
        let want = format!("../api/{}", api[name]);
        assert_eq!(
            path.as_deref(),
            Some(want.as_str()),
            "the #[path] of {name} in tests/api/both_databases.rs"
        );
    }
    // A folder module's files come with it, wherever it runs.
    for (name, file) in &api {
        if file.ends_with("/mod.rs") {
            assert_children_declared(&tests.join("api").join(name));
        }
    }

    // The SQLite binary declares the SQLite-only files itself.
    let main = declared(&tests.join("api/main.rs"));
    let expected: BTreeSet<String> = sqlite_only
        .iter()
        .filter(|f| !["main", "both_databases"].contains(&f.as_str()))
        .cloned()
        .collect();
    assert_eq!(main, expected, "tests/api/main.rs declares");

    // The PostgreSQL binary: the shared list, and its own files.
    let pg = modules(&tests.join("api_postgres"));
    for (name, file) in &pg {
        if file.ends_with("/mod.rs") {
            assert_children_declared(&tests.join("api_postgres").join(name));
        }
    }
    let mut pg_files: BTreeSet<String> = pg.into_keys().collect();
    pg_files.remove("main");
    assert_eq!(
        pg_files,
        names(POSTGRES_ONLY),
        "files of tests/api_postgres"
    );
    let pg_main = std::fs::read_to_string(tests.join("api_postgres/main.rs")).unwrap();
    assert!(pg_main.contains(r#"include!("../api/both_databases.rs");"#));
    let helpers = format!("../api/{}", api["helpers"]);
    assert_eq!(
        declared_with_paths(&tests.join("api_postgres/main.rs"))["helpers"].as_deref(),
        Some(helpers.as_str()),
        "the #[path] of helpers in tests/api_postgres/main.rs"
    );
    let pg_declared = declared(&tests.join("api_postgres/main.rs"));
    let expected: BTreeSet<String> = names(POSTGRES_ONLY)
        .into_iter()
        .chain(["helpers".to_owned()])
        .collect();
    assert_eq!(pg_declared, expected, "tests/api_postgres/main.rs declares");
}
