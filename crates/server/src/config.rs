//! Configuration of `orgd serve`. Every flag also reads `ORGD_<NAME>`.

use std::fmt;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use orgd_core::ids::OrgId;
use orgd_core::service::{CacheTtl, DEFAULT_MAX_DEPTH};
use orgd_core::store;
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

/// Where `orgd serve` listens: `HOST:PORT` (`127.0.0.1:8080`,
/// `localhost:8081`, `[::1]:8081`), or `:PORT` for every IPv4 interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    host: String,
    port: u16,
}

impl ListenAddr {
    /// Binds the first address `host` resolves to that can be bound.
    pub async fn bind(&self) -> std::io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind((self.host.as_str(), self.port)).await
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let why = || {
            format!(
                "{s:?} is not HOST:PORT (e.g. 127.0.0.1:8080, localhost:8081, [::1]:8081 or :8081)"
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(why)?;
        let port: u16 = port.parse().map_err(|_| why())?;
        let host = if host.is_empty() {
            "0.0.0.0"
        } else if let Some(v6) = host.strip_prefix('[') {
            let v6 = v6.strip_suffix(']').ok_or_else(why)?;
            v6.parse::<std::net::Ipv6Addr>().map_err(|_| why())?;
            v6
        } else if host.contains(':') || host.contains(char::is_whitespace) {
            // An IPv6 address without brackets cannot be told from its port.
            return Err(why());
        } else {
            host
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// The defaults of the flags below, as the flags take them; each is written
/// once, where it belongs (the stores' in `orgd_core::store`, the tree's
/// depth in `orgd_core::service`), and [`Config::new`] reads the same.
pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = store::DEFAULT_MAX_CONNECTIONS;
pub const DEFAULT_DB_ACQUIRE_TIMEOUT_SECS: u64 = store::DEFAULT_WAIT.as_secs();
pub const DEFAULT_DB_STATEMENT_TIMEOUT_SECS: u64 = store::DEFAULT_STATEMENT_TIMEOUT.as_secs();
pub const DEFAULT_ROOT_ID: &str = "root";
pub const DEFAULT_EVENT_RETENTION_DAYS: u32 = orgd_core::events::DEFAULT_RETENTION_DAYS;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_KEEP_ALIVE_TIMEOUT_SECS: u64 = 75;
pub const DEFAULT_ACCESS_LOG_RETENTION_DAYS: u32 = 90;
pub const DEFAULT_WEBHOOK_WORKERS: usize = 8;
pub const DEFAULT_CHECKPOINT_INTERVAL_SECS: u64 = 60;

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database: `sqlite://PATH` (e.g. `sqlite://orgd.db`, `sqlite:///var/lib/orgd/orgd.db`;
    /// created if missing) or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
    /// (PostgreSQL 14 or newer).
    #[arg(
        long,
        env = "ORGD_DATABASE_URL",
        default_value = "sqlite://orgd.db",
        value_name = "URL"
    )]
    pub database_url: DatabaseUrl,
    /// PostgreSQL: connections this node keeps at most (1–1000).
    #[arg(long, env = "ORGD_DB_MAX_CONNECTIONS", default_value_t = DEFAULT_DB_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N")]
    pub db_max_connections: u32,
    /// Seconds a request waits for a database connection (or, on SQLite, a
    /// lock) before it is answered 503.
    #[arg(long, env = "ORGD_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = DEFAULT_DB_ACQUIRE_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=600), value_name = "SECS")]
    pub db_acquire_timeout_secs: u64,
    /// PostgreSQL: seconds after which the server cancels a statement.
    #[arg(long, env = "ORGD_DB_STATEMENT_TIMEOUT_SECS", default_value_t = DEFAULT_DB_STATEMENT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECS")]
    pub db_statement_timeout_secs: u64,
}

impl DatabaseArgs {
    /// The defaults, for `url`.
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            database_url: url,
            db_max_connections: DEFAULT_DB_MAX_CONNECTIONS,
            db_acquire_timeout_secs: DEFAULT_DB_ACQUIRE_TIMEOUT_SECS,
            db_statement_timeout_secs: DEFAULT_DB_STATEMENT_TIMEOUT_SECS,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on: `HOST:PORT` (`127.0.0.1:8080`, `localhost:8081`,
    /// `[::1]:8081`) or `:PORT` for every IPv4 interface.
    #[arg(
        long,
        env = "ORGD_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: ListenAddr,
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Id of the root organization made on first start (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`).
    #[arg(long, env = "ORGD_ROOT_ID", default_value = DEFAULT_ROOT_ID, value_parser = parse_org_id, value_name = "ID")]
    pub root_id: OrgId,
    /// Deepest level of the organization tree (the root is level 1; 1–64).
    #[arg(long, env = "ORGD_MAX_DEPTH", default_value_t = DEFAULT_MAX_DEPTH, value_parser = clap::value_parser!(i64).range(1..=64), value_name = "N")]
    pub max_depth: i64,
    /// Seconds a request may take before it is answered 503.
    #[arg(long, env = "ORGD_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=600), value_name = "SECS")]
    pub request_timeout_secs: u64,
    /// Seconds a client has to send a request's head (request line and
    /// headers), from when its connection opens or the request's first byte
    /// arrives; a slower connection is closed.
    #[arg(long, env = "ORGD_HEADER_READ_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=600), value_name = "SECS")]
    pub header_read_timeout_secs: u64,
    /// Seconds an idle connection is kept open for a next request. Keep it
    /// above the idle timeout of a proxy or load balancer in front (nginx's
    /// and AWS's keep upstream connections 60 s), so that it never sends a
    /// request down a connection orgd is closing.
    #[arg(long, env = "ORGD_KEEP_ALIVE_TIMEOUT_SECS", default_value_t = DEFAULT_KEEP_ALIVE_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECS")]
    pub keep_alive_timeout_secs: u64,
    /// Secret of the root key made on first start of a new database (32–256
    /// printable ASCII characters, no spaces). Ignored, with a warning, once
    /// the database has its root key. Prefer the environment variable:
    /// command lines are visible to others.
    // Read as given and checked by the CLI, so that a bad value is refused
    // without being echoed (clap's own error would print it).
    #[arg(long, env = "ORGD_BOOTSTRAP_KEY", hide_env_values = true, value_parser = secret_arg, value_name = "SECRET")]
    pub bootstrap_key: Option<SecretString>,
    /// Record every request naming an org in that org's access log.
    #[arg(long, env = "ORGD_ACCESS_LOG", value_enum, default_value_t = Switch::On)]
    pub access_log: Switch,
    /// Days access log entries are kept; older ones are pruned in the background.
    #[arg(long, env = "ORGD_ACCESS_LOG_RETENTION_DAYS", default_value_t = DEFAULT_ACCESS_LOG_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500), value_name = "DAYS")]
    pub access_log_retention_days: u32,
    /// Days events are kept for the feed and for replay; older ones are
    /// pruned in the background.
    #[arg(long, env = "ORGD_EVENT_RETENTION_DAYS", default_value_t = DEFAULT_EVENT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500), value_name = "DAYS")]
    pub event_retention_days: u32,
    /// Requests a minute each API key may make unless it has a limit of its
    /// own (0: no limit). Buckets are per node. Keys of the root org are
    /// exempt unless `--rate-limit-root` is given.
    #[arg(long, env = "ORGD_RATE_LIMIT_PER_MINUTE", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000), value_name = "N")]
    pub rate_limit_per_minute: u32,
    /// Apply `--rate-limit-per-minute` to the root org's keys too (by default
    /// they are exempt, so the operator cannot be locked out).
    #[arg(long, env = "ORGD_RATE_LIMIT_ROOT")]
    pub rate_limit_root: bool,
    /// Proxies whose `X-Forwarded-For` is believed: IPs or CIDRs,
    /// comma-separated (e.g. `10.0.0.0/8,192.0.2.7`). From any other peer,
    /// the socket address is the client's.
    #[arg(long, env = "ORGD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net, value_name = "NETS")]
    pub trusted_proxies: Vec<IpNet>,
    /// Milliseconds a node serves an org from memory without hearing of a
    /// change. Changes made through orgd reach every node's cache when they
    /// commit (on PostgreSQL through notifications); this bounds how long a
    /// missed notification, or a write behind orgd's back, stays unseen.
    #[arg(long, env = "ORGD_ORG_CACHE_TTL_MS", default_value_t = millis(CacheTtl::DEFAULT.orgs), value_parser = clap::value_parser!(u64).range(1..=86_400_000), value_name = "MS")]
    pub org_cache_ttl_ms: u64,
    /// The same for resolved API keys (kept short: a missed notification
    /// must not keep a revoked key working for long).
    #[arg(long, env = "ORGD_KEY_CACHE_TTL_MS", default_value_t = millis(CacheTtl::DEFAULT.keys), value_parser = clap::value_parser!(u64).range(1..=86_400_000), value_name = "MS")]
    pub key_cache_ttl_ms: u64,
    /// Webhook deliveries this node attempts at once (0: this node delivers
    /// none; other nodes sharing the database do).
    #[arg(long, env = "ORGD_WEBHOOK_WORKERS", default_value_t = DEFAULT_WEBHOOK_WORKERS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1024), value_name = "N")]
    pub webhook_workers: usize,
    /// Let webhooks target loopback, private, link-local and multicast
    /// addresses. Off by default, so that an API key cannot make orgd reach
    /// into its own network (SSRF); for tests and private networks.
    #[arg(long, env = "ORGD_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: bool,
    /// How often the audit trail's signed checkpoint is made, when anything
    /// changed (and once more at a clean shutdown).
    #[arg(long, env = "ORGD_CHECKPOINT_INTERVAL_SECS", default_value_t = DEFAULT_CHECKPOINT_INTERVAL_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400), value_name = "SECS")]
    pub checkpoint_interval_secs: u64,
    /// A file holding the Ed25519 key that signs checkpoints (its 32-byte
    /// seed: raw, hex or base64), kept out of the database. Without it, orgd
    /// makes a key at first start and keeps it in the database.
    #[arg(long, env = "ORGD_AUDIT_SIGNING_KEY_FILE", value_name = "FILE")]
    pub audit_signing_key_file: Option<std::path::PathBuf>,
}

/// A default duration as a flag's default value.
const fn millis(d: Duration) -> u64 {
    // No default is anywhere near u64::MAX milliseconds.
    d.as_millis() as u64
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

fn secret_arg(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

/// Everything [`crate::Application::build`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: ListenAddr,
    pub database: DatabaseArgs,
    pub root_id: OrgId,
    pub max_depth: i64,
    pub request_timeout: Duration,
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// How long an idle connection is kept for a next request.
    pub keep_alive_timeout: Duration,
    pub bootstrap_key: Option<SecretString>,
    pub access_log: bool,
    pub access_log_retention: chrono::Duration,
    pub event_retention: chrono::Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// The default per-key rate limit; `None`: none.
    pub rate_limit_per_minute: Option<u32>,
    /// Whether the default rate limit applies to the root org's keys.
    pub rate_limit_root: bool,
    pub cache_ttl: CacheTtl,
    pub webhooks: WebhookConfig,
    pub checkpoint_interval: Duration,
    pub audit_signing_key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Deliveries attempted at once on this node; 0: none.
    pub workers: usize,
    pub allow_private_targets: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WEBHOOK_WORKERS,
            allow_private_targets: false,
        }
    }
}

impl Config {
    /// Every default of `orgd serve`, listening on `listen` and storing in
    /// `database` (with its defaults).
    pub fn new(listen: ListenAddr, database: DatabaseUrl) -> Self {
        Self {
            listen,
            database: DatabaseArgs::new(database),
            root_id: OrgId::from_trusted(DEFAULT_ROOT_ID.to_owned()),
            max_depth: DEFAULT_MAX_DEPTH,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            keep_alive_timeout: Duration::from_secs(DEFAULT_KEEP_ALIVE_TIMEOUT_SECS),
            bootstrap_key: None,
            access_log: true,
            access_log_retention: chrono::Duration::days(i64::from(
                DEFAULT_ACCESS_LOG_RETENTION_DAYS,
            )),
            event_retention: chrono::Duration::days(i64::from(DEFAULT_EVENT_RETENTION_DAYS)),
            trusted_proxies: Vec::new(),
            rate_limit_per_minute: None,
            rate_limit_root: false,
            cache_ttl: CacheTtl::DEFAULT,
            webhooks: WebhookConfig::default(),
            checkpoint_interval: Duration::from_secs(DEFAULT_CHECKPOINT_INTERVAL_SECS),
            audit_signing_key_file: None,
        }
    }
}

impl From<ServeArgs> for Config {
    fn from(a: ServeArgs) -> Self {
        Self {
            listen: a.listen,
            database: a.db,
            root_id: a.root_id,
            max_depth: a.max_depth,
            request_timeout: Duration::from_secs(a.request_timeout_secs),
            header_read_timeout: Duration::from_secs(a.header_read_timeout_secs),
            keep_alive_timeout: Duration::from_secs(a.keep_alive_timeout_secs),
            bootstrap_key: a.bootstrap_key,
            access_log: a.access_log == Switch::On,
            access_log_retention: chrono::Duration::days(i64::from(a.access_log_retention_days)),
            event_retention: chrono::Duration::days(i64::from(a.event_retention_days)),
            trusted_proxies: a.trusted_proxies,
            rate_limit_per_minute: (a.rate_limit_per_minute > 0).then_some(a.rate_limit_per_minute),
            rate_limit_root: a.rate_limit_root,
            cache_ttl: CacheTtl {
                orgs: Duration::from_millis(a.org_cache_ttl_ms),
                keys: Duration::from_millis(a.key_cache_ttl_ms),
            },
            webhooks: WebhookConfig {
                workers: a.webhook_workers,
                allow_private_targets: a.webhook_allow_private_targets,
            },
            checkpoint_interval: Duration::from_secs(a.checkpoint_interval_secs),
            audit_signing_key_file: a.audit_signing_key_file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_names_brackets_and_bare_ports() {
        let ok = |s: &str| s.parse::<ListenAddr>().map(|a| a.to_string());
        assert_eq!(ok("127.0.0.1:8080").as_deref(), Ok("127.0.0.1:8080"));
        assert_eq!(ok("localhost:8081").as_deref(), Ok("localhost:8081"));
        assert_eq!(ok("[::1]:8081").as_deref(), Ok("[::1]:8081"));
        assert_eq!(ok(":8081").as_deref(), Ok("0.0.0.0:8081"));
        for bad in [
            "8080",
            "::1:8080",
            "[::1:8080",
            "[nope]:1",
            "host:",
            "host:99999",
            "",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad:?}");
        }
    }

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
