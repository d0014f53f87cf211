//! `naano-bench`: requests/s and latency of the Naano server's two hot endpoints, the
//! signup webhook and the tracking redirect, measured in the same run as a bare axum
//! JSON endpoint and a bare axum 302 (this machine's ceiling for any axum service).
//!
//! Everything runs on 127.0.0.1: the bench starts the bare server (itself, `bare`
//! subcommand) and a `naano-server` on a fresh SQLite file, then drives each endpoint for
//! a fixed time with a fixed number of keep-alive connections. It stops by itself.

mod backends;
mod inference;
mod load;
mod sdk;
mod writer;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::Full;
use hyper::{Method, Request};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use load::{LoadResult, Target};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark for naano-server (127.0.0.1 only)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the benchmark and print a Markdown table.
    Run {
        /// The naano-server binary to measure (build it with --release).
        #[arg(long, default_value = "target/release/naano-server")]
        server_bin: PathBuf,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 6)]
        seconds: u64,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Rounds of the four phases; each ratio is the median of the rounds' ratios.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Caller-side cost of the Rust SDK's `track_signup` and its delivery throughput.
    Sdk {
        /// The naano-server binary to deliver to (build it with --release).
        #[arg(long, default_value = "target/release/naano-server")]
        server_bin: PathBuf,
        /// Timed `track_signup` calls per case.
        #[arg(long, default_value_t = 200_000)]
        calls: usize,
        /// Signups delivered for the throughput figure.
        #[arg(long, default_value_t = 20_000)]
        delivered: usize,
    },
    /// Company inference: ASN index build/load/memory, lookups/s, and the redirect with
    /// inference off and on.
    Inference {
        /// The naano-server binary to measure (build it with --release).
        #[arg(long, default_value = "target/release/naano-server")]
        server_bin: PathBuf,
        /// The unpacked `@ip-location-db/asn` package (scripts/fetch-asn-data.sh).
        #[arg(long, default_value = "target/test-data/asn/package")]
        asn_data: PathBuf,
        /// Seconds per measured redirect phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// The webhook and the redirect on SQLite and on PostgreSQL with one and two replicas.
    Backends {
        /// The naano-server binary to measure (build it with --release).
        #[arg(long, default_value = "target/release/naano-server")]
        server_bin: PathBuf,
        /// A PostgreSQL account that may create databases (scripts/start-postgres.sh
        /// prints one).
        #[arg(long, env = "NAANO_TEST_PG_URL")]
        pg_url: String,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// The SQLite writer alone, without HTTP: clicks/s and signups/s through
    /// `Store::write`, and the writer thread's CPU time per write
    Writer {
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrent callers.
        #[arg(long, default_value_t = 64)]
        callers: usize,
    },
    /// Serve the bare endpoints (used by `run`).
    Bare,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Cmd::Bare => bare_server(),
        Cmd::Writer { seconds, callers } => {
            load_runtime()?.block_on(writer::run(Duration::from_secs(seconds), callers))
        }
        Cmd::Sdk {
            server_bin,
            calls,
            delivered,
        } => {
            // Kept alive for the whole run: the server process belongs to it.
            let rt = load_runtime()?;
            let (_server, base, sessions) =
                rt.block_on(server_with_sessions(server_bin, 20_000))?;
            // A port with nothing listening: the server-down case.
            let down = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            sdk::run(
                &format!("http://{base}"),
                &format!("http://127.0.0.1:{down}"),
                &sessions,
                calls,
                delivered,
            );
            Ok(())
        }
        Cmd::Backends {
            server_bin,
            pg_url,
            seconds,
            connections,
        } => load_runtime()?.block_on(backends::run(
            &server_bin,
            &pg_url,
            Duration::from_secs(seconds),
            connections,
        )),
        Cmd::Inference {
            server_bin,
            asn_data,
            seconds,
            connections,
        } => {
            let dir = tempfile::tempdir()?;
            let index = inference::index_costs(&asn_data, dir.path())?;
            load_runtime()?.block_on(inference::redirect_costs(
                &server_bin,
                &index,
                Duration::from_secs(seconds),
                connections,
            ))
        }
        Cmd::Run {
            server_bin,
            seconds,
            connections,
            rounds,
        } => load_runtime()?.block_on(run(
            server_bin,
            Duration::from_secs(seconds),
            connections,
            rounds.max(1),
        )),
    }
}

