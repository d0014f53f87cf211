//! Group commit: one thread owns SQLite's single write connection and commits whatever
//! writes are waiting together, in one transaction.
//!
//! SQLite allows one writer at a time. Through an async driver every statement is a
//! round trip to the connection's thread, and under load each round trip waits for a
//! core; a request's handful of statements plus `BEGIN`/`COMMIT` then costs
//! milliseconds. Here the writer thread runs a whole batch of writes synchronously
//! with cached prepared statements, and each request is answered only after the
//! transaction that holds it has committed: the durability of a transaction of its
//! own, one thread hop per batch instead of one per statement, and no `SQLITE_BUSY`
//! since nothing else writes.
//!
//! Writes in a batch run one after the other, so each sees the effects of the ones
//! before it exactly as if they had been serialised. If any of them fails, the whole
//! batch is rolled back and each write is retried in a transaction of its own, so one
//! bad write never fails its neighbours and no write is ever half-applied.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::db::{DbError, SqliteTx, Tx};
use super::related::RelatedCounts;
use super::StoreError;

/// One unit of work run inside the writer's transaction. `apply` may run more than once
/// (when its batch is retried), so it takes `&self` and must derive everything it writes
/// from its own fields and the database.
pub trait WriteOp: Send + 'static {
    /// What the caller gets back once the write has committed.
    type Output: Send + 'static;

    /// Runs the write inside the open transaction (SQLite's batch, or a PostgreSQL
    /// transaction of its own, which may be run again after a serialization failure).
    fn apply(&self, tx: &mut dyn Tx) -> Result<Self::Output, DbError>;

    /// Whether `apply` runs exactly one statement. PostgreSQL then runs it on its own
    /// (a statement is atomic by itself), saving the `BEGIN` and `COMMIT` round trips.
    fn is_single_statement(&self) -> bool {
        false
    }
}

/// A [`WriteOp`] with its reply channel, with the output type erased.
trait Job: Send {
    fn run(&mut self, tx: &Transaction<'_>, related: &mut RelatedCounts) -> Result<(), DbError>;
    /// The batch committed: hand the output to the caller.
    fn deliver(self: Box<Self>);
    /// The write could not be committed.
    fn fail(self: Box<Self>, err: StoreError);
}

struct TypedJob<O: WriteOp> {
    op: O,
    output: Option<O::Output>,
    reply: oneshot::Sender<Result<O::Output, StoreError>>,
}

impl<O: WriteOp> Job for TypedJob<O> {
    fn run(&mut self, tx: &Transaction<'_>, related: &mut RelatedCounts) -> Result<(), DbError> {
        self.output = Some(self.op.apply(&mut SqliteTx::writer(tx, related))?);
        Ok(())
    }

