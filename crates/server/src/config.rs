//! Configuration of `orgd serve`. Every flag also reads `ORGD_<NAME>`.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use orgd_core::ids::OrgId;
use secrecy::SecretString;

/// A database URL whose `Debug` and `Display` hide any password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with its passwords replaced: that of `user:password@`, and
    /// `password=` / `sslpassword=` in the query.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let (location, query) = match rest.split_once('?') {
            Some((l, q)) => (l, Some(q)),
            None => (rest, None),
        };
        // The host follows the last `@`: a password may hold one.
        let location = match location.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => location.to_owned(),
            },
            None => location.to_owned(),
        };
        let Some(query) = query else {
            return format!("{scheme}://{location}");
        };
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _))
                    if k.eq_ignore_ascii_case("password")
                        || k.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        format!("{scheme}://{location}?{}", query.join("&"))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("sqlite:")
            || s.starts_with("postgres://")
            || s.starts_with("postgresql://")
        {
            Ok(Self(s.to_owned()))
        } else {
            Err("expected sqlite://PATH or postgres://…".into())
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database: `sqlite://PATH` (created if missing) or `postgres://…`
    /// (PostgreSQL 14 or newer).
    #[arg(long, env = "ORGD_DATABASE_URL", default_value = "sqlite://orgd.db")]
    pub database_url: DatabaseUrl,
    /// PostgreSQL: connections this node keeps at most.
    #[arg(long, env = "ORGD_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// How long a request waits for a database connection (or, on SQLite, a
    /// lock) before it is answered 503.
    #[arg(long, env = "ORGD_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub db_acquire_timeout_secs: u64,
    /// PostgreSQL: the server cancels any statement running longer than this.
    #[arg(long, env = "ORGD_DB_STATEMENT_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub db_statement_timeout_secs: u64,
}

impl DatabaseArgs {
    /// The defaults, for `url`.
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            database_url: url,
            db_max_connections: 16,
            db_acquire_timeout_secs: 5,
            db_statement_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ORGD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Id of the root organization made on first start.
    #[arg(long, env = "ORGD_ROOT_ID", default_value = "root", value_parser = parse_org_id)]
    pub root_id: OrgId,
    /// Deepest level of the organization tree (the root is level 1).
    #[arg(long, env = "ORGD_MAX_DEPTH", default_value_t = 16, value_parser = clap::value_parser!(i64).range(1..=64))]
    pub max_depth: i64,
    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "ORGD_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout_secs: u64,
    /// Secret of the root key made on first start (at least 32 characters).
    /// Prefer the environment variable: command lines are visible to others.
    #[arg(long, env = "ORGD_BOOTSTRAP_KEY", hide_env_values = true, value_parser = parse_bootstrap_key)]
    pub bootstrap_key: Option<SecretString>,
    /// Record every request naming an org in that org's access log.
    #[arg(long, env = "ORGD_ACCESS_LOG", value_enum, default_value_t = Switch::On)]
    pub access_log: Switch,
    /// Days access log entries are kept; older ones are pruned in the background.
    #[arg(long, env = "ORGD_ACCESS_LOG_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub access_log_retention_days: u32,
    /// Requests a minute each API key may make unless it has a limit of its
    /// own (0: no limit). Buckets are per node.
    #[arg(long, env = "ORGD_RATE_LIMIT_PER_MINUTE", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_per_minute: u32,
    /// Proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` is
    /// believed. From any other peer, the socket address is the client's.
    #[arg(long, env = "ORGD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
}

fn parse_org_id(s: &str) -> Result<OrgId, String> {
    OrgId::parse(s).map_err(str::to_owned)
}

fn parse_bootstrap_key(s: &str) -> Result<SecretString, String> {
    if orgd_core::keys::is_well_formed_secret(s) {
        Ok(SecretString::from(s.to_owned()))
    } else {
        Err("must be 32 to 256 printable ASCII characters without spaces".into())
    }
}

/// Everything [`crate::Application::build`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseArgs,
    pub root_id: OrgId,
    pub max_depth: i64,
    pub request_timeout: Duration,
    pub bootstrap_key: Option<SecretString>,
    pub access_log: bool,
    pub access_log_retention: chrono::Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// The default per-key rate limit; `None`: none.
    pub rate_limit_per_minute: Option<u32>,
}

impl From<ServeArgs> for Config {
    fn from(a: ServeArgs) -> Self {
        Self {
            listen: a.listen,
            database: a.db,
            root_id: a.root_id,
            max_depth: a.max_depth,
            request_timeout: Duration::from_secs(a.request_timeout_secs),
            bootstrap_key: a.bootstrap_key,
            access_log: a.access_log == Switch::On,
            access_log_retention: chrono::Duration::days(i64::from(a.access_log_retention_days)),
            trusted_proxies: a.trusted_proxies,
            rate_limit_per_minute: (a.rate_limit_per_minute > 0).then_some(a.rate_limit_per_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_its_password() {
        let u = DatabaseUrl::new("postgres://orgd:hunter2@db:5432/orgd");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert!(!u.to_string().contains("hunter2"));
        assert_eq!(u.redacted(), "postgres://orgd:***@db:5432/orgd");
        assert_eq!(
            DatabaseUrl::new("sqlite://orgd.db").redacted(),
            "sqlite://orgd.db"
        );
        let u =
            DatabaseUrl::new("postgres://orgd:hun@ter2@db/orgd?sslmode=require&password=s3cret");
        assert_eq!(
            u.redacted(),
            "postgres://orgd:***@db/orgd?sslmode=require&password=***"
        );
        assert_eq!(
            DatabaseUrl::new("sqlite:///tmp/a.db?mode=rwc").redacted(),
            "sqlite:///tmp/a.db?mode=rwc"
        );
    }
}
