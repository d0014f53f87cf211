//! Server configuration: one typed struct, from flags with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Naano reference server: tracking links, click sessions, company inference and the
/// signup webhook. Runs on an embedded SQLite file by default; nothing else to install.
#[derive(Debug, Clone, Parser)]
#[command(name = "naano-server", version, about, long_about = None)]
pub struct Config {
    /// A maintenance command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Database to use: a SQLite file path or `sqlite://PATH` URL (created and migrated
    /// at start, WAL journal), or `postgres://USER:PASSWORD@HOST/DB` for PostgreSQL
    /// (migrated at start; several replicas may share it).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://naano.db")]
    pub database_url: String,

    /// PostgreSQL: connections per server process.
    #[arg(long, env = "NAANO_PG_MAX_CONNECTIONS", default_value_t = 16)]
    pub pg_max_connections: u32,

    /// PostgreSQL: longest a statement may run (milliseconds) before it is cancelled.
    #[arg(long, env = "NAANO_PG_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub pg_statement_timeout_ms: u64,

    /// PostgreSQL: longest a request waits for a connection (milliseconds) before it is
    /// answered 503 `unavailable` (for example while the database restarts).
    #[arg(long, env = "NAANO_PG_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    pub pg_acquire_timeout_ms: u64,

    /// Address and port to listen on. Use port 0 to let the OS pick one (the chosen address
    /// is printed at start).
    #[arg(long, env = "NAANO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Public base URL of this server, used to build the tracking URLs it hands out (e.g.
    /// `https://go.example.com`). Defaults to `http://<listen address>`.
    #[arg(long, env = "NAANO_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Bearer token for `/api/admin/*`. The admin API is disabled when it is not set.
    #[arg(long, env = "NAANO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Take the client IP from the right-most `X-Forwarded-For` entry instead of the
    /// socket. Set it only when exactly one trusted reverse proxy sits in front.
    #[arg(long, env = "NAANO_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// CSV file `cidr,company,domain,confidence` (IPv4 and IPv6 networks) used to infer the
    /// company behind a click's IP. A header line is allowed; the most specific network wins.
    #[arg(long, env = "NAANO_IP_COMPANIES")]
    pub ip_companies: Option<PathBuf>,

