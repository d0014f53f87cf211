//! Caller-side cost of `Client::track_signup` and the engine's delivery throughput.

use std::time::{Duration, Instant};

use naano::{Client, SignupRequest};

/// Per-call cost of `calls` tight-loop `track_signup` calls, in nanoseconds, sorted.
fn caller_cost(client: &Client, sessions: &[String], calls: usize) -> Vec<u64> {
    let mut costs = Vec::with_capacity(calls);
    for i in 0..calls {
        let signup = SignupRequest::new(
            &sessions[i % sessions.len()],
            format!("u{i}@bench.example"),
            "Bench Co",
        );
        let started = Instant::now();
        let result = client.track_signup(signup);
        costs.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        std::hint::black_box(result).ok();
    }
    costs.sort_unstable();
    costs
}

fn print_row(case: &str, sorted: &[u64], outcome: &str) {
    println!(
        "| {case} | {:.2} µs | {:.2} µs | {:.0} µs | {outcome} |",
        percentile(sorted, 50.0),
        percentile(sorted, 99.0),
        percentile(sorted, 100.0),
    );
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx] as f64 / 1000.0
}

/// Runs the three measurements against a running server at `base` whose sessions are
/// `sessions`, and prints a Markdown table.
pub fn run(base: &str, down_base: &str, sessions: &[String], calls: usize, delivered: usize) {
    // The request is built inside the timed region in real use too, but what we measure is
    // the call: validation, id, enqueue.
    let up = Client::builder()
        .base_url(base)
        .queue_capacity(calls + 1)
        .build();
    let up_costs = caller_cost(&up, sessions, calls);
    let up_flushed = up.flush_blocking(Duration::from_secs(120));
    let up_stats = up.stats();

    let down = Client::builder()
        .base_url(down_base)
        .queue_capacity(calls + 1)
        .connect_timeout(Duration::from_millis(200))
        .drop_flush_timeout(Duration::ZERO)
        .build();
    let down_costs = caller_cost(&down, sessions, calls);
    let down_stats = down.stats();

    let fresh = Client::builder()
        .base_url(base)
        .queue_capacity(delivered + 1)
        .build();
    let started = Instant::now();
    for (i, session) in sessions.iter().cycle().take(delivered).enumerate() {
        let _ = fresh.track_signup(SignupRequest::new(
            session,
            format!("t{i}@bench.example"),
            "Bench Co",
        ));
    }
    let all_sent = fresh.flush_blocking(Duration::from_secs(300));
    let elapsed = started.elapsed();
    let stats = fresh.stats();

    println!("| track_signup, {calls} calls | median | p99 | max | outcome |");
    println!("| --- | ---: | ---: | ---: | --- |");
    print_row(
        "server up",
        &up_costs,
        &format!(
            "{} sent, {} failed, flushed: {up_flushed}",
            up_stats.sent, up_stats.failed
        ),
    );
    print_row(
        "server down (every call accepted, retrying)",
        &down_costs,
        &format!(
            "{} queued, {} dropped",
            down_stats.queued, down_stats.dropped
        ),
    );
    println!(
        "\nDelivery: {delivered} signups delivered in {:.2} s = **{:.0} signups/s** ({} sent, {} failed, all finished: {all_sent}).",
        elapsed.as_secs_f64(),
        stats.sent as f64 / elapsed.as_secs_f64(),
        stats.sent,
        stats.failed,
    );
}
