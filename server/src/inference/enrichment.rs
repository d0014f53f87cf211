//! Background enrichment: settles each click's inference after its redirect was answered.
//!
//! The job is durable: it is written with the click, in the same row and statement (see
//! [`crate::store::jobs`]). The process that recorded a click holds a lease on its job
//! and hands it straight to this worker through an in-memory queue — the fast path. Jobs
//! whose lease ran out (this or another process crashed, the queue overflowed) and jobs
//! waiting for a retry are claimed from the database by a poller. Provider failures are
//! retried with exponential backoff; on the last attempt a failing provider is skipped
//! so the next one in the chain decides.
//!
//! Lookups run concurrently (an external service may take a while); their results are
//! committed in batches, one write for many jobs. The same loop also refreshes the
//! learned networks (rows other processes wrote) and runs the retention sweep.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use naano_core::backoff_ceiling;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::learned::LearnedNetworks;
use super::{ChainOutcome, ProviderChain, ProviderError};
use crate::store::inferences::{SettleInference, Settled, SettledBy};
use crate::store::jobs::{
    ApplyJobResults, ClaimDueJobs, ClaimedJob, JobResult, ResumeJobs, LEASE_MS,
};
use crate::store::privacy::ExpireClickDetails;
use crate::store::{now_ms, Store};

const QUEUE_CAPACITY: usize = 65_536;
/// Most jobs claimed, and most results committed, at once.
const BATCH: usize = 256;
/// Longest wait between retries of one job.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// How often rows other processes learned are picked up.
const LEARNED_REFRESH: Duration = Duration::from_secs(10);
/// How often the retention sweep runs.
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct EnrichmentSettings {
    /// An IP no provider knows stays pending for an external pipeline (admin API)
    /// instead of settling as "no company".
    pub leave_unknown_pending: bool,
    /// Attempts before a failing provider is skipped.
    pub max_attempts: u32,
    /// First retry delay, doubled per attempt (jittered, capped at 5 minutes).
    pub retry_base: Duration,
    /// Lookups in flight at once.
    pub concurrency: usize,
    /// Clicks older than this lose IP network, user agent and referrer; `None` keeps them.
    pub retention: Option<Duration>,
    /// Release every lease at start (SQLite: one process owns the database).
    pub release_leases_at_start: bool,
    /// Pick up the networks other processes learn (PostgreSQL's replicas). A SQLite
    /// file has one process, which learns every network itself.
    pub refresh_learned: bool,
}

/// Handle for queueing jobs.
#[derive(Debug, Clone)]
pub struct Enrichment {
    jobs: mpsc::Sender<ClaimedJob>,
}

impl Enrichment {
    /// Starts the worker. The returned task ends once every handle is dropped and the
    /// jobs in hand are settled.
    pub fn start(
        store: Store,
        chain: Arc<ProviderChain>,
        learned: Arc<LearnedNetworks>,
        settings: EnrichmentSettings,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let worker = Worker {
            store,
            chain,
            learned,
            settings,
        };
        (Self { jobs: tx }, tokio::spawn(worker.run(rx)))
    }

    /// Hands over a job this process leased when recording its click. Never waits:
    /// when the queue is full the job is left to the poller once its lease runs out.
    pub fn enqueue(&self, job: ClaimedJob) {
        let _ = self.jobs.try_send(job);
    }
}

#[derive(Debug, Clone)]
struct Worker {
    store: Store,
    chain: Arc<ProviderChain>,
    learned: Arc<LearnedNetworks>,
    settings: EnrichmentSettings,
}

