-- An export that ends at a time is held to the first checkpoint made at or
-- after it (SPEC §12).
CREATE INDEX audit_checkpoints_by_time ON audit_checkpoints (created_at);
