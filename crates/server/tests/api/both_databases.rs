// The HTTP suite's test files that run on both databases: `include!`d into
// an inline `mod both` by `api/main.rs` (SQLite) and by `api_postgres/main.rs`
// (PostgreSQL), so a file listed here runs on both by construction. The
// paths are relative to `tests/<binary>/`. A file of `tests/api/` that
// is not listed here must be named, with its reason, in `api/main.rs`'s
// SQLite-only list (`files::every_test_file_runs_on_both_databases_or_says_why`
// checks).

#[path = "../api/access_log.rs"]
mod access_log;
#[path = "../api/api_keys.rs"]
mod api_keys;
#[path = "../api/audit.rs"]
mod audit;
#[path = "../api/audit_export.rs"]
mod audit_export;
#[path = "../api/audit_retention.rs"]
mod audit_retention;
#[path = "../api/audit_tamper.rs"]
mod audit_tamper;
#[path = "../api/cache.rs"]
mod cache;
#[path = "../api/checkpoints.rs"]
mod checkpoints;
#[path = "../api/cli.rs"]
mod cli;
#[path = "../api/configs.rs"]
mod configs;
#[path = "../api/console.rs"]
mod console;
#[path = "../api/consumption.rs"]
mod consumption;
#[path = "../api/contract.rs"]
mod contract;
#[path = "../api/conventions.rs"]
mod conventions;
#[path = "../api/crash.rs"]
mod crash;
#[path = "../api/customizations.rs"]
mod customizations;
#[path = "../api/disconnects.rs"]
mod disconnects;
#[path = "../api/edges.rs"]
mod edges;
#[path = "../api/events.rs"]
mod events;
#[path = "../api/first_hour.rs"]
mod first_hour;
#[path = "../api/limits.rs"]
mod limits;
#[path = "../api/matrix/mod.rs"]
mod matrix;
#[path = "../api/operator_cli.rs"]
mod operator_cli;
#[path = "../api/orgs.rs"]
mod orgs;
#[path = "../api/rate_limits.rs"]
mod rate_limits;
#[path = "../api/secrets/mod.rs"]
mod secrets;
#[path = "../api/security.rs"]
mod security;
#[path = "../api/tags.rs"]
mod tags;
#[path = "../api/webhooks/mod.rs"]
mod webhooks;
