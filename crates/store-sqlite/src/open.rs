//! Finding the file, opening connections to it, migrating it, and saying
//! why that failed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orgd_core::store::{OpenMode, StoreError};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rusqlite::{Connection, OpenFlags};

use crate::error::Error;
use crate::sql;

/// Statements each connection keeps prepared: the store has about a hundred
/// distinct ones, and the filters of the listings add a few shapes each.
const STATEMENT_CACHE: usize = 128;

/// What a `sqlite://PATH?mode=…` URL names.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub(crate) path: PathBuf,
    /// `mode=ro`: every connection read-only.
    read_only: bool,
    /// `immutable=true`: SQLite takes no locks and ignores any WAL.
    immutable: bool,
}

impl Location {
    /// Accepts `sqlite://PATH` and `sqlite:PATH`, the path percent-encoded
    /// where it holds `?` or `#`, and the query parameters SQLite's URIs
    /// have that make sense for a file: `mode` (`ro`, `rw`, `rwc`; whether
    /// to create is the open mode's choice), `cache` and `immutable`.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or("expected sqlite://PATH")?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = percent_decode_str(path)
            .decode_utf8()
            .map_err(|e| format!("the path is not UTF-8: {e}"))?;
        if path.is_empty() {
            return Err("no file named: use sqlite://PATH".into());
        }
        let mut loc = Self {
            path: PathBuf::from(path.as_ref()),
            read_only: false,
            immutable: false,
        };
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (key, value) {
                ("mode", "ro") => loc.read_only = true,
                ("mode", "rw" | "rwc") | ("cache", "shared" | "private") => {}
                ("immutable", "true" | "1") => loc.immutable = true,
                ("immutable", "false" | "0") => loc.immutable = false,
                ("mode" | "cache" | "immutable", v) => {
                    return Err(format!("unknown value {v:?} for `{key}`"));
                }
                _ => return Err(format!("unknown query parameter `{key}`")),
            }
        }
        Ok(loc)
    }
}

/// How every connection of a store is opened, so a broken one can be
/// replaced the same way.
#[derive(Debug, Clone)]
pub(crate) struct Opener {
    uri: String,
    flags: OpenFlags,
    busy_timeout: Duration,
    /// Readers of a writable database refuse writes themselves.
    query_only: bool,
}

impl Opener {
    pub(crate) fn new(
        loc: &Location,
        mode: OpenMode,
        read_only: bool,
        busy_timeout: Duration,
    ) -> Self {
        let read_only = read_only || loc.read_only;
        let mut flags = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        flags |= if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else if mode == OpenMode::Create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        // Percent-encoded whole, so no character of the path can be taken
        // for part of the URI.
        let mut uri = format!(
            "file:{}",
            utf8_percent_encode(&loc.path.to_string_lossy(), NON_ALPHANUMERIC)
        );
        if loc.immutable {
            uri.push_str("?immutable=1");
        }
        Self {
            uri,
            flags,
            busy_timeout,
            query_only: false,
        }
    }

    /// Read-only: what the database's file allows when it has no write-ahead
    /// log is read without any lock (`immutable`), which needs no `-shm`
    /// file beside it and so works in a read-only directory.
    pub(crate) fn immutable(mut self) -> Self {
        if !self.uri.contains('?') {
            self.uri.push_str("?immutable=1");
        }
        self
    }

    pub(crate) fn query_only(mut self) -> Self {
        self.query_only = true;
        self
    }

    pub(crate) fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.uri, self.flags)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.busy_timeout(self.busy_timeout)?;
        sql::exec(&conn, "PRAGMA foreign_keys = ON")?;
        if !self.flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            // Every acknowledged commit survives a crash of the machine.
            sql::exec(&conn, "PRAGMA synchronous = FULL")?;
        }
        if self.query_only {
            sql::exec(&conn, "PRAGMA query_only = ON")?;
        }
        Ok(conn)
    }

    /// The writer: also switches the database to WAL, so readers never wait
    /// for it (the setting is kept in the file).
    pub(crate) fn open_writer(&self) -> Result<Connection, Error> {
        let conn = self.open()?;
        sql::row(&conn, "PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        // Each write unit is a savepoint inside a batch (`writer.rs`), and
        // SQLite keeps a savepoint's page images in a sub-journal. Left to the
        // default, a sub-journal past 64 KiB spills to a fresh temporary file
        // in /var/tmp: one file per batch, and a write system call per page
        // image, which was most of the time a PATCH spent in the kernel.
        // Kept in memory, it is freed as each savepoint is released; it was
        // never durable state (a crash rolls back the open batch from the WAL).
        sql::exec(&conn, "PRAGMA temp_store = MEMORY")?;
        // SQLite opens a file it may not write read-only without a word;
        // orgd would then fail at its first write, long after start-up.
        if conn.is_readonly(rusqlite::DatabaseName::Main)? {
            return Err(StoreError::Other("the database file is read-only".into()).into());
        }
        Ok(conn)
    }
}

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the pending migrations with sqlx, which earlier versions used
/// and whose `_sqlx_migrations` table records them; returns those applied,
/// as `VERSION description`. The pool lives only as long as this takes.
pub(crate) async fn migrate(
    loc: &Location,
    busy_timeout: Duration,
    before: &[i64],
) -> Result<Vec<String>, StoreError> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let options = SqliteConnectOptions::new()
        .filename(&loc.path)
        .read_only(loc.read_only)
        .immutable(loc.immutable)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(busy_timeout);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(busy_timeout)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let ran = MIGRATOR.run(&pool).await;
    pool.close().await;
    ran.map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !before.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect())
}