    fn deliver(self: Box<Self>) {
        let this = *self;
        let result = this
            .output
            .ok_or_else(|| StoreError::Internal("write committed without an output".into()));
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = this.reply.send(result);
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

/// Cheap handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// WAL size (in pages: 256 MiB of 4 KiB pages, the `journal_size_limit`) past which the
/// writer checkpoints itself.
const WAL_CATCH_UP_PAGES: i64 = 65_536;

/// Opens the write connection with the pragmas every write relies on.
pub fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // With WAL, NORMAL is durable against a crash of this process; a power loss may lose
    // the last commits but never corrupts the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 16 MiB of page cache: the hot B-tree pages of every table stay in memory (the OS
    // page cache holds the rest). Not more: every commit walks the cache's hash table
    // (pcache1Truncate), and at 64 MiB that walk was 9% of the server's CPU under load.
    conn.pragma_update(None, "cache_size", -16_384)?;
    // Checkpoints (copying the WAL back into the database file, with an fsync) run on
    // their own thread, off the path of every write; see `start_checkpointer`. But
    // SQLite restarts the WAL from its beginning only when a write transaction starts
    // with every frame already copied, and under sustained load that thread never
    // catches up with a writer that never pauses: the WAL grew by ~140 MB/s in the
    // benchmark (past 1 GB in 8 s), and every frame went to a freshly allocated, zeroed
    // page of the file (a quarter of the writer's time). So once the WAL holds this
    // many pages the writer itself checkpoints, between two batches, the few frames the
    // checkpointer has not copied yet; the next batch then rewrites the WAL from the
    // start, in pages the OS already holds. That catch-up pauses every write for its
    // copy and two fsyncs: at a 64 MiB bound it came three times a second under a
    // signup burst and took the webhook's p99 from 9 to 40 ms; at 256 MiB it is rare.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CATCH_UP_PAGES)?;
    // Once a checkpoint lets the WAL restart, shrink the file back to this size.
    conn.pragma_update(None, "journal_size_limit", WAL_CATCH_UP_PAGES * 4096)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// How often the checkpointer looks at an idle WAL.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// How soon it runs again while writes keep coming (frames were left to copy).
const CHECKPOINT_BUSY_INTERVAL: Duration = Duration::from_millis(20);

/// Checkpoints the WAL from a connection of its own, so the writer rarely pays for it.
///
/// A PASSIVE checkpoint never blocks the writer or readers; it copies what it can. While
/// writes keep coming it runs again soon, so that when the WAL reaches
/// `WAL_CATCH_UP_PAGES` the writer's own checkpoint finds almost everything copied.
/// The thread stops when `stop` is dropped, after a last checkpoint.
pub fn start_checkpointer(
    path: &Path,
    stop: std::sync::mpsc::Receiver<()>,
) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Whether frames were left to copy: PRAGMA wal_checkpoint answers
    // (busy, frames in the WAL, frames copied).
    let checkpoint = move || -> bool {
        let counts = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match counts {
            Ok((frames, copied)) => copied < frames,
            Err(err) => {
                tracing::warn!(error = %err, "WAL checkpoint failed; will retry");
                false
            }
        }
    };
    std::thread::Builder::new()
        .name("naano-checkpoint".into())
        .spawn(move || {
            let mut behind = false;
            loop {
                let wait = if behind {
                    CHECKPOINT_BUSY_INTERVAL
                } else {
                    CHECKPOINT_INTERVAL
                };
                match stop.recv_timeout(wait) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => behind = checkpoint(),
                    _ => break,
                }
            }
            checkpoint();
        })
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(())
}

impl Writer {
    /// Starts the writer thread on `conn`, with the related-inference counts of its
    /// file. The returned receiver resolves once every handle has been dropped and the
    /// queued writes are committed.
    pub fn start(
        conn: Connection,
        related: RelatedCounts,
        max_batch: usize,
        checkpointer: std::sync::mpsc::Sender<()>,
    ) -> std::io::Result<(Self, oneshot::Receiver<()>)> {
        // The queue bounds memory under overload: callers wait for room (backpressure)
        // instead of piling up unbounded work.
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 8);
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("naano-writer".into())
            .spawn(move || {
                run(conn, related, rx, max_batch);
                // Stops the checkpointer after one last checkpoint.
                drop(checkpointer);
                let _ = done_tx.send(());
            })?;
        Ok((Self { jobs: tx }, done_rx))
    }

    /// Queues `op` and waits until the transaction that holds it has committed.
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Output, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            op,
            output: None,
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has shut down".into()))?;
        answer.await.map_err(|_| {
            StoreError::Internal("the writer dropped a write without answering".into())
        })?
    }
}

fn run(
    mut conn: Connection,
    mut related: RelatedCounts,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        drain(&mut rx, &mut batch, max_batch);
        commit_batch(&mut conn, &mut related, &mut batch);
    }
    tracing::debug!("writer stopped: every handle dropped and every write committed");
}

fn drain(rx: &mut mpsc::Receiver<Box<dyn Job>>, batch: &mut Vec<Box<dyn Job>>, max_batch: usize) {
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

fn commit_batch(conn: &mut Connection, related: &mut RelatedCounts, batch: &mut Vec<Box<dyn Job>>) {
    match run_in_transaction(conn, related, batch) {
        Ok(()) => batch.drain(..).for_each(|job| job.deliver()),
        Err(err) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                job.fail(StoreError::from(err));
            }
        }
        Err(err) => {
            tracing::debug!(error = %err, size = batch.len(), "batch failed; retrying its writes one by one");
            for job in batch.drain(..) {
                let mut single = [job];
                let result = run_in_transaction(conn, related, &mut single);
                let [job] = single;
                match result {
                    Ok(()) => job.deliver(),
                    Err(err) => job.fail(StoreError::from(err)),
                }
            }
        }
    }
}

/// Runs `jobs` in one transaction; the related-inference counts follow its fate.
fn run_in_transaction(
    conn: &mut Connection,
    related: &mut RelatedCounts,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), DbError> {
    related.begin();
    let result = run_jobs(conn, related, jobs);
    match result {
        Ok(()) => related.commit(),
        Err(_) => related.rollback(),
    }
    result
}

fn run_jobs(
    conn: &mut Connection,
    related: &mut RelatedCounts,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), DbError> {
    // IMMEDIATE takes the write lock up front, so an outside writer (the sqlite3 shell,
    // a backup tool) makes us wait `busy_timeout` instead of failing mid-transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in jobs.iter_mut() {
        job.run(&tx, related)?;
    }
    // Dropping `tx` on an error above rolls it back.
    Ok(tx.commit()?)
}
