//! `naano-bench inference`: the company inference engine's costs.
//!
//! 1. Building the IP-to-ASN index from the full `@ip-location-db/asn` CSVs (parse,
//!    classify, sort), its size on disk, loading it back, and its memory (the index's
//!    own heap bytes and the process's resident-set growth).
//! 2. Lookups per second on one thread, over random IPv4 and IPv6 addresses.
//! 3. The tracking redirect's requests/s with inference off (no provider: every click
//!    settles as "no company") and on (the user's table, learned networks and the full
//!    ASN index), each click from a different public IPv4 address.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request};
use naano_server::inference::asn::{import, AsnIndex};
use tokio::process::Command;

use crate::load::{self, Target};

/// Resident set size of this process, in bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A reproducible pseudo-random sequence (xorshift), so every run looks up the same IPs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn random_ips(n: usize) -> Vec<IpAddr> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i| {
            if i % 5 == 4 {
                // Inside 2000::/4, where the announced IPv6 space is.
                let hi = 0x2000_0000_0000_0000u64 | (rng.next() >> 4);
                let bits = (u128::from(hi) << 64) | u128::from(rng.next());
                IpAddr::V6(Ipv6Addr::from(bits))
            } else {
                IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
            }
        })
        .collect()
}

/// Runs the index part (1 and 2); returns the index file for part 3.
pub fn index_costs(data: &Path, out_dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let index = import::import(data)?;
    let build = started.elapsed();
    let path = out_dir.join("asn.idx");
    index.save(&path)?;
    let heap = index.heap_bytes();
    let (v4, v6, orgs) = index.counts();
    let businesses = index
        .orgs()
        .iter()
        .filter(|o| o.kind.is_attributable())
        .count();
    drop(index);

    let before = rss_bytes().unwrap_or(0);
    let started = Instant::now();
    let index = AsnIndex::load(&path)?;
    let load = started.elapsed();
    let after = rss_bytes().unwrap_or(0);

    let ips = random_ips(1 << 20);
    let rounds = 5;
    let started = Instant::now();
    let mut hits = 0usize;
    for _ in 0..rounds {
        for ip in &ips {
            hits += usize::from(black_box(index.lookup(*ip)).is_some());
        }
    }
    let lookups = (ips.len() * rounds) as f64;
    let per_second = lookups / started.elapsed().as_secs_f64();

    println!("| IP-to-ASN index | value |");
    println!("| --- | ---: |");
    println!("| ranges (IPv4 / IPv6) | {v4} / {v6} |");
    println!("| organisations (classified as businesses) | {orgs} ({businesses}) |");
    println!(
        "| build from the CSVs (parse, classify, sort) | {:.2} s |",
        build.as_secs_f64()
    );
    println!(
        "| index file | {:.1} MiB |",
        mib(std::fs::metadata(&path)?.len())
    );
    println!(
        "| load at server start | {:.0} ms |",
        load.as_secs_f64() * 1000.0
    );
    println!(
        "| memory: index heap / RSS growth on load | {:.1} MiB / {:.1} MiB |",
        mib(heap as u64),
        mib(after.saturating_sub(before))
    );
    println!(
        "| lookups, one thread (random IPs, {:.0}% found) | {:.1} M/s ({:.0} ns each) |",
        100.0 * hits as f64 / lookups,
        per_second / 1e6,
        1e9 / per_second
    );
    Ok(path)
}

/// The redirect with inference off and on (part 3).
pub async fn redirect_costs(
    server_bin: &Path,
    index: &Path,
    phase: Duration,
    connections: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let table = dir.path().join("ips.csv");
    std::fs::write(
        &table,
        "cidr,company,domain,confidence\n17.0.0.0/8,Apple,apple.com,0.9\n",
    )?;
    let mut rows = Vec::new();
    // Alternated three times and summarised by the median: this machine's throughput
    // drifts by tens of percent between runs of the same binary, so one run per mode
    // would measure the drift, not the difference.
    for round in 0..3 {
        for on in [false, true] {
            let db = dir.path().join(format!("bench-{round}-{on}.db"));
            let mut cmd = Command::new(server_bin);
            cmd.args(["--listen", "127.0.0.1:0", "--trust-proxy", "--database-url"])
                .arg(&db)
                .env("NAANO_ADMIN_TOKEN", "bench")
                .env("RUST_LOG", "warn");
            if on {
                cmd.arg("--asn-index")
                    .arg(index)
                    .arg("--ip-companies")
                    .arg(&table);
            } else {
                cmd.args(["--asn-index", "none"]);
            }
            let (_server, addr) = crate::spawn_and_wait(cmd).await?;
            crate::create_link(&addr, "bench", "https://saas.example/").await?;
            let target_addr = addr.clone();
            let target = Target::new(&addr, move |i: usize| {
                // A different public address per click: every lookup walks the index.
                let ip = crate::public_ip(i);
                Request::builder()
                    .method(Method::GET)
                    .uri("/c/bench")
                    .header("host", target_addr.clone())
                    .header("x-forwarded-for", ip.to_string())
                    .body(Full::new(Bytes::new()))
            });
            let result = load::measure(target, connections, Duration::from_secs(1), phase).await?;
            rows.push((on, result));
        }
    }
    let median = |on: bool| {
        let mut r: Vec<f64> = rows
            .iter()
            .filter(|(o, _)| *o == on)
            .map(|(_, r)| r.rps())
            .collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    println!("\n| tracking redirect | requests/s | p50 | p99 |");
    println!("| --- | ---: | ---: | ---: |");
    for (on, r) in &rows {
        println!(
            "| inference {} | {:.0} | {:.2} ms | {:.2} ms |",
            if *on {
                "on (table + learned + ASN)"
            } else {
                "off (no provider)"
            },
            r.rps(),
            r.percentile_ms(50.0),
            r.percentile_ms(99.0)
        );
    }
    println!(
        "\nMedians: off {:.0}/s, on {:.0}/s; on / off = {:.0}% ({} s per phase, {connections} connections, runs alternated).",
        median(false),
        median(true),
        100.0 * median(true) / median(false),
        phase.as_secs()
    );
    Ok(())
}
