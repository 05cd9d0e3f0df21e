//! Console sessions: round trips, uniqueness, touching, deleting one,
//! pruning the idle ones and ending a key's sessions.

use chrono::{DateTime, Utc};
use orgd_core::api_keys::digest;
use orgd_core::sessions::ConsoleSession;
use orgd_core::store::{Store, Tx};

use crate::fixtures::{assert_conflict, at, at_ms, t0};

/// `delete_sessions_idle_since` in `tx`: how many sessions went.
async fn idle_removed(tx: &mut dyn Tx, before: DateTime<Utc>, limit: usize) -> usize {
    tx.delete_sessions_idle_since(before, limit)
        .await
        .expect("delete_sessions_idle_since")
}

const KEY_A: &str = "orgd_secret_of_the_key_a_0123456789abcd";
const KEY_B: &str = "orgd_secret_of_the_key_b_0123456789abcd";

/// The session whose cookie is `cookie`, signed in with the key whose secret
/// is `secret`, created at `t0` and last seen at `last_seen`.
fn session(cookie: &str, secret: &str, last_seen: DateTime<Utc>) -> ConsoleSession {
    ConsoleSession {
        id_hash: digest(cookie),
        key_digest: digest(secret),
        created_at: t0(),
        last_seen_at: last_seen,
    }
}

/// Inserts the sessions and commits.
async fn insert_sessions(store: &dyn Store, sessions: &[ConsoleSession]) {
    let mut tx = store.begin().await.expect("begin");
    for s in sessions {
        tx.insert_session(s).await.expect("insert_session");
    }
    tx.commit().await.expect("commit");
}

/// Which of the sessions of `cookies` a fresh read transaction finds.
async fn present<'a>(store: &dyn Store, cookies: &[&'a str]) -> Vec<&'a str> {
    let mut tx = store.read().await.expect("read");
    let mut found = Vec::new();
    for cookie in cookies {
        if tx
            .session(&digest(cookie))
            .await
            .expect("session")
            .is_some()
        {
            found.push(*cookie);
        }
    }
    found
}

async fn inserted_session_reads_back_equal(store: &dyn Store) {
    let mut first = session("cookie_1", KEY_A, at_ms(61_234));
    first.created_at = at_ms(1_001);
    let second = session("cookie_2", KEY_B, t0());
    insert_sessions(store, &[first.clone(), second.clone()]).await;

    let mut tx = store.read().await.expect("read");
    for s in [&first, &second] {
        assert_eq!(
            tx.session(&s.id_hash).await.expect("session").as_ref(),
            Some(s)
        );
    }
    // Only by the id's hash: neither the cookie nor the key's digest opens it.
    assert_eq!(tx.session("cookie_1").await.expect("session"), None);
    assert_eq!(tx.session(&digest(KEY_A)).await.expect("session"), None);
    assert_eq!(
        tx.session(&digest("cookie_missing"))
            .await
            .expect("session"),
        None
    );
}

async fn inserting_a_duplicate_id_hash_conflicts_and_the_transaction_goes_on(store: &dyn Store) {
    let first = session("cookie_1", KEY_A, at(1));
    insert_sessions(store, std::slice::from_ref(&first)).await;

    let same_id = session("cookie_1", KEY_B, at(2));
    let other = session("cookie_2", KEY_B, at(2));
    let mut tx = store.begin().await.expect("begin");
    assert_conflict(tx.insert_session(&same_id).await, "a duplicate id_hash");
    // A conflict spoils nothing else: the transaction can still commit.
    tx.insert_session(&other).await.expect("insert_session");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.session(&first.id_hash).await.expect("session"),
        Some(first)
    );
    assert_eq!(
        tx.session(&other.id_hash).await.expect("session"),
        Some(other)
    );
}

async fn touch_session_moves_last_seen_at_and_ignores_a_missing_session(store: &dyn Store) {
    let s = session("cookie_1", KEY_A, at(1));
    let other = session("cookie_2", KEY_A, at(1));
    insert_sessions(store, &[s.clone(), other.clone()]).await;

    let mut expected = s;
    for when in [at_ms(1_234), at_ms(9_876)] {
        let mut tx = store.begin().await.expect("begin");
        tx.touch_session(&expected.id_hash, when)
            .await
            .expect("touch_session");
        tx.touch_session(&digest("cookie_missing"), when)
            .await
            .expect("touching a missing session");
        tx.commit().await.expect("commit");

        expected.last_seen_at = when;
        let mut tx = store.read().await.expect("read");
        assert_eq!(
            tx.session(&expected.id_hash)
                .await
                .expect("session")
                .as_ref(),
            Some(&expected)
        );
        assert_eq!(
            tx.session(&other.id_hash).await.expect("session").as_ref(),
            Some(&other)
        );
        assert_eq!(
            tx.session(&digest("cookie_missing"))
                .await
                .expect("session"),
            None,
            "touching creates nothing"
        );
    }
}

