//! Migrations that move data: what a database made by an earlier version
//! holds comes through.

use orgd_core::access_log::{AccessFilter, Outcome, Source};
use orgd_core::page::PageRequest;
use orgd_core::store::Store;
use orgd_store_tests::fixtures::oid;

use super::*;

/// A database whose access log was a table of rows gets it back as blocks
/// from migration 0009: every field, newest first, in blocks of at most
/// 4096 per org, and the old table gone.
#[tokio::test]
async fn the_migration_moves_access_log_rows_into_blocks() {
    let (store, tree, dir) = fresh(patient()).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(tree.org("a")).await.unwrap();
    tx.insert_org(tree.org("b")).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    drop(store);

    // As the database was before: rows in `access_log`, no blocks.
    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE access_blocks;
         DELETE FROM _sqlx_migrations WHERE description = 'access log in blocks';
         CREATE TABLE access_log (
             gid INTEGER PRIMARY KEY, id TEXT NOT NULL, org_id TEXT NOT NULL,
             timestamp TEXT NOT NULL, user_name TEXT, key_id TEXT, action TEXT NOT NULL,
             status TEXT NOT NULL, http_status INTEGER, method TEXT, path TEXT, ip TEXT,
             user_agent TEXT, request_id TEXT, latency_ms INTEGER, source TEXT NOT NULL,
             details TEXT
         ) STRICT;
         INSERT INTO access_log VALUES
             (1, 'full', 'a', '2024-01-01T00:00:02.500Z', 'José \"q\"', 'key_1', 'LOGIN',
              'FAILURE', 401, 'POST', '/x?y=1', '::1', 'curl/8', 'req-1', 12, 'external',
              '{\"reason\":\"bad — ✓\",\"n\":[1,2.5,null]}'),
             (2, 'bare', 'a', '2024-01-01T00:00:01.000Z', NULL, NULL, 'org.read',
              'SUCCESS', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'api', NULL);
         INSERT INTO access_log (id, org_id, timestamp, action, status, source)
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
             SELECT printf('b%04d', i), 'b', '2024-01-01T00:00:00.000Z', 'org.read',
                    'SUCCESS', 'api' FROM n;",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&SqliteOptions::new(url(&dir)))
        .await
        .unwrap();
    let mut tx = store.read().await.unwrap();
    let all = PageRequest::first(10_000);
    let a = tx
        .access_entries(&oid("a"), &AccessFilter::default(), &all)
        .await
        .unwrap();
    let full = &a[0].1;
    assert_eq!(
        (a.len(), full.id.as_str(), a[1].1.id.as_str()),
        (2, "full", "bare")
    );
    assert_eq!(full.user.as_deref(), Some("José \"q\""));
    assert_eq!(
        (full.status, full.source, full.http_status, full.latency_ms),
        (Outcome::Failure, Source::External, Some(401), Some(12))
    );
    assert_eq!(
        full.details,
        Some(serde_json::json!({"reason": "bad — ✓", "n": [1, 2.5, null]}))
    );
    assert_eq!(a[1].1.user, None);

    let b = tx
        .access_entries(&oid("b"), &AccessFilter::default(), &all)
        .await
        .unwrap();
    assert_eq!(b.len(), 5_000);
    let mut ids: Vec<&str> = b.iter().map(|(_, e)| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5_000);
    drop(tx);

    let conn = Connection::open(dir.path().join("t.db")).unwrap();
    let blocks: Vec<(String, i64)> = conn
        .prepare("SELECT org_id, entries FROM access_blocks ORDER BY block")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        blocks,
        [
            ("a".to_owned(), 2),
            ("b".to_owned(), 4096),
            ("b".to_owned(), 904)
        ]
    );
    let old: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'access_log'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0);
    store.close().await;
}
