//! Server configuration: one typed struct, from flags with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Naano reference server: tracking links, click sessions, company inference and the
/// signup webhook. Runs on an embedded SQLite file by default; nothing else to install.
#[derive(Debug, Clone, Parser)]
#[command(name = "naano-server", version, about, long_about = None)]
pub struct Config {
    /// Database to use: a SQLite file path or `sqlite://PATH` URL. Created and migrated at
    /// start (WAL journal).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://naano.db")]
    pub database_url: String,

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

    /// The base of the tracking URLs, without a trailing slash.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}