async fn delete_session_says_whether_there_was_one(store: &dyn Store) {
    let s = session("cookie_1", KEY_A, at(1));
    let other = session("cookie_2", KEY_A, at(1));
    insert_sessions(store, &[s.clone(), other.clone()]).await;

    for expected in [true, false] {
        let mut tx = store.begin().await.expect("begin");
        assert_eq!(
            tx.delete_session(&s.id_hash).await.expect("delete_session"),
            expected
        );
        tx.commit().await.expect("commit");
    }
    assert_eq!(
        present(store, &["cookie_1", "cookie_2"]).await,
        ["cookie_2"]
    );
}

async fn pruning_deletes_the_most_idle_sessions_before_the_cutoff_up_to_the_limit(
    store: &dyn Store,
) {
    let cookies = ["idle_1", "idle_2", "idle_3", "at_cutoff", "recent"];
    let mut sessions: Vec<_> = cookies
        .iter()
        .zip([3, 1, 2, 10, 20])
        .map(|(cookie, secs)| session(cookie, KEY_A, at(secs)))
        .collect();
    // Created long before the cutoff but seen since: idleness is last_seen_at.
    let mut old_but_seen = session("old_but_seen", KEY_B, at(30));
    old_but_seen.created_at = at(-1_000);
    sessions.push(old_but_seen);
    insert_sessions(store, &sessions).await;
    let all = [
        "idle_1",
        "idle_2",
        "idle_3",
        "at_cutoff",
        "recent",
        "old_but_seen",
    ];
    let cutoff = at(10);

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(idle_removed(tx.as_mut(), cutoff, 0).await, 0);
    // The two seen longest ago go first.
    assert_eq!(idle_removed(tx.as_mut(), cutoff, 2).await, 2);
    tx.commit().await.expect("commit");
    assert_eq!(
        present(store, &all).await,
        ["idle_1", "at_cutoff", "recent", "old_but_seen"]
    );

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(idle_removed(tx.as_mut(), cutoff, 2).await, 1);
    assert_eq!(idle_removed(tx.as_mut(), cutoff, 2).await, 0);
    tx.commit().await.expect("commit");
    // A session seen exactly at the cutoff is not idle before it.
    assert_eq!(
        present(store, &all).await,
        ["at_cutoff", "recent", "old_but_seen"]
    );

    // The cutoff keeps millisecond precision.
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(idle_removed(tx.as_mut(), at_ms(10_001), 100).await, 1);
    tx.commit().await.expect("commit");
    assert_eq!(present(store, &all).await, ["recent", "old_but_seen"]);
}

async fn deleting_a_keys_sessions_leaves_other_keys_sessions(store: &dyn Store) {
    insert_sessions(
        store,
        &[
            session("a_1", KEY_A, at(1)),
            session("b_1", KEY_B, at(2)),
            session("a_2", KEY_A, at(3)),
        ],
    )
    .await;

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.delete_sessions_of_key(&digest(KEY_A))
            .await
            .expect("delete_sessions_of_key"),
        2
    );
    assert_eq!(
        tx.delete_sessions_of_key(&digest(KEY_A))
            .await
            .expect("delete_sessions_of_key"),
        0
    );
    assert_eq!(
        tx.delete_sessions_of_key(&digest("orgd_no_such_secret_0123456789abcdef"))
            .await
            .expect("delete_sessions_of_key"),
        0
    );
    tx.commit().await.expect("commit");
    assert_eq!(present(store, &["a_1", "b_1", "a_2"]).await, ["b_1"]);
}

async fn a_read_transaction_sees_committed_sessions_only(store: &dyn Store) {
    let kept = session("kept", KEY_A, at(1));
    let dropped = session("dropped", KEY_A, at(1));

    // Written, then dropped without commit: rolled back.
    let mut tx = store.begin().await.expect("begin");
    tx.insert_session(&dropped).await.expect("insert_session");
    drop(tx);
    insert_sessions(store, std::slice::from_ref(&kept)).await;

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.session(&kept.id_hash).await.expect("session").as_ref(),
        Some(&kept)
    );
    assert_eq!(tx.session(&dropped.id_hash).await.expect("session"), None);
    drop(tx);

    // A change committed later is seen by a read transaction opened later.
    let mut tx = store.begin().await.expect("begin");
    tx.touch_session(&kept.id_hash, at(5))
        .await
        .expect("touch_session");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    let seen = tx.session(&kept.id_hash).await.expect("session");
    assert_eq!(seen.map(|s| s.last_seen_at), Some(at(5)));
}

crate::cases![
    inserted_session_reads_back_equal,
    inserting_a_duplicate_id_hash_conflicts_and_the_transaction_goes_on,
    touch_session_moves_last_seen_at_and_ignores_a_missing_session,
    delete_session_says_whether_there_was_one,
    pruning_deletes_the_most_idle_sessions_before_the_cutoff_up_to_the_limit,
    deleting_a_keys_sessions_leaves_other_keys_sessions,
    a_read_transaction_sees_committed_sessions_only,
];