/// A bare axum server: `POST /json` parses the body and answers JSON; `GET /302` redirects.
fn bare_server() -> Result<(), Box<dyn std::error::Error>> {
    use axum::http::{header, StatusCode};
    use axum::routing::{get, post};
    use axum::Json;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = axum::Router::new()
            .route(
                "/json",
                post(|Json(body): Json<serde_json::Value>| async move {
                    Json(serde_json::json!({ "success": true, "echo": body["session_id"] }))
                }),
            )
            .route(
                "/302",
                get(|| async {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, "https://saas.example/?naano_session=x")],
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!(
            "naano-server listening on http://{}",
            listener.local_addr()?
        );
        axum::serve(listener, app).await?;
        Ok(())
    })
}

pub(crate) async fn spawn_and_wait(
    mut cmd: Command,
) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(addr) = line.strip_prefix("naano-server listening on http://") {
            let addr = addr.to_owned();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((child, addr));
        }
    }
    Err("server exited before listening".into())
}

pub(crate) async fn admin_post(
    addr: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header("host", addr)
        .header("content-type", "application/json")
        .header("authorization", "Bearer bench")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let body = load::one_request(addr, req).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// A creator and a link with `slug` to `destination` on the server at `addr`.
pub(crate) async fn create_link(
    addr: &str,
    slug: &str,
    destination: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let creator = admin_post(
        addr,
        "/api/admin/creators",
        serde_json::json!({ "name": "Bench" }),
    )
    .await?;
    admin_post(
        addr,
        "/api/admin/links",
        serde_json::json!({ "creator_id": creator["id"], "destination_url": destination, "slug": slug }),
    )
    .await?;
    Ok(())
}

/// The runtime of the load generator: one thread, so the servers get the rest.
fn load_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A naano-server on a fresh file with `n` click sessions (settled before returning).
async fn server_with_sessions(
    server_bin: PathBuf,
    n: usize,
) -> Result<((Child, tempfile::TempDir), String, Vec<String>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(&server_bin);
    cmd.args(["--listen", "127.0.0.1:0", "--database-url"])
        .arg(dir.path().join("sdk.db"))
        .env("NAANO_ADMIN_TOKEN", "bench")
        .env("RUST_LOG", "warn");
    let (child, addr) = spawn_and_wait(cmd).await?;
    create_link(&addr, "sdk", "https://saas.example/").await?;
    let mut sessions = Vec::with_capacity(n);
    while sessions.len() < n {
        let req = Request::builder()
            .uri(format!("http://{addr}/c/sdk"))
            .header("host", &addr)
            .body(Full::new(Bytes::new()))?;
        let (_, headers) = load::one_request_with_headers(&addr, req).await?;
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("no location")?;
        sessions.push(
            location
                .split("naano_session=")
                .nth(1)
                .ok_or("no session")?
                .to_owned(),
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(((child, dir), addr, sessions))
}

/// The companies the benchmark's signups name (see [`signup_body`]).
pub(crate) const COMPANIES: usize = 5000;

/// Request `i`'s address: one of the /24s of [`COMPANIES`] companies, in public space.
pub(crate) fn company_ip(i: usize) -> std::net::Ipv4Addr {
    let network = (i % COMPANIES) as u32;
    let host = (i / COMPANIES % 250) as u32 + 1;
    std::net::Ipv4Addr::from(0x0B00_0000 + (network << 8) + host)
}

/// A different address per request, spread over the IPv4 space (a few are private and
/// are then not learned, as with real traffic).
pub(crate) fn public_ip(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from((i as u32).wrapping_mul(2_654_435_761) | 0x0100_0000)
}

/// The signup of `session`, the `i`th of its phase: one of [`COMPANIES`] companies.
pub(crate) fn signup_body(session: &str, i: usize) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "session_id": session,
            // One person per session: a later round's signups are new people, as in a
            // deployment (its visitors' companies come back; a person signs up once).
            "email": format!("{session}@company{}.example", i % COMPANIES),
            "company": format!("Company {}", i % COMPANIES),
            "name": "Bench User",
            "job_title": "CTO",
        })
        .to_string(),
    )
}

