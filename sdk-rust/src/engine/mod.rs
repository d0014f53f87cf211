//! The background engine: one thread with a small current-thread tokio runtime, one
//! pooled HTTP client, and a task per event.
//!
//! An engine belongs to one process generation (see [`crate::fork`]); everything it
//! shares with callers lives in [`Shared`], which a forked child never touches again.

mod delivery;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use naano_core::ValidSignup;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use crate::config::Config;
use crate::error::{SignupOutcome, TrackError};
use crate::stats::{Counters, Failure, FailureLog};

/// Called once, on the engine thread, with the event's final result. Must be quick and
/// must not call into a host language (bindings push into a channel of their own).
pub(crate) type Reply = Box<dyn FnOnce(Result<SignupOutcome, TrackError>) + Send + Sync + 'static>;

/// One signup to deliver.
pub(crate) struct Event {
    /// UUIDv7, sent as `Idempotency-Key` on every attempt.
    pub id: String,
    /// Order of acceptance, for flush.
    pub seq: u64,
    pub signup: ValidSignup,
    /// When the event stops trying.
    pub deadline: Instant,
    /// Set for `track_signup_and_wait`.
    pub reply: Option<Reply>,
}

enum Msg {
    Event(Event),
    /// Answer `true` once every event accepted before `target` has finished.
    Flush {
        target: u64,
        deadline: Instant,
        reply: oneshot::Sender<bool>,
    },
    Stop,
}

/// What callers and the engine thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub counters: Counters,
    pub failures: FailureLog,
    next_seq: AtomicU64,
    outstanding: AtomicUsize,
    /// Sequence numbers of accepted, unfinished events.
    pending: Mutex<BTreeSet<u64>>,
    finished: Condvar,
    finished_async: Notify,
    /// Random bits of event ids. Seeded from the OS when the engine starts, so a forked
    /// child (which gets an engine of its own) never repeats its parent's ids; a
    /// process-wide thread RNG would be copied by fork() and produce the same ids.
    id_rng: Mutex<fastrand::Rng>,
}

impl Shared {
    fn new(config: &Config) -> Self {
        let mut seed = [0u8; 8];
        let seed = match getrandom::fill(&mut seed) {
            Ok(()) => u64::from_le_bytes(seed),
            // No OS randomness: time and pid still differ between parent and child.
            Err(_) => {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
                    ^ u64::from(std::process::id())
            }
        };
        Self {
            id_rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            counters: Counters::default(),
            failures: FailureLog::new(config.failure_log_capacity),
            next_seq: AtomicU64::new(0),
            outstanding: AtomicUsize::new(0),
            pending: Mutex::new(BTreeSet::new()),
            finished: Condvar::new(),
            finished_async: Notify::new(),
        }
    }

    /// Whether every event accepted before `target` has finished.
    fn flushed(&self, target: u64) -> bool {
        self.pending
            .lock()
            .map(|p| p.range(..target).next().is_none())
            .unwrap_or(true)
    }

    /// A UUIDv7 event id: time-ordered, with 74 random bits from this engine's RNG.
    fn new_event_id(&self) -> String {
        let random = self
            .id_rng
            .lock()
            .map(|mut rng| rng.u128(..))
            .unwrap_or_else(|_| fastrand::u128(..));
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut bits = [0u8; 10];
        bits.copy_from_slice(&random.to_le_bytes()[..10]);
        uuid::Builder::from_unix_timestamp_millis(millis, &bits)
            .into_uuid()
            .to_string()
    }

