//! The SQLite writer on its own, without HTTP: clicks and then signups written by many
//! concurrent callers through `Store::write`, as the handlers do. Reports writes/s and
//! the writer thread's CPU time per write, which is steadier than throughput on a shared
//! machine and says directly what a change to the writer saves.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use naano_core::SignupRequest;
use naano_server::store::admin::{CreateCreator, CreateLink};
use naano_server::store::clicks::{ClickInference, RecordClick};
use naano_server::store::signup::ApplySignup;
use naano_server::store::{new_id, now_ms, PgSettings, SqliteSettings, Store, StoreError, WriteOp};

use crate::{company_ip, signup_body, COMPANIES};
use naano_core::OrgKind;
use naano_server::inference::Answer;

/// CPU time (user + system) of this process's threads named `name`.
fn thread_cpu(name: &str) -> Duration {
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        for i in [11, 12] {
            ticks += fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    // Linux reports thread times in USER_HZ, 100 per second.
    Duration::from_millis(ticks * 10)
}

struct Phase {
    writes: u64,
    elapsed: Duration,
    writer_cpu: Duration,
}

impl Phase {
    fn print(&self, what: &str) {
        let per_s = self.writes as f64 / self.elapsed.as_secs_f64();
        let cpu_us = self.writer_cpu.as_secs_f64() * 1e6 / self.writes.max(1) as f64;
        println!("| {what} | {per_s:.0} | {cpu_us:.1} µs |");
    }
}

/// The `i`th write of a phase, on `store`.
type WriteFn = Arc<
    dyn Fn(Store, usize) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>
        + Send
        + Sync,
>;

/// Writes `make(i)` through `Store::write`: each caller waits for the commit.
fn committed<O: WriteOp>(make: impl Fn(usize) -> O + Send + Sync + 'static) -> WriteFn {
    Arc::new(move |store, i| {
        let op = make(i);
        Box::pin(async move { store.write(op).await.map(drop) })
    })
}

/// Records the click `make(i)` as the redirect does, through the click journal: each
/// caller waits for its journal line, and the writer commits the clicks behind.
fn journaled(make: impl Fn(usize) -> RecordClick + Send + Sync + 'static) -> WriteFn {
    Arc::new(move |store, i| {
        let click = make(i);
        Box::pin(async move { store.record_click(click).await })
    })
}

/// Runs `make(i)` writes from `callers` tasks for `phase`; the phase ends once the
/// writer has committed them all.
async fn measure(store: &Store, callers: usize, phase: Duration, make: WriteFn) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = thread_cpu("naano-writer");
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (store, make, stop, next) = (
                store.clone(),
                Arc::clone(&make),
                Arc::clone(&stop),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if let Err(err) = make(store.clone(), i).await {
                        eprintln!("write failed: {err}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    // A read first waits for every journaled click to be committed.
    if let Err(err) = store.ping().await {
        eprintln!("read failed: {err}");
    }
    Phase {
        writes: next.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        writer_cpu: thread_cpu("naano-writer").saturating_sub(cpu_before),
    }
}

/// `naano-bench writer`.
pub async fn run(phase: Duration, callers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = dir.path().join("writer.db").display().to_string();
    let pg = PgSettings {
        max_connections: 1,
        statement_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
    };
    let (store, _done) = Store::open(&url, SqliteSettings::default(), pg).await?;
    let creator = store
        .write(CreateCreator {
            id: new_id(),
            name: "Bench".into(),
            linkedin_url: None,
            now: now_ms(),
        })
        .await?;
    store
        .write(CreateLink {
            id: new_id(),
            slug: Some("bench".into()),
            creator_id: creator.id,
            destination_url: "https://saas.example/welcome".into(),
            campaign: None,
            now: now_ms(),
        })
        .await?
        .map_err(|e| format!("creating the link: {e:?}"))?;
    let link = store.link_by_slug("bench").await?.ok_or("link vanished")?;

    let sessions: Arc<Vec<String>> = Arc::new(
        (0..2_000_000)
            .map(|i| format!("naano_session_writer{i:012}"))
            .collect(),
    );
    // First sessions whose IP nobody knows, then sessions inferred as one of the 5000
    // companies the signups name (each signup then corroborates its company's others).
    let link = Arc::clone(&link);
    let (clicks, signups) =
        clicks_then_signups(&store, callers, phase, &link, &sessions, 0, false).await?;
    let (inferred_clicks, inferred_signups) =
        clicks_then_signups(&store, callers, phase, &link, &sessions, 1_000_000, true).await?;

    println!("| write | writes/s | writer CPU per write |");
    println!("| --- | ---: | ---: |");
    clicks.print("click (no company)");
    signups.print("signup (upgrade)");
    inferred_clicks.print("click (inferred)");
    inferred_signups.print("signup (upgrade, corroborating)");
    println!(
        "\n{} s per phase, {callers} concurrent callers, one SQLite file in a temporary directory.",
        phase.as_secs()
    );
    Ok(())
}

/// A phase of clicks on `sessions[offset..]`, then a phase of signups of them.
async fn clicks_then_signups(
    store: &Store,
    callers: usize,
    phase: Duration,
    link: &Arc<naano_server::store::LinkTarget>,
    sessions: &Arc<Vec<String>>,
    offset: usize,
    inferred: bool,
) -> Result<(Phase, Phase), Box<dyn std::error::Error>> {
    let click_sessions = Arc::clone(sessions);
    let link = Arc::clone(link);
    let span = sessions.len() / 2;
    let clicks = measure(
        store,
        callers,
        phase,
        journaled(move |i| {
            let n = i % span;
            let inference = if inferred {
                ClickInference::Settled(Some(Answer {
                    company: format!("Company {}", n % COMPANIES),
                    domain: Some(format!("company{}.example", n % COMPANIES)),
                    confidence: 0.8,
                    source: "learned".into(),
                    kind: OrgKind::Business,
                }))
            } else {
                ClickInference::Settled(None)
            };
            RecordClick {
                click_id: new_id(),
                inference_id: new_id(),
                session_id: click_sessions[offset + n].clone(),
                link_id: link.id.clone(),
                creator_id: link.creator_id.clone(),
                clicked_at: now_ms(),
                client_ip: Some(company_ip(n).into()),
                user_agent: Some("Mozilla/5.0 (bench)".into()),
                referrer: Some("https://www.linkedin.com/".into()),
                inference,
            }
        }),
    )
    .await;

    let recorded = (clicks.writes as usize).min(span);
    // Validated up front: the phase measures the writes, not the parsing.
    let bodies = (0..recorded.max(1))
        .map(|n| {
            let body = signup_body(&sessions[offset + n], n);
            serde_json::from_slice::<SignupRequest>(&body)?
                .validate()
                .map_err(|e| format!("the bench's signup is invalid: {e}").into())
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let signups = measure(
        store,
        callers,
        phase,
        committed(move |i| {
            let signup = bodies[i % bodies.len()].clone();
            ApplySignup {
                signup,
                idempotency: None,
                event_id: new_id(),
                new_lead_id: new_id(),
                now: now_ms(),
            }
        }),
    )
    .await;
    Ok((clicks, signups))
}
