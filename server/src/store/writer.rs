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
//! Clicks are the exception: the redirect is acknowledged once its click is in the
//! click journal (see `click_journal`), and the writer applies journaled clicks in the
//! same queue, in journal order. Since nobody waits for those, a batch holding only
//! clicks is left to gather for a moment ([`DEFAULT_CLICK_LINGER`]); a waiting write ends that at
//! once. Every write and read queued after a click sees it.
//!
//! Writes in a batch run one after the other, so each sees the effects of the ones
//! before it exactly as if they had been serialised. If any of them fails, the whole
//! batch is rolled back and each write is retried in a transaction of its own, so one
//! bad write never fails its neighbours and no write is ever half-applied.

use std::path::Path;
use std::sync::atomic::{fence, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{oneshot, Semaphore};

use super::click_journal::ClickJournal;
use super::clicks::RecordClick;
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

/// What the writer's queue carries, in the order the writer applies them.
enum Item {
    /// A write whose caller waits for the commit.
    Job(Box<dyn Job>),
    /// A click already acknowledged from the click journal, line `seq`: no caller
    /// waits for it.
    Click { click: Box<RecordClick>, seq: u64 },
}

impl Item {
    fn run(&mut self, tx: &Transaction<'_>, related: &mut RelatedCounts) -> Result<(), DbError> {
        match self {
            Self::Job(job) => job.run(tx, related),
            Self::Click { click, .. } => click.apply(&mut SqliteTx::writer(tx, related)),
        }
    }
}

/// A write that does nothing: once it has committed, so has everything queued before it.
struct Barrier;

impl WriteOp for Barrier {
    type Output = ();

    fn apply(&self, _tx: &mut dyn Tx) -> Result<(), DbError> {
        Ok(())
    }
}

/// The writer thread is working: senders need not wake it.
const RUNNING: u8 = 0;
/// It holds only journaled clicks and waits a moment for more: only a
/// waiting write wakes it.
const LINGERING: u8 = 1;
/// It has nothing to do: anything queued wakes it.
const IDLE: u8 = 2;

/// How long the writer lets journaled clicks gather, by default, while no caller waits for a commit.
/// The clicks are acknowledged already, so this delays only when reads see them (and a
/// read waits for them, see [`Writer::catch_up`]). Committed one small batch at a
/// time, clicks kept every visitor waiting for the writer and cost it a commit per few
/// clicks; gathered, a commit holds hundreds and fills each page it writes.
pub const DEFAULT_CLICK_LINGER: Duration = Duration::from_millis(2);

/// State shared by the handles and the writer thread.
#[derive(Debug)]
struct Shared {
    state: AtomicU8,
    /// Journaled clicks queued and not yet committed.
    pending_clicks: AtomicUsize,
    /// Room in the queue, a permit per item. It bounds memory under overload: callers
    /// wait for room (backpressure) instead of piling up unbounded work.
    room: Semaphore,
    journal: ClickJournal,
}

/// Cheap handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    handle: Arc<Handle>,
}

