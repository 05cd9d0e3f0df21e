-- Per-key rate limits (requests a minute); NULL: the server's default.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute INTEGER;
