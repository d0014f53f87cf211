//! `naano-server` binary: parse the configuration, start, serve until SIGINT/SIGTERM.

use clap::Parser;
use naano_server::config::{Command, LogFormat};
use naano_server::{Config, Server};
use tracing_subscriber::EnvFilter;

// Every request allocates a few dozen small strings and buffers on one thread and frees
// many of them on another (the SQLite writer): glibc's malloc spent ~10% of the
// redirect's CPU there (arena locks, consolidation); mimalloc's thread-local free lists
// make those cheap. Set in the binary only: the library leaves the choice to its host.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    init_logging(config.log_format);
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "naano-server stopped");
            eprintln!("naano-server: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), naano_server::ServerError> {
    if let Some(Command::ImportAsn { source }) = &config.command {
        let done = naano_server::import_asn(&config, source)?;
        println!(
            "imported {} IPv4 and {} IPv6 ranges of {} organisations ({} classified as businesses) in {} ms into {}",
            done.v4,
            done.v6,
            done.orgs,
            done.businesses,
            done.elapsed.as_millis(),
            config.asn_index.display()
        );
        return Ok(());
    }
    let server = Server::start(config, None).await?;
    let state = server.state();
    if let Some(addr) = server.local_addr() {
        // Scripts and tests read this line to find a port chosen with `--listen …:0`.
        println!("naano-server listening on http://{addr}");
    }
    if state.config.demo {
        let token = state.config.admin_token.clone().unwrap_or_default();
        println!(
            "{}",
            naano_server::demo::instructions(&state.public_base, &token)
        );
    }
    server.serve(shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
