//! `naano-server`: the reference Naano server.
//!
//! [`Server::start`] opens and migrates the database, loads the inference providers and
//! starts the background tasks; [`Server::serve`] answers HTTP until its shutdown future
//! resolves, lets in-flight requests finish and commits every queued write. Tests bind
//! `127.0.0.1:0` and pass the listener in to get the real application on a real socket.

pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod inference;
pub mod routes;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::net::TcpListener;

pub use config::Config;
pub use routes::app;
pub use state::AppState;

use inference::asn::import::ImportError;
use inference::asn::{AsnIndex, AsnIndexError, AsnProvider};
use inference::csv_source::CsvError;
use inference::enrichment::{Enrichment, EnrichmentSettings};
use inference::http::{HttpProvider, HttpProviderConfig, HttpProviderError};
use inference::ip_table::IpCompanyTable;
use inference::learned::LearnedNetworks;
use inference::{CompanyInference, ProviderChain};
use naano_core::circuit::BreakerConfig;
use store::{OpenError, Store};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The IP-to-company table is unreadable or malformed.
    #[error("--ip-companies: {0}")]
    IpTable(CsvError),
    /// The ASN index is unreadable.
    #[error("--asn-index: {0}")]
    AsnIndex(#[from] AsnIndexError),
    /// The ASN override file is unreadable or malformed.
    #[error("--asn-overrides: {0}")]
    AsnOverrides(CsvError),
    /// The ASN CSVs could not be imported.
    #[error("import-asn: {0}")]
    AsnImport(#[from] ImportError),
    /// The external enrichment settings are wrong.
    #[error(transparent)]
    Enrich(#[from] HttpProviderError),
    /// Seeding the demo failed.
    #[error("cannot seed the demo: {0}")]
    Demo(String),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// A started server, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
    writer_done: tokio::sync::oneshot::Receiver<()>,
    enrichment_task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens the database, loads providers and binds (unless `listener` is given).
    pub async fn start(
        mut config: Config,
        listener: Option<TcpListener>,
    ) -> Result<Self, ServerError> {
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?,
        };
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let (store, writer_done) = Store::open(
            &config.database_url,
            config.sqlite_settings(),
            config.pg_settings(),
        )
        .await?;
        let learned = Arc::new(LearnedNetworks::default());
        if let Err(err) = learned.refresh(&store, 0).await {
            tracing::warn!(error = %err, "cannot load learned networks yet; the worker retries");
        }
        let chain = Arc::new(provider_chain(&config, &learned)?);
        tracing::info!(providers = ?chain.names(), "company inference chain");
        let settings = EnrichmentSettings {
            leave_unknown_pending: config.external_inference,
            max_attempts: config.enrich_max_attempts.max(1),
            retry_base: Duration::from_millis(config.enrich_retry_base_ms.max(1)),
            concurrency: 64,
            retention: config.retention(),
            // One process owns a SQLite file; PostgreSQL's leases belong to replicas.
            release_leases_at_start: store.dialect() == store::Dialect::Sqlite,
            refresh_learned: store.dialect() == store::Dialect::Postgres,
        };
        let (enrichment, enrichment_task) = Enrichment::start(
            store.clone(),
            Arc::clone(&chain),
            Arc::clone(&learned),
            settings,
        );
        if config.demo && config.admin_token.is_none() {
            config.admin_token = Some(demo_token());
        }
        let public_base = config.public_base(addr);
        let state = AppState::new(config, store, enrichment, learned, chain, public_base);
        if state.config.demo {
            demo::seed(&state)
                .await
                .map_err(|e| ServerError::Demo(e.to_string()))?;
        }
        Ok(Self {
            listener,
            state,
            writer_done,
            enrichment_task,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The shared state (for printing the demo instructions, and for tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests, drains the
    /// enrichment queue and commits the last writes before returning.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self {
            listener,
            state,
            writer_done,
            enrichment_task,
        } = self;
        let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        // The router (and with it every handle to the queues) is gone: the background
        // tasks finish what was queued and stop.
        if let Err(err) = enrichment_task.await {
            tracing::error!(error = %err, "enrichment task failed");
        }
        if writer_done.await.is_err() {
            tracing::error!("the writer thread ended without committing its queue");
        }
        served.map_err(ServerError::Serve)
    }
}

/// Starts and serves in one call.
pub async fn run(
    config: Config,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::start(config, listener).await?.serve(shutdown).await
}

fn provider_chain(
    config: &Config,
    learned: &Arc<LearnedNetworks>,
) -> Result<ProviderChain, ServerError> {
    let mut providers: Vec<Arc<dyn CompanyInference>> = Vec::new();
    if let Some(path) = &config.ip_companies {
        let table = IpCompanyTable::load(path).map_err(ServerError::IpTable)?;
        tracing::info!(networks = table.len(), path = %path.display(), "loaded IP-to-company table");
        providers.push(Arc::new(table));
    }
    if config.demo {
        let mut table = IpCompanyTable::default();
        for net in ["127.0.0.0/8", "::1/128"] {
            if let Ok(net) = net.parse::<IpNet>() {
                table.insert_network(net, demo::DEMO_COMPANY, Some(demo::DEMO_DOMAIN), 0.9);
            }
        }
        providers.push(Arc::new(table));
    }
    providers.push(Arc::clone(learned) as Arc<dyn CompanyInference>);
    if let Some(url) = &config.enrich_url {
        providers.push(Arc::new(HttpProvider::new(HttpProviderConfig {
            url_template: url.clone(),
            token: config.enrich_token.clone(),
            timeout: Duration::from_millis(config.enrich_timeout_ms.max(1)),
            rate_per_second: NonZeroU32::new(config.enrich_rate).unwrap_or(NonZeroU32::MIN),
            breaker: BreakerConfig {
                failure_threshold: config.enrich_breaker_failures.max(1),
                open_for: Duration::from_secs(config.enrich_breaker_open_secs),
            },
        })?));
    }
    if let Some(path) = config.asn_index_path() {
        if path.exists() {
            let started = Instant::now();
            let index = AsnIndex::load(path)?;
            let overrides = match &config.asn_overrides {
                Some(file) => {
                    inference::asn::load_overrides(file).map_err(ServerError::AsnOverrides)?
                }
                None => Default::default(),
            };
            let (v4, v6, orgs) = index.counts();
            tracing::info!(v4, v6, orgs, overrides = overrides.len(), path = %path.display(),
                ms = started.elapsed().as_millis() as u64, "loaded IP-to-ASN index");
            providers.push(Arc::new(AsnProvider::new(Arc::new(index), overrides)));
        } else {
            tracing::info!(path = %path.display(),
                "no IP-to-ASN index; run `naano-server import-asn` to infer companies from public data");
        }
    }
    Ok(ProviderChain::new(providers))
}

/// What `import-asn` did.
#[derive(Debug, Clone, Copy)]
pub struct AsnImport {
    /// IPv4 ranges indexed.
    pub v4: usize,
    /// IPv6 ranges indexed.
    pub v6: usize,
    /// Organisations.
    pub orgs: usize,
    /// Organisations classified as businesses.
    pub businesses: usize,
    /// Time to parse and build.
    pub elapsed: Duration,
}

/// `naano-server import-asn SOURCE`: builds the index and writes it to `--asn-index`.
pub fn import_asn(config: &Config, source: &Path) -> Result<AsnImport, ServerError> {
    let started = Instant::now();
    let index = inference::asn::import::import(source)?;
    let elapsed = started.elapsed();
    let path = config
        .asn_index_path()
        .unwrap_or_else(|| Path::new("naano-asn.idx"));
    index.save(path)?;
    let (v4, v6, orgs) = index.counts();
    let businesses = index
        .orgs()
        .iter()
        .filter(|o| o.kind.is_attributable())
        .count();
    Ok(AsnImport {
        v4,
        v6,
        orgs,
        businesses,
        elapsed,
    })
}

fn demo_token() -> String {
    naano_core::new_session_id()
        .map(|id| format!("demo_{}", &id[id.len() - 22..]))
        .unwrap_or_else(|_| "demo-token".to_owned())
}