async fn run(
    server_bin: PathBuf,
    phase: Duration,
    connections: usize,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let mut bare_cmd = Command::new(std::env::current_exe()?);
    bare_cmd.arg("bare");
    let (_bare, bare) = spawn_and_wait(bare_cmd).await?;
    let mut naano_cmd = Command::new(&server_bin);
    // Clicks come from the networks of the 5000 companies the signups name
    // (X-Forwarded-For behind one trusted proxy), as a B2B product's visitors do, so
    // each signup also learns (or corrects) its network.
    naano_cmd
        .args(["--listen", "127.0.0.1:0", "--trust-proxy", "--database-url"])
        .arg(&db)
        .env("NAANO_ADMIN_TOKEN", "bench")
        .env("RUST_LOG", "warn");
    let (_naano, naano) = spawn_and_wait(naano_cmd).await?;

    let slug = "bench";
    create_link(&naano, slug, "https://saas.example/welcome?plan=pro").await?;
    let warmup = Duration::from_secs(1);
    // The bare 302 gets the same header, so both parse the same request.
    let get = |addr: String, path: String| {
        move |i: usize| {
            Request::builder()
                .method(Method::GET)
                .uri(path.clone())
                .header("host", addr.clone())
                .header("x-forwarded-for", company_ip(i).to_string())
                .body(Full::new(Bytes::new()))
        }
    };

    let post = |addr: String, path: &'static str, sessions: Arc<Vec<String>>| {
        move |i: usize| {
            Request::builder()
                .method(Method::POST)
                .uri(path)
                .header("host", addr.clone())
                .header("content-type", "application/json")
                .body(Full::new(signup_body(&sessions[i % sessions.len()], i)))
        }
    };

    // The machine's speed drifts by tens of percent over a minute (it is shared), so
    // each ceiling is measured right before the endpoint compared with it, in several
    // rounds, and the ratios are the medians of the rounds' ratios.
    let mut rounds_done: Vec<[LoadResult; 4]> = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}: bare 302, redirect, bare JSON, webhook ...");
        let bare_302 = load::measure(
            Target::new(&bare, get(bare.clone(), "/302".into())),
            connections,
            warmup,
            phase,
        )
        .await?;
        let (redirect, sessions) = load::measure_collecting_sessions(
            Target::new(&naano, get(naano.clone(), format!("/c/{slug}"))),
            connections,
            warmup,
            phase,
        )
        .await?;
        // Fresh sessions each round: the webhook measures first signups, upgraded.
        let sessions = Arc::new(sessions);
        // Let enrichment settle every click so the webhook measures full upgrades.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let bare_json = load::measure(
            Target::new(&bare, post(bare.clone(), "/json", Arc::clone(&sessions))),
            connections,
            warmup,
            phase,
        )
        .await?;
        let webhook = load::measure(
            Target::new(
                &naano,
                post(naano.clone(), "/api/track/signup", Arc::clone(&sessions)),
            ),
            connections,
            warmup,
            phase,
        )
        .await?;
        rounds_done.push([bare_json, webhook, bare_302, redirect]);
    }

    print_rounds(&rounds_done);
    println!(
        "\n{rounds} rounds of {} s phases, each after 1 s of warm-up; {connections} keep-alive connections; one load-generator thread. Requests/s and latencies: the round with the median ratio.",
        phase.as_secs(),
    );
    Ok(())
}

const ROW_NAMES: [&str; 4] = [
    "bare axum JSON (ceiling)",
    "signup webhook (full signup, committed)",
    "bare axum 302 (ceiling)",
    "tracking redirect (click durably recorded)",
];

/// The table: for each endpoint, the round whose ratio is the median, and every round's
/// ratio.
fn print_rounds(rounds: &[[LoadResult; 4]]) {
    println!("| endpoint | requests/s | p50 | p99 | non-2xx/3xx | vs ceiling | every round |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for (ceiling, endpoint) in [(0, 1), (2, 3)] {
        let mut ratios: Vec<(f64, usize)> = rounds
            .iter()
            .enumerate()
            .map(|(i, r)| (r[endpoint].rps() / r[ceiling].rps(), i))
            .collect();
        let every = ratios
            .iter()
            .map(|(ratio, _)| format!("{:.0}%", 100.0 * ratio))
            .collect::<Vec<_>>()
            .join(", ");
        ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ratio, median) = ratios[ratios.len() / 2];
        for (row, shown_ratio, shown_every) in [
            (ceiling, "—".to_owned(), String::new()),
            (endpoint, format!("{:.0}%", 100.0 * ratio), every),
        ] {
            let r = &rounds[median][row];
            println!(
                "| {} | {:.0} | {:.2} ms | {:.2} ms | {} | {shown_ratio} | {shown_every} |",
                ROW_NAMES[row],
                r.rps(),
                r.percentile_ms(50.0),
                r.percentile_ms(99.0),
                r.errors
            );
        }
    }
}
