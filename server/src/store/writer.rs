//! Group commit: one task owns SQLite's single write connection and commits whatever
//! writes are waiting together, in one transaction.
//!
//! SQLite allows one writer at a time, and every sqlx statement hops to the
//! connection's worker thread, so one transaction per request spends most of its time
//! on `BEGIN`/`COMMIT` round trips and on waiting for the write lock. Here a request
//! hands its write to the writer and is answered only after the batch that holds it
//! has committed: the same durability as a transaction of its own, at a fraction of
//! the cost under load, and with no `SQLITE_BUSY` since nothing else writes.
//!
//! Writes in a batch run one after the other, so each sees the effects of the ones
//! before it exactly as if they had been serialised. If any of them fails, the whole
//! batch is rolled back and each write is retried in a transaction of its own, so one
//! bad write never fails its neighbours and no write is ever half-applied.

use std::future::Future;
use std::pin::Pin;

use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// One unit of work run inside the writer's transaction. `apply` may run more than once
/// (when its batch is retried), so it takes `&self` and must derive everything it writes
/// from its own fields and the database.
pub trait WriteOp: Send + Sync + 'static {
    /// What the caller gets back once the write has committed.
    type Output: Send + 'static;

    /// Runs the write on the writer's connection, inside an open transaction.
    fn apply<'c>(
        &'c self,
        conn: &'c mut SqliteConnection,
    ) -> impl Future<Output = Result<Self::Output, sqlx::Error>> + Send + 'c;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A [`WriteOp`] with its reply channel, with the output type erased.
trait Job: Send {
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
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
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            self.output = Some(self.op.apply(conn).await?);
            Ok(())
        })
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

/// Cheap handle to the writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Writer {
    /// Starts the writer task on `conn`; it ends when every handle has been dropped and
    /// the queued writes are committed.
    pub fn start(conn: SqliteConnection, max_batch: usize) -> (Self, tokio::task::JoinHandle<()>) {
        // The queue bounds memory under overload: callers wait for room (backpressure)
        // instead of piling up unbounded work.
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
        let task = tokio::spawn(run(conn, rx, max_batch.max(1)));
        (Self { jobs: tx }, task)
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

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Box<dyn Job>>, max_batch: usize) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        commit_batch(&mut conn, &mut batch).await;
    }
    tracing::debug!("writer stopped: every handle dropped and every write committed");
}

async fn commit_batch(conn: &mut SqliteConnection, batch: &mut Vec<Box<dyn Job>>) {
    match run_in_transaction(conn, batch).await {
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
                let result = run_in_transaction(conn, &mut single).await;
                let [job] = single;
                match result {
                    Ok(()) => job.deliver(),
                    Err(err) => job.fail(StoreError::from(err)),
                }
            }
        }
    }
}

async fn run_in_transaction(
    conn: &mut SqliteConnection,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), sqlx::Error> {
    // IMMEDIATE takes the write lock up front, so an outside writer (the sqlite3 shell,
    // a backup tool) makes us wait `busy_timeout` instead of failing mid-transaction.
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut outcome = Ok(());
    for job in jobs.iter_mut() {
        if let Err(err) = job.run(conn).await {
            outcome = Err(err);
            break;
        }
    }
    if outcome.is_ok() {
        outcome = sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ());
    }
    if outcome.is_err() {
        if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            // "no transaction is active" after a failed COMMIT that already rolled back.
            tracing::debug!(error = %rollback, "rollback after a failed write");
        }
    }
    outcome
}
