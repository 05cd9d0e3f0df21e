//! The test server's database, reached directly.

/// A direct connection to a test server's database, for what only someone
/// with database access could do (tamper with rows, count them).
pub enum RawDb {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl RawDb {
    pub async fn connect(url: &str) -> Self {
        use sqlx::Connection as _;
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            Self::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    /// Runs one statement (no parameters); returns the rows it affected.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Self::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
            Self::Postgres(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
        }
    }

    /// The single integer a query (no parameters) returns.
    pub async fn scalar(&mut self, sql: &str) -> i64 {
        match self {
            Self::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            Self::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        }
    }

    /// Opens a transaction that holds what a write to `org` must wait for:
    /// SQLite's write lock, or the org's row lock on PostgreSQL.
    pub async fn lock_org_for_writes(&mut self, org: &str) {
        match self {
            Self::Sqlite(_) => {
                self.execute("BEGIN IMMEDIATE").await.unwrap();
            }
            Self::Postgres(_) => {
                self.execute("BEGIN").await.unwrap();
                let locked = self
                    .execute(&format!("SELECT 1 FROM orgs WHERE id = '{org}' FOR UPDATE"))
                    .await
                    .unwrap();
                assert_eq!(locked, 1);
            }
        }
    }

    /// Removes the trigger that keeps the audit trail append-only, as someone
    /// with the database could.
    pub async fn drop_audit_guard(&mut self) {
        let sql = match self {
            Self::Sqlite(_) => "DROP TRIGGER audit_events_append_only",
            Self::Postgres(_) => "DROP TRIGGER audit_events_append_only ON audit_events",
        };
        self.execute(sql).await.unwrap();
    }
}
