//! `cargo run -p naano-example-axum` (with a naano-server running; NAANO_BASE_URL points at it,
//! default http://127.0.0.1:8080) then open http://127.0.0.1:3000.

use naano::Client;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().init();
    let base = std::env::var("NAANO_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let naano = Client::builder().base_url(base).build();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("example app on http://{}", listener.local_addr()?);
    axum::serve(listener, naano_example_axum::app(naano.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Deliver what is still queued before exiting.
    naano.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