    /// Binary index of public IP-to-ASN data, written by `naano-server import-asn` and
    /// loaded at start (skipped, with a log line, while it does not exist). `none`
    /// disables the ASN provider.
    #[arg(
        long,
        env = "NAANO_ASN_INDEX",
        default_value = "naano-asn.idx",
        global = true
    )]
    pub asn_index: PathBuf,

    /// CSV `asn,kind[,company[,domain]]` correcting the classification of ASN holders
    /// (kind: business, isp, hosting, education, government or unknown).
    #[arg(long, env = "NAANO_ASN_OVERRIDES")]
    pub asn_overrides: Option<PathBuf>,

    /// External enrichment service: a URL with `{ip}` where the address goes (e.g.
    /// `https://ipinfo.io/{ip}/json`). Asked after the IP table and learned networks,
    /// before public ASN data.
    #[arg(long, env = "NAANO_ENRICH_URL")]
    pub enrich_url: Option<String>,

    /// Token for the enrichment service, sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "NAANO_ENRICH_TOKEN", hide_env_values = true)]
    pub enrich_token: Option<String>,

    /// Timeout of one enrichment request, in milliseconds.
    #[arg(long, env = "NAANO_ENRICH_TIMEOUT_MS", default_value_t = 2000)]
    pub enrich_timeout_ms: u64,

    /// Most enrichment requests per second; jobs over the limit wait their turn.
    #[arg(long, env = "NAANO_ENRICH_RATE", default_value_t = 10)]
    pub enrich_rate: u32,

    /// Consecutive enrichment failures that open the circuit breaker.
    #[arg(long, env = "NAANO_ENRICH_BREAKER_FAILURES", default_value_t = 5)]
    pub enrich_breaker_failures: u32,

    /// Seconds the breaker stays open before one trial request.
    #[arg(long, env = "NAANO_ENRICH_BREAKER_OPEN_SECS", default_value_t = 30)]
    pub enrich_breaker_open_secs: u64,

    /// Attempts of a click's enrichment before a failing provider is skipped (the next
    /// provider in the chain then decides).
    #[arg(long, env = "NAANO_ENRICH_MAX_ATTEMPTS", default_value_t = 5)]
    pub enrich_max_attempts: u32,

    /// First retry delay of a failed enrichment, in milliseconds; doubled per attempt.
    #[arg(long, env = "NAANO_ENRICH_RETRY_BASE_MS", default_value_t = 1000)]
    pub enrich_retry_base_ms: u64,

    /// Days click details (IP network, user agent, referrer) are kept; the clicks
    /// themselves and their companies stay for the counts. 0 keeps them forever. Raw
    /// IPs never wait for this: they are reduced to their /24 or /48 as soon as
    /// enrichment finishes.
    #[arg(long, env = "NAANO_RETENTION_DAYS", default_value_t = 395)]
    pub retention_days: u32,

    /// Leave clicks that no local provider recognises as *pending*, for an external
    /// enrichment pipeline to settle with `PUT /api/admin/sessions/{id}/inference`, instead
    /// of finishing them with "no company".
    #[arg(long, env = "NAANO_EXTERNAL_INFERENCE")]
    pub external_inference: bool,

    /// Seconds a client is told to wait (`Retry-After`) when a signup arrives before its
    /// session's company inference has finished.
    #[arg(long, env = "NAANO_PENDING_RETRY_AFTER", default_value_t = 2)]
    pub pending_retry_after: u32,

    /// Seed a demo creator and tracking link, infer loopback clicks as "Acme Corporation",
    /// and print a ready-to-click URL and the webhook call to try.
    #[arg(long)]
    pub demo: bool,

    /// Log format on stderr.
    #[arg(long, env = "NAANO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Most writes committed together in one SQLite transaction (group commit).
    #[arg(long, env = "NAANO_MAX_BATCH", default_value_t = 256, hide = true)]
    pub max_batch: usize,

    /// Longest SQLite's writer lets acknowledged clicks gather before committing them,
    /// in ms, while no other write waits (tests set it high to hold clicks in the click
    /// journal).
    #[arg(long, env = "NAANO_CLICK_LINGER_MS", default_value_t = 2, hide = true)]
    pub click_linger_ms: u64,
}

/// Maintenance commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Import the `@ip-location-db/asn` CSVs (asn-ipv4.csv, asn-ipv6.csv: fetch them
    /// with `npm pack @ip-location-db/asn` and untar) into the index at `--asn-index`.
    ImportAsn {
        /// A directory holding the CSVs (or their `package/` folder), or one CSV file.
        source: PathBuf,
    },
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

impl Config {
    /// A configuration with every default, for embedding and tests.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::parse_from(["naano-server"]);
        config.database_url = database_url.into();
        config
    }

    /// The ASN index path, unless disabled with `none` (or an empty value).
    pub fn asn_index_path(&self) -> Option<&std::path::Path> {
        let raw = self.asn_index.as_os_str();
        (!raw.is_empty() && raw != "none").then_some(self.asn_index.as_path())
    }

    /// The SQLite writer's settings.
    pub fn sqlite_settings(&self) -> crate::store::SqliteSettings {
        crate::store::SqliteSettings {
            max_batch: self.max_batch,
            click_linger: std::time::Duration::from_millis(self.click_linger_ms),
        }
    }

    /// The PostgreSQL pool settings.
    pub fn pg_settings(&self) -> crate::store::PgSettings {
        crate::store::PgSettings {
            max_connections: self.pg_max_connections,
            statement_timeout: std::time::Duration::from_millis(self.pg_statement_timeout_ms),
            acquire_timeout: std::time::Duration::from_millis(self.pg_acquire_timeout_ms),
        }
    }

    /// The retention of click details, unless kept forever.
    pub fn retention(&self) -> Option<std::time::Duration> {
        (self.retention_days > 0)
            .then(|| std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400))
    }

    /// The base of the tracking URLs, without a trailing slash.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}