struct Handle {
    queue: Option<mpsc::Sender<Item>>,
    thread: std::thread::Thread,
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: close the queue and wake the thread to finish it.
        self.queue.take();
        self.thread.unpark();
    }
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
    /// file and its click journal (replayed already, see [`replay`]). The returned
    /// receiver resolves once every handle has been dropped and the queued writes are
    /// committed.
    pub fn start(
        conn: Connection,
        related: RelatedCounts,
        journal: ClickJournal,
        settings: super::SqliteSettings,
        checkpointer: std::sync::mpsc::Sender<()>,
    ) -> std::io::Result<(Self, oneshot::Receiver<()>)> {
        let max_batch = settings.max_batch.max(1);
        let (queue, rx) = mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            state: AtomicU8::new(RUNNING),
            pending_clicks: AtomicUsize::new(0),
            room: Semaphore::new(max_batch * 16),
            journal,
        });
        let mut writer = WriterThread {
            conn,
            related,
            rx,
            shared: Arc::clone(&shared),
            max_batch,
            click_linger: settings.click_linger,
            applied_seq: 0,
            stalled: false,
        };
        let thread = std::thread::Builder::new()
            .name("naano-writer".into())
            .spawn(move || {
                writer.run();
                writer.close_journal();
                // Stops the checkpointer after one last checkpoint.
                drop(checkpointer);
                let _ = done_tx.send(());
            })?
            .thread()
            .clone();
        let handle = Handle {
            queue: Some(queue),
            thread,
            shared,
        };
        Ok((
            Self {
                handle: Arc::new(handle),
            },
            done_rx,
        ))
    }

    /// Queues `op` and waits until the transaction that holds it has committed.
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Output, StoreError> {
        self.reserve().await?;
        let (reply, answer) = oneshot::channel();
        self.push(Item::Job(Box::new(TypedJob {
            op,
            output: None,
            reply,
        })))?;
        answer.await.map_err(|_| {
            StoreError::Internal("the writer dropped a write without answering".into())
        })?
    }

    /// Records a click through the click journal: returns once its line is written,
    /// and the writer commits it soon after, before any write or read queued later.
    pub async fn record_click(&self, click: RecordClick) -> Result<(), StoreError> {
        let line = ClickJournal::encode(&click).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.reserve().await?;
        let shared = &self.handle.shared;
        let mut queued = Ok(());
        let appended = shared.journal.append(&line, |seq| {
            shared.pending_clicks.fetch_add(1, Ordering::SeqCst);
            // Fails only while the server shuts down: the line is in the journal, and
            // the next start commits it.
            queued = self.push(Item::Click {
                click: Box::new(click),
                seq,
            });
        });
        if let Err(err) = appended {
            shared.room.add_permits(1);
            return Err(StoreError::Unavailable(err.to_string()));
        }
        queued
    }

    /// Returns once every click acknowledged so far is committed: what a read waits for
    /// first, so that it sees every click answered before it.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        if self.handle.shared.pending_clicks.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        self.write(Barrier).await
    }

    /// Takes a place in the queue.
    async fn reserve(&self) -> Result<(), StoreError> {
        self.handle
            .shared
            .room
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the writer has shut down".into()))?
            .forget();
        Ok(())
    }

    /// Queues `item` (its place reserved) and wakes the thread if it would sleep
    /// through it: anything wakes it when idle, a waiting write while it lingers.
    fn push(&self, item: Item) -> Result<(), StoreError> {
        let handle = &*self.handle;
        let waiting = matches!(item, Item::Job(_));
        let sent = handle
            .queue
            .as_ref()
            .is_some_and(|queue| queue.send(item).is_ok());
        if !sent {
            handle.shared.room.add_permits(1);
            return Err(StoreError::Unavailable("the writer has shut down".into()));
        }
        // Pairs with the fence in `WriterThread::sleep`: either the thread finds this
        // item when it looks again before sleeping, or this finds its state and wakes it.
        fence(Ordering::SeqCst);
        match handle.shared.state.load(Ordering::SeqCst) {
            IDLE => handle.thread.unpark(),
            LINGERING if waiting => handle.thread.unpark(),
            _ => {}
        }
        Ok(())
    }
}

/// The writer thread's side.
struct WriterThread {
    conn: Connection,
    related: RelatedCounts,
    rx: mpsc::Receiver<Item>,
    shared: Arc<Shared>,
    max_batch: usize,
    click_linger: Duration,
    /// Every journaled click up to this line is committed.
    applied_seq: u64,
    /// A journaled click could not be committed: the journal keeps its line and every
    /// later one for the next start to retry, so `applied_seq` stops before it.
    stalled: bool,
}

/// The writes taken from the queue for the next transaction, and what taking them saw.
struct Batch {
    items: Vec<Item>,
    /// A caller waits for one of `items`: commit without gathering more.
    waiting: bool,
    /// Every handle is gone: commit what is left, then stop.
    closed: bool,
    /// When the first of `items` was taken (clicks gather from then on).
    since: Instant,
}

impl WriterThread {
    fn run(&mut self) {
        let mut batch = Batch {
            items: Vec::with_capacity(self.max_batch),
            waiting: false,
            closed: false,
            since: Instant::now(),
        };
        loop {
            self.drain(&mut batch);
            if batch.items.is_empty() {
                if batch.closed {
                    break;
                }
                self.sleep(IDLE, &mut batch, None);
                continue;
            }
            let lingered = batch.since.elapsed();
            let gathering = !batch.waiting && !batch.closed && batch.items.len() < self.max_batch;
            if gathering && lingered < self.click_linger {
                self.sleep(LINGERING, &mut batch, Some(self.click_linger - lingered));
                continue;
            }
            self.commit_batch(&mut batch.items);
            batch.waiting = false;
        }
        tracing::debug!("writer stopped: every handle dropped and every write committed");
    }