/// Versions of the migrations applied to the database (none on a new one).
pub(crate) fn applied_versions(conn: &Connection) -> Result<Vec<i64>, Error> {
    let has_table = sql::count(
        conn,
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        [],
    )?;
    if has_table == 0 {
        return Ok(Vec::new());
    }
    sql::rows(
        conn,
        "SELECT version FROM _sqlx_migrations WHERE success",
        [],
        |r| Ok(r.get(0)?),
    )
}

/// Refuses a database this version cannot read without changing it.
pub(crate) fn check_schema(conn: &Connection) -> Result<(), Error> {
    let applied = applied_versions(conn)?;
    if applied.is_empty() {
        return Err(
            StoreError::Other("it is not an orgd database (it has no orgd schema)".into()).into(),
        );
    }
    if MIGRATOR.iter().any(|m| !applied.contains(&m.version)) {
        return Err(StoreError::Other(
            "its schema is older than this orgd: run `orgd migrate` on it first".into(),
        )
        .into());
    }
    Ok(())
}

pub(crate) fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

/// Turns a failure to open `path` into one sentence naming the path and the
/// likely fix: SQLite itself says only "unable to open database file".
pub(crate) fn open_error(path: &Path, mode: OpenMode, e: StoreError) -> StoreError {
    let shown = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let why = if !dir.is_dir() {
        format!(
            "the directory {} does not exist; create it (mkdir -p {}) or point --database-url elsewhere",
            dir.display(),
            dir.display()
        )
    } else if !path.exists() && mode != OpenMode::Create {
        format!(
            "there is no database at {shown}; start `orgd serve` once to create it, or check --database-url"
        )
    } else if mode != OpenMode::ReadOnly
        && path.exists()
        && std::fs::OpenOptions::new().write(true).open(path).is_err()
    {
        format!(
            "{shown} is read-only for this user; orgd writes to it (make it writable, e.g. chmod u+w {shown}, \
             or run orgd as its owner; `orgd audit verify` and `orgd backup` work on a read-only copy)"
        )
    } else if mode != OpenMode::ReadOnly && is_read_only_dir(&dir) {
        format!(
            "the directory {} is not writable for this user; SQLite keeps its -wal and -shm files \
             beside the database, so orgd needs to write there",
            dir.display()
        )
    } else {
        match e {
            StoreError::Other(why) | StoreError::Unavailable(why) => why,
            e => e.to_string(),
        }
    };
    StoreError::Other(format!("cannot open the SQLite database {shown}: {why}"))
}

/// Whether a file can be made in `dir` (checked by making one).
fn is_read_only_dir(dir: &Path) -> bool {
    let probe = dir.join(format!(".orgd-write-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_name_absolute_and_relative_paths() {
        let abs = Location::parse("sqlite:///var/lib/orgd/orgd.db").unwrap();
        assert_eq!(abs.path, Path::new("/var/lib/orgd/orgd.db"));
        let rel = Location::parse("sqlite://orgd.db").unwrap();
        assert_eq!(rel.path, Path::new("orgd.db"));
        let bare = Location::parse("sqlite:relative.db").unwrap();
        assert_eq!(bare.path, Path::new("relative.db"));
    }

    #[test]
    fn urls_keep_their_query_apart_from_the_path() {
        let loc = Location::parse("sqlite:///tmp/a%3Fb.db?mode=rwc&cache=shared").unwrap();
        assert_eq!(loc.path, Path::new("/tmp/a?b.db"));
        assert!(!loc.read_only);
        assert!(
            Location::parse("sqlite:///tmp/a.db?mode=ro")
                .unwrap()
                .read_only
        );
        assert!(Location::parse("sqlite:///tmp/a.db?nope=1").is_err());
        assert!(Location::parse("sqlite:///tmp/a.db?mode=fast").is_err());
        assert!(Location::parse("sqlite://").is_err());
        assert!(Location::parse("postgres://x/y").is_err());
    }

    #[test]
    fn the_uri_encodes_every_special_character_of_the_path() {
        let loc = Location::parse("sqlite:///tmp/a%23b c.db").unwrap();
        let opener = Opener::new(&loc, OpenMode::ReadOnly, true, Duration::ZERO).immutable();
        assert_eq!(opener.uri, "file:%2Ftmp%2Fa%23b%20c%2Edb?immutable=1");
    }
}
