-- Pruning walks the access log in write order (gid), so no index on time is
-- needed; every index is paid for by every insert.
DROP INDEX IF EXISTS access_log_time;
