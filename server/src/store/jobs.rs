//! The durable enrichment queue: each pending click's row carries its job (due time,
//! lease, attempts). Workers claim due jobs by leasing them; a lease that runs out
//! (crashed worker) makes the job claimable again, so no job is ever lost, and the
//! settlement itself only applies to a still-pending inference, so no job is applied
//! twice.

use super::db::{DbError, Tx};
use super::inferences::{SettleInference, Settled};
use super::WriteOp;
use crate::sql_params;

/// How long a claimed job is reserved for its worker (ms). Far longer than any lookup
/// (the external provider's timeout is seconds), short enough that a crashed worker's
/// jobs come back soon.
pub const LEASE_MS: i64 = 30_000;

/// A job as a worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The click.
    pub click_id: String,
    /// Its session.
    pub session_id: String,
    /// The raw client IP (still held: the job is not done).
    pub client_ip: Option<String>,
    /// Provider failures so far.
    pub attempts: u32,
}

/// Leases up to `limit` due jobs until `lease_until`.
#[derive(Debug, Clone)]
pub struct ClaimDueJobs {
    /// Unix ms.
    pub now: i64,
    /// Unix ms.
    pub lease_until: i64,
    /// Most jobs claimed at once.
    pub limit: u32,
}

impl WriteOp for ClaimDueJobs {
    type Output = Vec<ClaimedJob>;

    fn apply(&self, tx: &mut dyn Tx) -> Result<Vec<ClaimedJob>, DbError> {
        // On PostgreSQL, replicas claiming at the same moment skip each other's rows.
        let sql = format!(
            "UPDATE clicks SET enrich_lease_until = ?1
             WHERE id IN (
                 SELECT id FROM clicks
                 WHERE enrich_due_at IS NOT NULL AND enrich_due_at <= ?2
                   AND (enrich_lease_until IS NULL OR enrich_lease_until <= ?2)
                 ORDER BY enrich_due_at LIMIT ?3{})
             RETURNING id, session_id, client_ip, enrich_attempts",
            tx.dialect().skip_locked()
        );
        tx.query_all(
            &sql,
            sql_params![self.lease_until, self.now, self.limit],
            |row| {
                Ok(ClaimedJob {
                    click_id: row.text(0)?,
                    session_id: row.text(1)?,
                    client_ip: row.opt_text(2)?,
                    attempts: u32::try_from(row.int(3)?).unwrap_or(u32::MAX),
                })
            },
        )
    }
}

/// Start-of-run housekeeping of the queue.
#[derive(Debug, Clone, Copy)]
pub struct ResumeJobs {
    /// Release every lease: with SQLite one process owns the database, so at start
    /// every lease is a leftover of a previous run (stopped or crashed).
    pub release_leases: bool,
    /// Give parked inferences (left for an external pipeline by an earlier run) a job
    /// again: this run settles unknown IPs itself.
    pub unpark: bool,
    /// Unix ms.
    pub now: i64,
}

impl WriteOp for ResumeJobs {
    /// Jobs made claimable.
    type Output = usize;

    fn apply(&self, tx: &mut dyn Tx) -> Result<usize, DbError> {
        let mut resumed = 0;
        if self.release_leases {
            resumed += tx.execute(
                "UPDATE clicks SET enrich_lease_until = NULL
                 WHERE enrich_due_at IS NOT NULL AND enrich_lease_until IS NOT NULL",
                &[],
            )?;
        }
        if self.unpark {
            resumed += tx.execute(
                "UPDATE clicks SET enrich_due_at = ?
                 WHERE status = 'pending' AND enrich_due_at IS NULL",
                sql_params![self.now],
            )?;
        }
        Ok(resumed)
    }
}

/// What a worker did with one job.
#[derive(Debug, Clone)]
pub enum JobResult {
    /// The chain decided: settle the inference.
    Settle(SettleInference),
    /// A provider failed: try again at `due_at`.
    Retry {
        click_id: String,
        due_at: i64,
        /// Whether this counts as a failed attempt (a rate-limit wait does not).
        count_attempt: bool,
        error: String,
    },
    /// Nobody knows the IP and an external pipeline settles it: the job is done, the
    /// inference stays pending.
    Park { click_id: String },
}

/// A batch of job results committed together.
#[derive(Debug, Clone)]
pub struct ApplyJobResults(pub Vec<JobResult>);

impl WriteOp for ApplyJobResults {
    type Output = Vec<Option<Settled>>;

    fn apply(&self, tx: &mut dyn Tx) -> Result<Vec<Option<Settled>>, DbError> {
        self.0
            .iter()
            .map(|result| match result {
                JobResult::Settle(settle) => settle.apply(tx).map(Some),
                JobResult::Retry {
                    click_id,
                    due_at,
                    count_attempt,
                    error,
                } => {
                    tx.execute(
                        "UPDATE clicks SET enrich_due_at = ?, enrich_lease_until = NULL,
                             enrich_attempts = enrich_attempts + ?, enrich_error = ?
                         WHERE id = ? AND status = 'pending' AND enrich_due_at IS NOT NULL",
                        sql_params![*due_at, *count_attempt, error, click_id],
                    )?;
                    Ok(None)
                }
                JobResult::Park { click_id } => {
                    tx.execute(
                        "UPDATE clicks SET enrich_due_at = NULL, enrich_lease_until = NULL
                         WHERE id = ? AND status = 'pending'",
                        sql_params![click_id],
                    )?;
                    Ok(None)
                }
            })
            .collect()
    }
}