impl Worker {
    async fn run(self, mut intake: mpsc::Receiver<ClaimedJob>) {
        let resume = ResumeJobs {
            release_leases: self.settings.release_leases_at_start,
            unpark: !self.settings.leave_unknown_pending,
            now: now_ms(),
        };
        {
            match self.store.write(resume).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "resuming enrichment jobs of a previous run"),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot resume old jobs now; leases expire by themselves")
                }
            }
        }
        let (results_tx, results_rx) = mpsc::channel(BATCH * 4);
        let settler = tokio::spawn(self.clone().settle_results(results_rx));
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut lookups = JoinSet::new();
        let poll_every = self
            .settings
            .retry_base
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut poll = tokio::time::interval(poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refresh = tokio::time::interval(LEARNED_REFRESH);
        let mut sweep = tokio::time::interval(RETENTION_SWEEP);
        let mut learned_since = 0;
        let mut swept_to = String::new();
        loop {
            tokio::select! {
                job = intake.recv() => match job {
                    Some(job) => self.dispatch(job, &permits, &mut lookups, &results_tx).await,
                    None => break,
                },
                _ = poll.tick() => self.claim_due(&permits, &mut lookups, &results_tx).await,
                _ = refresh.tick(), if self.settings.refresh_learned => {
                    match self.learned.refresh(&self.store, learned_since).await {
                        Ok(newest) => learned_since = newest,
                        Err(err) => tracing::warn!(error = %err, "cannot refresh learned networks"),
                    }
                }
                _ = sweep.tick() => self.sweep_retention(&mut swept_to).await,
                Some(_) = lookups.join_next() => {}
            }
        }
        while lookups.join_next().await.is_some() {}
        drop(results_tx);
        if let Err(err) = settler.await {
            tracing::error!(error = %err, "enrichment settler failed");
        }
        tracing::debug!("enrichment worker stopped");
    }

    async fn dispatch(
        &self,
        job: ClaimedJob,
        permits: &Arc<Semaphore>,
        lookups: &mut JoinSet<()>,
        results: &mpsc::Sender<JobResult>,
    ) {
        let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
            return;
        };
        let worker = self.clone();
        let results = results.clone();
        lookups.spawn(async move {
            let result = worker.process(job).await;
            // The settler only goes away at shutdown, after every lookup finished.
            let _ = results.send(result).await;
            drop(permit);
        });
    }

    async fn claim_due(
        &self,
        permits: &Arc<Semaphore>,
        lookups: &mut JoinSet<()>,
        results: &mpsc::Sender<JobResult>,
    ) {
        loop {
            let now = now_ms();
            let claim = ClaimDueJobs {
                now,
                lease_until: now + LEASE_MS,
                limit: BATCH as u32,
            };
            let jobs = match self.store.write(claim).await {
                Ok(jobs) => jobs,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim enrichment jobs; will retry");
                    return;
                }
            };
            let full = jobs.len() == BATCH;
            for job in jobs {
                self.dispatch(job, permits, lookups, results).await;
            }
            if !full {
                return;
            }
        }
    }

    async fn process(&self, job: ClaimedJob) -> JobResult {
        let ip: Option<IpAddr> = job.client_ip.as_deref().and_then(|ip| ip.parse().ok());
        let last_attempt = job.attempts + 1 >= self.settings.max_attempts;
        let outcome = match ip {
            Some(ip) => self.chain.lookup(ip, last_attempt).await,
            None => ChainOutcome::Unknown,
        };
        let settle = |answer| {
            JobResult::Settle(SettleInference {
                session_id: job.session_id.clone(),
                answer,
                by: SettledBy::Enrichment,
                now: now_ms(),
            })
        };
        match outcome {
            ChainOutcome::Answer(answer) => settle(Some(answer)),
            ChainOutcome::Unknown if self.settings.leave_unknown_pending => JobResult::Park {
                click_id: job.click_id,
            },
            ChainOutcome::Unknown => settle(None),
            ChainOutcome::Retry(err) => {
                let (delay, count_attempt) = match &err {
                    // Waiting for our own (or the service's) rate limit is not a failure.
                    ProviderError::RateLimited(wait) => (*wait, false),
                    _ => (self.retry_delay(job.attempts + 1), true),
                };
                JobResult::Retry {
                    click_id: job.click_id,
                    due_at: now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2),
                    count_attempt,
                    error: err.to_string(),
                }
            }
        }
    }

    /// Equal jitter: at least half the exponential ceiling, so a retry never comes
    /// right back, and spread over the other half.
    fn retry_delay(&self, retry: u32) -> Duration {
        let ceiling = backoff_ceiling(self.settings.retry_base, MAX_RETRY_DELAY, retry);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }

    async fn settle_results(self, mut results: mpsc::Receiver<JobResult>) {
        let mut batch = Vec::with_capacity(BATCH);
        while results.recv_many(&mut batch, BATCH).await > 0 {
            let op = ApplyJobResults(std::mem::take(&mut batch));
            match self.store.write(op).await {
                Ok(settled) => self.after_commit(&settled),
                // The jobs keep their leases; once those run out the poller claims them.
                Err(err) => {
                    tracing::warn!(error = %err, "enrichment write failed; the jobs will be retried")
                }
            }
        }
    }

    fn after_commit(&self, settled: &[Option<Settled>]) {
        let mut deferred = 0;
        for s in settled.iter().flatten() {
            if let Settled::Applied {
                deferred: d,
                learned,
                ..
            } = s
            {
                deferred += usize::from(d.is_some());
                if let Some(learned) = learned {
                    self.learned.record(learned);
                }
            }
        }
        if deferred > 0 {
            tracing::info!(deferred, "applied signups that were waiting for enrichment");
        }
    }

    async fn sweep_retention(&self, swept_to: &mut String) {
        let Some(retention) = self.settings.retention else {
            return;
        };
        let before_ms = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        let mut expired = 0;
        loop {
            let page = ExpireClickDetails {
                before_ms,
                after_id: swept_to.clone(),
                limit: 1000,
            };
            match self.store.write(page).await {
                Ok(page) => {
                    expired += page.expired;
                    match page.next_after_id {
                        Some(next) => *swept_to = next,
                        None => break,
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "retention sweep failed; will retry");
                    break;
                }
            }
        }
        if expired > 0 {
            tracing::info!(
                clicks = expired,
                "removed click details past the retention period"
            );
        }
    }
}