    fn finish(&self, seq: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&seq);
        }
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        self.finished.notify_all();
        self.finished_async.notify_waiters();
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// An engine of one process generation.
#[derive(Debug)]
pub(crate) struct Engine {
    pub generation: u64,
    pub pid: u32,
    pub shared: Arc<Shared>,
    config: Arc<Config>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Engine {
    /// Starts the engine thread.
    pub fn start(config: Arc<Config>, generation: u64, pid: u32) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(&config));
        let (tx, rx) = mpsc::unbounded_channel();
        let thread_shared = Arc::clone(&shared);
        let thread_config = Arc::clone(&config);
        std::thread::Builder::new()
            .name("naano-engine".into())
            .spawn(move || run(thread_config, thread_shared, rx))?;
        Ok(Self {
            generation,
            pid,
            shared,
            config,
            tx,
        })
    }

    /// Accepts an event without ever waiting: a full queue drops it (and counts it).
    pub fn enqueue(&self, signup: ValidSignup, reply: Option<Reply>) -> Result<String, TrackError> {
        let shared = &self.shared;
        if shared.outstanding.fetch_add(1, Ordering::AcqRel) >= self.config.queue_capacity {
            shared.outstanding.fetch_sub(1, Ordering::AcqRel);
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(TrackError::QueueFull);
        }
        let seq = shared.next_seq.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut pending) = shared.pending.lock() {
            pending.insert(seq);
        }
        shared.counters.queued.fetch_add(1, Ordering::Relaxed);
        let id = shared.new_event_id();
        let deadline = Instant::now() + self.config.retry.event_deadline;
        let event = Event {
            id: id.clone(),
            seq,
            signup,
            deadline,
            reply,
        };
        if let Err(mpsc::error::SendError(Msg::Event(event))) = self.tx.send(Msg::Event(event)) {
            // The engine thread is gone (it could not start its runtime).
            shared.finish(event.seq);
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Err(TrackError::ShutDown);
        }
        Ok(id)
    }

    /// The sequence number the next event will get: flushing to it covers everything
    /// accepted so far.
    pub fn flush_target(&self) -> u64 {
        self.shared.next_seq.load(Ordering::Acquire)
    }

    /// Blocks until every event accepted so far has finished, or `timeout` passes.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let target = self.flush_target();
        let Ok(pending) = self.shared.pending.lock() else {
            return false;
        };
        match self
            .shared
            .finished
            .wait_timeout_while(pending, timeout, |p| p.range(..target).next().is_some())
        {
            Ok((_, result)) => !result.timed_out(),
            Err(_) => false,
        }
    }

    /// Waits (under any executor) until every event accepted so far has finished, or
    /// `timeout` passes. The engine keeps the time, so the caller needs no timer.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = self.flush_target();
        if self.shared.flushed(target) {
            return true;
        }
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + timeout;
        if self
            .tx
            .send(Msg::Flush {
                target,
                deadline,
                reply,
            })
            .is_err()
        {
            return self.shared.flushed(target);
        }
        answer.await.unwrap_or(false)
    }

    /// Asks the engine thread to stop once it has read what is queued before this.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

fn run(config: Arc<Config>, shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "naano: cannot start the engine runtime; events will fail");
            return;
        }
    };
    runtime.block_on(async move {
        let http = match delivery::http_client(&config) {
            Ok(http) => http,
            Err(err) => {
                tracing::error!(error = %err, "naano: cannot build the HTTP client; events will fail");
                return;
            }
        };
        let slots = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Event(event) => {
                    let (http, config, shared, slots) =
                        (http.clone(), Arc::clone(&config), Arc::clone(&shared), Arc::clone(&slots));
                    tasks.spawn(async move { deliver_event(event, &http, &config, &shared, &slots).await });
                }
                Msg::Flush { target, deadline, reply } => {
                    let shared = Arc::clone(&shared);
                    tasks.spawn(async move {
                        let _ = reply.send(wait_flushed(&shared, target, deadline).await);
                    });
                }
                Msg::Stop => break,
            }
            // Reap finished tasks so the set only holds live ones.
            while tasks.try_join_next().is_some() {}
        }
        // Whatever is still running was not flushed in time: it is abandoned (and its
        // waiters told so) when the runtime drops its tasks.
        let abandoned = tasks.len();
        if abandoned > 0 {
            tracing::warn!(abandoned, "naano: engine stopped with events still in flight");
        }
    });
}

async fn wait_flushed(shared: &Shared, target: u64, deadline: Instant) -> bool {
    loop {
        let notified = shared.finished_async.notified();
        if shared.flushed(target) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        if tokio::time::timeout(deadline - now, notified)
            .await
            .is_err()
        {
            return shared.flushed(target);
        }
    }
}

async fn deliver_event(
    mut event: Event,
    http: &reqwest::Client,
    config: &Config,
    shared: &Shared,
    slots: &Semaphore,
) {
    let result = delivery::deliver(http, config, &shared.counters, slots, &event).await;
    match &result {
        Ok(_) => {
            shared.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(event_id = %event.id, %error, "naano: signup not delivered");
        }
    }
    // A waiting caller receives its error directly; the log is for events nobody awaits.
    if let (Err(error), None) = (&result, &event.reply) {
        shared.failures.push(Failure {
            event_id: event.id.clone(),
            session_id: event.signup.session_id.clone(),
            error: error.clone(),
            at: SystemTime::now(),
        });
    }
    // Finished before the caller hears back: whoever awaited this event must find the
    // counters (and a flush) already accounting for it when its call resolves.
    let reply = event.reply.take();
    shared.finish(event.seq);
    if let Some(reply) = reply {
        reply(result);
    }
}
