//! `naano-bench backends`: the webhook and the redirect on SQLite (one process) and on
//! PostgreSQL with one and with two replicas behind the load generator, which spreads
//! its connections over the replicas as a load balancer would.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request};
use tokio::process::{Child, Command};

use crate::load::{self, LoadResult, Target};

/// One configuration's results.
struct Row {
    name: String,
    redirect: LoadResult,
    webhook: LoadResult,
}

async fn create_database(
    admin_url: &str,
    name: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(name);
    Ok(url.to_string())
}

async fn start(
    server_bin: &Path,
    database_url: &str,
) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let mut cmd = Command::new(server_bin);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--asn-index",
        "none",
        "--database-url",
        database_url,
    ])
    .env("NAANO_ADMIN_TOKEN", "bench")
    .env("RUST_LOG", "warn");
    crate::spawn_and_wait(cmd).await
}

async fn measure(
    name: String,
    addrs: &[String],
    phase: Duration,
    connections: usize,
) -> Result<Row, Box<dyn std::error::Error>> {
    crate::create_link(&addrs[0], "bench", "https://saas.example/").await?;
    let warmup = Duration::from_secs(1);
    let host = addrs[0].clone();
    let redirect_target = Target::spread(addrs, move |i: usize| {
        // Visitors from many networks, as in real traffic: the signups then teach many
        // different networks instead of all contending for one learned row.
        let ip = crate::public_ip(i);
        Request::builder()
            .method(Method::GET)
            .uri("/c/bench")
            .header("host", host.clone())
            .header("x-forwarded-for", ip.to_string())
            .body(Full::new(Bytes::new()))
    });
    let (redirect, sessions) =
        load::measure_collecting_sessions(redirect_target, connections, warmup, phase).await?;
    let sessions = Arc::new(sessions);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let host = addrs[0].clone();
    let webhook_target = Target::spread(addrs, move |i| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/track/signup")
            .header("host", host.clone())
            .header("content-type", "application/json")
            .body(Full::new(crate::signup_body(
                &sessions[i % sessions.len()],
                i,
            )))
    });
    let webhook = load::measure(webhook_target, connections, warmup, phase).await?;
    Ok(Row {
        name,
        redirect,
        webhook,
    })
}

/// Runs the three configurations and prints one table.
pub async fn run(
    server_bin: &Path,
    pg_admin_url: &str,
    phase: Duration,
    connections: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();

    eprintln!("SQLite, one process ...");
    let sqlite = dir.path().join("bench.db");
    let (_one, addr) = start(server_bin, &sqlite.to_string_lossy()).await?;
    rows.push(measure("SQLite, 1 process".into(), &[addr], phase, connections).await?);
    drop(_one);

    for replicas in [1usize, 2] {
        eprintln!("PostgreSQL, {replicas} replica(s) ...");
        let url = create_database(pg_admin_url, &format!("naano_bench_{replicas}")).await?;
        let mut children = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..replicas {
            let (child, addr) = start(server_bin, &url).await?;
            children.push(child);
            addrs.push(addr);
        }
        rows.push(
            measure(
                format!("PostgreSQL, {replicas} replica(s)"),
                &addrs,
                phase,
                connections,
            )
            .await?,
        );
    }

    println!(
        "| backend | redirect req/s | redirect p99 | webhook req/s | webhook p99 | non-2xx/3xx |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.0} | {:.2} ms | {} |",
            r.name,
            r.redirect.rps(),
            r.redirect.percentile_ms(99.0),
            r.webhook.rps(),
            r.webhook.percentile_ms(99.0),
            r.redirect.errors + r.webhook.errors
        );
    }
    println!(
        "\n{} s per phase after 1 s warm-up, {connections} keep-alive connections spread over the replicas, one load-generator thread.",
        phase.as_secs()
    );
    Ok(())
}
