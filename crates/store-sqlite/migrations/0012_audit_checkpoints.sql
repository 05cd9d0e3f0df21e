-- The verifiable audit trail (SPEC §12): the keys that sign checkpoints,
-- the signed checkpoints, each checkpoint's leaves, and what pruning left
-- of each chain.

CREATE TABLE audit_keys (
    kid        TEXT PRIMARY KEY,
    -- Ed25519, 32 bytes, base64url
    public_key TEXT NOT NULL,
    -- the private seed (base64url); NULL for a key kept in a file outside
    -- the database (`--audit-signing-key-file`)
    seed       TEXT,
    created_at TEXT NOT NULL,
    retired_at TEXT
) STRICT;

-- At most one key signs at a time.
CREATE UNIQUE INDEX audit_keys_one_active ON audit_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;

CREATE TABLE audit_checkpoints (
    -- 1, 2, …: each checkpoint's `prev_id` is the one at position - 1
    position   INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    tree_size  INTEGER NOT NULL,
    root_hash  TEXT NOT NULL,
    prev_id    TEXT,
    kid        TEXT NOT NULL REFERENCES audit_keys (kid),
    signature  TEXT NOT NULL
) STRICT;

-- A checkpoint's leaves are, for each org, its row with the greatest
-- `checkpoint` at or below the checkpoint's position: a checkpoint stores
-- only the heads that moved since the one before, so the table grows with
-- changes, not with orgs × checkpoints.
CREATE TABLE checkpoint_leaves (
    org_id     TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (org_id, checkpoint)
) STRICT, WITHOUT ROWID;

-- What each checkpoint stored of itself, for `orgd audit verify-checkpoints`.
CREATE INDEX checkpoint_leaves_checkpoint ON checkpoint_leaves (checkpoint);

-- What pruning left of a chain (`audit.retention_days`): its last removed
-- event, signed; verification starts from it.
CREATE TABLE audit_anchors (
    org_id    TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    pruned_at TEXT NOT NULL,
    kid       TEXT NOT NULL,
    signature TEXT NOT NULL
) STRICT;

-- What was signed is not rewritten through orgd. (Anyone with the file can
-- still drop these; the signatures are what make such an edit visible.)
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;

CREATE TRIGGER checkpoint_leaves_append_only BEFORE UPDATE ON checkpoint_leaves
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