    /// Takes what is queued, up to a full batch. Returns whether it took anything.
    fn drain(&mut self, batch: &mut Batch) -> bool {
        let before = batch.items.len();
        while batch.items.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(item) => {
                    if batch.items.is_empty() {
                        batch.since = Instant::now();
                    }
                    batch.waiting |= matches!(item, Item::Job(_));
                    batch.items.push(item);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    batch.closed = true;
                    break;
                }
            }
        }
        batch.items.len() > before
    }

    /// Sleeps in `state` (at most `timeout`), unless a last look at the queue finds
    /// what that state must not sleep through.
    fn sleep(&mut self, state: u8, batch: &mut Batch, timeout: Option<Duration>) {
        self.shared.state.store(state, Ordering::SeqCst);
        // Pairs with the fence in `Writer::push`.
        fence(Ordering::SeqCst);
        let took = self.drain(batch);
        let wake_now = batch.waiting
            || batch.closed
            || batch.items.len() >= self.max_batch
            || (state == IDLE && took);
        if !wake_now {
            match timeout {
                Some(timeout) => std::thread::park_timeout(timeout),
                None => std::thread::park(),
            }
        }
        self.shared.state.store(RUNNING, Ordering::SeqCst);
    }

    fn commit_batch(&mut self, batch: &mut Vec<Item>) {
        match run_in_transaction(&mut self.conn, &mut self.related, batch) {
            Ok(()) => {
                for item in batch.drain(..) {
                    self.finish(item, Ok(()));
                }
            }
            Err(err) if batch.len() == 1 => {
                if let Some(item) = batch.pop() {
                    self.finish(item, Err(err));
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, size = batch.len(), "batch failed; retrying its writes one by one");
                for item in std::mem::take(batch) {
                    let mut single = [item];
                    let result = run_in_transaction(&mut self.conn, &mut self.related, &mut single);
                    let [item] = single;
                    self.finish(item, result);
                }
            }
        }
        if !self.stalled {
            if let Err(err) = self.shared.journal.applied_through(self.applied_seq) {
                tracing::warn!(error = %err, "cannot delete a committed click-journal segment; will retry");
            }
        }
    }

    /// `item`'s transaction committed (`Ok`) or failed: answers its caller, or moves the
    /// journal's mark past it.
    fn finish(&mut self, item: Item, result: Result<(), DbError>) {
        match (item, result) {
            (Item::Job(job), Ok(())) => job.deliver(),
            (Item::Job(job), Err(err)) => job.fail(StoreError::from(err)),
            (Item::Click { seq, .. }, Ok(())) => {
                self.shared.pending_clicks.fetch_sub(1, Ordering::SeqCst);
                if !self.stalled {
                    self.applied_seq = seq;
                }
            }
            (Item::Click { click, seq }, Err(err)) => {
                self.shared.pending_clicks.fetch_sub(1, Ordering::SeqCst);
                self.stalled = true;
                tracing::error!(error = %err, click_id = %click.click_id, session_id = %click.session_id, seq,
                    "cannot commit a journaled click; the journal keeps it for the next start");
            }
        }
        self.shared.room.add_permits(1);
    }

    /// The writer stopped: an empty journal's files go.
    fn close_journal(&self) {
        if self.stalled {
            return;
        }
        if let Err(err) = self.shared.journal.close(self.applied_seq) {
            tracing::warn!(error = %err, "cannot delete the click journal's last segment");
        }
    }
}

/// How many clicks [`replay`] commits per transaction.
const REPLAY_BATCH: usize = 1024;

/// Commits the clicks a previous process journaled, before the writer starts: each one
/// not yet in the database is recorded (a click whose id is there is skipped, so a
/// click committed before the process stopped counts once). Returns how many the
/// database refused (a broken constraint, which no retry can mend: logged and dropped).
pub fn replay(
    conn: &mut Connection,
    related: &mut RelatedCounts,
    clicks: Vec<RecordClick>,
) -> Result<usize, DbError> {
    let mut refused = 0;
    let mut items: Vec<Item> = clicks
        .into_iter()
        .map(|click| Item::Click {
            click: Box::new(click),
            seq: 0,
        })
        .collect();
    for chunk in items.chunks_mut(REPLAY_BATCH) {
        if run_in_transaction(conn, related, chunk).is_ok() {
            continue;
        }
        for item in chunk.iter_mut() {
            match run_in_transaction(conn, related, std::slice::from_mut(item)) {
                Ok(()) => {}
                Err(DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    if let Item::Click { click, .. } = item {
                        tracing::error!(error = %e, click_id = %click.click_id, "journaled click refused by the database; dropped");
                    }
                    refused += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(refused)
}

/// Runs `items` in one transaction; the related-inference counts follow its fate.
fn run_in_transaction(
    conn: &mut Connection,
    related: &mut RelatedCounts,
    items: &mut [Item],
) -> Result<(), DbError> {
    related.begin();
    let result = run_items(conn, related, items);
    match result {
        Ok(()) => related.commit(),
        Err(_) => related.rollback(),
    }
    result
}

fn run_items(
    conn: &mut Connection,
    related: &mut RelatedCounts,
    items: &mut [Item],
) -> Result<(), DbError> {
    // IMMEDIATE takes the write lock up front, so an outside writer (the sqlite3 shell,
    // a backup tool) makes us wait `busy_timeout` instead of failing mid-transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for item in items.iter_mut() {
        item.run(&tx, related)?;
    }
    // Dropping `tx` on an error above rolls it back.
    Ok(tx.commit()?)
}
