-- The verifiable audit trail (SPEC §12): the keys that sign checkpoints,
-- the signed checkpoints, each checkpoint's leaves, and what pruning left
-- of each chain.

CREATE TABLE audit_keys (
    kid        TEXT COLLATE "C" PRIMARY KEY,
    -- Ed25519, 32 bytes, base64url
    public_key TEXT NOT NULL,
    -- the private seed (base64url); NULL for a key kept in a file outside
    -- the database (`--audit-signing-key-file`)
    seed       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ
);

-- At most one key signs at a time.
CREATE UNIQUE INDEX audit_keys_one_active ON audit_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;

CREATE TABLE audit_checkpoints (
    -- 1, 2, …: each checkpoint's `prev_id` is the one at position - 1
    position   BIGINT PRIMARY KEY,
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    tree_size  BIGINT NOT NULL,
    root_hash  TEXT NOT NULL,
    prev_id    TEXT COLLATE "C",
    kid        TEXT COLLATE "C" NOT NULL REFERENCES audit_keys (kid),
    signature  TEXT NOT NULL
);

-- A checkpoint's leaves are, for each org, its row with the greatest
-- `checkpoint` at or below the checkpoint's position: a checkpoint stores
-- only the heads that moved since the one before, so the table grows with
-- changes, not with orgs × checkpoints.
CREATE TABLE checkpoint_leaves (
    org_id     TEXT COLLATE "C" NOT NULL,
    checkpoint BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (org_id, checkpoint)
);

-- What each checkpoint stored of itself, for `orgd audit verify-checkpoints`.
CREATE INDEX checkpoint_leaves_checkpoint ON checkpoint_leaves (checkpoint);

-- What pruning left of a chain (`audit.retention_days`): its last removed
-- event, signed; verification starts from it.
CREATE TABLE audit_anchors (
    org_id    TEXT COLLATE "C" PRIMARY KEY,
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    pruned_at TIMESTAMPTZ NOT NULL,
    kid       TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- What was signed is not rewritten through orgd. (A superuser can still
-- drop these; the signatures are what make such an edit visible.)
CREATE FUNCTION checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'checkpoints are append-only';
END;
$$;

CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION checkpoints_append_only();

CREATE TRIGGER checkpoint_leaves_append_only BEFORE UPDATE ON checkpoint_leaves
    FOR EACH ROW EXECUTE FUNCTION checkpoints_append_only();
