//! Background enrichment: settles each click's inference after its redirect was answered.
//!
//! The redirect only records the click (with its IP) and queues the session here. The
//! queue is an optimisation, not the source of truth: a pending inference row *is* the
//! job, so at start, and whenever the in-memory queue overflowed or a write failed, the
//! worker rescans the database for pending inferences. A crash or restart loses nothing.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Transaction;
use tokio::sync::mpsc;

use super::ProviderChain;
use crate::store::inferences::{SettleInference, Settled, SettledBy};
use crate::store::{now_ms, Store, StoreError, WriteOp};

const QUEUE_CAPACITY: usize = 65_536;
const BATCH: usize = 256;

#[derive(Debug)]
struct Job {
    session_id: String,
    ip: Option<IpAddr>,
}

/// Handle for queueing sessions to enrich.
#[derive(Debug, Clone)]
pub struct Enrichment {
    jobs: mpsc::Sender<Job>,
    rescan: Arc<AtomicBool>,
}

impl Enrichment {
    /// Starts the worker. With `leave_unknown_pending`, an IP no provider knows stays
    /// pending for an external pipeline instead of settling as "no company".
    pub fn start(
        store: Store,
        chain: Arc<ProviderChain>,
        leave_unknown_pending: bool,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        // Rescan at start: pending inferences left by a previous run.
        let rescan = Arc::new(AtomicBool::new(true));
        let worker = Worker {
            store,
            chain,
            leave_unknown_pending,
            rescan: Arc::clone(&rescan),
        };
        let task = tokio::spawn(worker.run(rx));
        (Self { jobs: tx, rescan }, task)
    }

    /// Queues a session without ever waiting: when the queue is full the session is
    /// left to the next rescan.
    pub fn enqueue(&self, session_id: String, ip: Option<IpAddr>) {
        if self.jobs.try_send(Job { session_id, ip }).is_err() {
            self.rescan.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
struct Worker {
    store: Store,
    chain: Arc<ProviderChain>,
    leave_unknown_pending: bool,
    rescan: Arc<AtomicBool>,
}

/// Several settlements committed as one write.
#[derive(Debug)]
struct SettleBatch(Vec<SettleInference>);

impl WriteOp for SettleBatch {
    type Output = Vec<Settled>;

    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<Vec<Settled>> {
        self.0.iter().map(|settle| settle.apply(tx)).collect()
    }
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(BATCH);
        loop {
            if self.rescan.swap(false, Ordering::Relaxed) {
                self.rescan_pending().await;
            }
            // Wake up now and then so that a rescan requested while idle still happens.
            match tokio::time::timeout(Duration::from_secs(1), rx.recv_many(&mut jobs, BATCH)).await
            {
                Ok(0) => break,
                Ok(_) => {
                    let batch = std::mem::take(&mut jobs);
                    if let Err(err) = self.settle(batch).await {
                        tracing::warn!(error = %err, "enrichment write failed; will rescan");
                        self.rescan.store(true, Ordering::Relaxed);
                    }
                }
                Err(_elapsed) => {}
            }
        }
        tracing::debug!("enrichment worker stopped");
    }

    async fn settle(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        let now = now_ms();
        let settles: Vec<SettleInference> = jobs
            .into_iter()
            .filter_map(|job| {
                let company = job.ip.and_then(|ip| self.chain.lookup(ip));
                if company.is_none() && self.leave_unknown_pending {
                    return None;
                }
                Some(SettleInference {
                    session_id: job.session_id,
                    company,
                    by: SettledBy::Enrichment,
                    now,
                })
            })
            .collect();
        if settles.is_empty() {
            return Ok(());
        }
        let results = self.store.write(SettleBatch(settles)).await?;
        let deferred = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Settled::Applied {
                        deferred: Some(_),
                        ..
                    }
                )
            })
            .count();
        if deferred > 0 {
            tracing::info!(deferred, "applied signups that were waiting for enrichment");
        }
        Ok(())
    }

    async fn rescan_pending(&self) {
        let mut after = String::new();
        loop {
            let page: Result<Vec<(String, String, Option<String>)>, sqlx::Error> = sqlx::query_as(
                "SELECT id, session_id, client_ip FROM clicks
                 WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?",
            )
            .bind(&after)
            .bind(BATCH as i64)
            .fetch_all(self.store.reader())
            .await;
            let rows = match page {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %err, "rescan of pending inferences failed; will retry");
                    self.rescan.store(true, Ordering::Relaxed);
                    return;
                }
            };
            let Some((last, _, _)) = rows.last() else {
                return;
            };
            after = last.clone();
            let full = rows.len() == BATCH;
            let jobs = rows
                .into_iter()
                .map(|(_, session_id, ip)| Job {
                    session_id,
                    ip: ip.and_then(|ip| ip.parse().ok()),
                })
                .collect();
            if let Err(err) = self.settle(jobs).await {
                tracing::warn!(error = %err, "enrichment write failed during rescan; will retry");
                self.rescan.store(true, Ordering::Relaxed);
                return;
            }
            if !full {
                return;
            }
        }
    }
}
