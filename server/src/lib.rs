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
use std::sync::Arc;

use ipnet::IpNet;
use tokio::net::TcpListener;

pub use config::Config;
pub use routes::app;
pub use state::AppState;

use inference::enrichment::Enrichment;
use inference::ip_table::{IpCompanyTable, IpTableError};
use inference::{CompanyProvider, ProviderChain};
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
    IpTable(#[from] IpTableError),
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
        let chain = Arc::new(provider_chain(&config)?);
        let (store, writer_done) = Store::open(&config.database_url, config.max_batch).await?;
        let (enrichment, enrichment_task) =
            Enrichment::start(store.clone(), Arc::clone(&chain), config.external_inference);
        if config.demo && config.admin_token.is_none() {
            config.admin_token = Some(demo_token());
        }
        let public_base = config.public_base(addr);
        let state = AppState::new(config, store, enrichment, public_base);
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

fn provider_chain(config: &Config) -> Result<ProviderChain, ServerError> {
    let mut providers: Vec<Box<dyn CompanyProvider>> = Vec::new();
    if let Some(path) = &config.ip_companies {
        let table = IpCompanyTable::load(path)?;
        tracing::info!(networks = table.len(), path = %path.display(), "loaded IP-to-company table");
        providers.push(Box::new(table));
    }
    if config.demo {
        let mut table = IpCompanyTable::default();
        for net in ["127.0.0.0/8", "::1/128"] {
            if let Ok(net) = net.parse::<IpNet>() {
                table.insert_network(net, demo::DEMO_COMPANY, Some(demo::DEMO_DOMAIN), 0.9);
            }
        }
        providers.push(Box::new(table));
    }
    Ok(ProviderChain::new(providers))
}

fn demo_token() -> String {
    naano_core::new_session_id()
        .map(|id| format!("demo_{}", &id[id.len() - 22..]))
        .unwrap_or_else(|_| "demo-token".to_owned())
}
