//! The `Client` handle: validation on the caller's thread, everything else on the engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use naano_core::SignupRequest;
use tokio::sync::oneshot;

use crate::config::{Config, RetryPolicy};
use crate::engine::Engine;
use crate::error::{SignupOutcome, TrackError};
use crate::fork;
use crate::stats::{Failure, Stats};

/// A Naano client: cheap to clone, `Send + Sync`, usable from sync code, from any async
/// runtime, and after `fork()`.
///
/// Its engine (a thread with a small runtime and a pooled HTTP client) starts on first use.
/// Dropping the last handle waits briefly (see [`ClientBuilder::drop_flush_timeout`]) for
/// queued events.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    engine: ArcSwapOption<Engine>,
    shut_down: AtomicBool,
}

impl Default for Client {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Client {
    /// A client configured from the environment (`NAANO_BASE_URL`) and defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            config: Config::default(),
        }
    }

    /// The server this client sends to.
    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }

    /// Records a signup in the background and returns at once with the event id.
    ///
    /// Validation runs here (an invalid signup is the caller's bug: [`TrackError::Invalid`],
    /// nothing sent). Then the event is queued; this never blocks and never waits on the
    /// network. A full queue drops the event ([`TrackError::QueueFull`], counted in
    /// [`Stats::dropped`]). Delivery, retries and backoff happen on the engine.
    pub fn track_signup(&self, signup: SignupRequest) -> Result<String, TrackError> {
        let valid = signup.validate()?;
        self.engine()?.enqueue(valid, None)
    }

    /// The same delivery, retries included, waiting for the server's final answer.
    ///
    /// Works under any executor: the engine does the work and the timing, this future only
    /// waits for its answer.
    pub async fn track_signup_and_wait(
        &self,
        signup: SignupRequest,
    ) -> Result<SignupOutcome, TrackError> {
        let (reply, answer) = oneshot::channel();
        self.track_signup_then(signup, move |result| {
            let _ = reply.send(result);
        })?;
        answer.await.unwrap_or(Err(TrackError::ShutDown))
    }

    /// Like [`Client::track_signup`], and `on_done` receives the final result.
    ///
    /// `on_done` runs once, on the engine thread: it must be quick and must not call into
    /// a host language (a binding pushes the result into a channel its own side drains).
    /// It is not called when validation or queueing fails; that error is returned here.
    pub fn track_signup_then(
        &self,
        signup: SignupRequest,
        on_done: impl FnOnce(Result<SignupOutcome, TrackError>) + Send + Sync + 'static,
    ) -> Result<String, TrackError> {
        let valid = signup.validate()?;
        self.engine()?.enqueue(valid, Some(Box::new(on_done)))
    }

    /// Waits until every event queued so far is delivered or given up, for at most
    /// `timeout`; `true` if everything finished. Works under any executor.
    pub async fn flush(&self, timeout: Duration) -> bool {
        match self.current_engine() {
            Some(engine) => engine.flush(timeout).await,
            None => true,
        }
    }

    /// [`Client::flush`] for synchronous code: blocks the calling thread.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        match self.current_engine() {
            Some(engine) => engine.flush_blocking(timeout),
            None => true,
        }
    }

    /// Flushes for at most `timeout`, then stops the engine; later calls answer
    /// [`TrackError::ShutDown`]. Returns whether everything was delivered or given up.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shut_down.store(true, Ordering::Release);
        let flushed = self.flush(timeout).await;
        if let Some(engine) = self.current_engine() {
            engine.stop();
        }
        flushed
    }

    /// [`Client::shutdown`] for synchronous code.
    pub fn shutdown_blocking(&self, timeout: Duration) -> bool {
        self.inner.shut_down.store(true, Ordering::Release);
        let flushed = self.flush_blocking(timeout);
        if let Some(engine) = self.current_engine() {
            engine.stop();
        }
        flushed
    }

    /// Counters of this process's engine.
    pub fn stats(&self) -> Stats {
        self.current_engine()
            .map(|e| e.shared.counters.snapshot())
            .unwrap_or_default()
    }

    /// Removes and returns the failures of fire-and-forget events (those of
    /// [`Client::track_signup`]; an awaited call gets its error directly) recorded since the
    /// last call, at most the configured capacity, newest kept. Bindings drain this from their own side to feed
    /// a logger or an error callback; the engine never calls back into the host.
    pub fn take_failures(&self) -> Vec<Failure> {
        self.current_engine()
            .map(|e| e.shared.failures.take())
            .unwrap_or_default()
    }

    /// The engine of this process, starting one if there is none yet (or the one there
    /// was inherited through `fork()`).
    fn engine(&self) -> Result<Arc<Engine>, TrackError> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(TrackError::ShutDown);
        }
        if let Some(engine) = self.current_engine() {
            return Ok(engine);
        }
        let (generation, pid) = (fork::generation(), fork::pid());
        let fresh = Arc::new(
            Engine::start(Arc::clone(&self.inner.config), generation, pid).map_err(|e| {
                TrackError::Transport(format!("cannot start the engine thread: {e}"))
            })?,
        );
        let seen = self.inner.engine.load_full();
        let previous = self
            .inner
            .engine
            .compare_and_swap(&seen, Some(Arc::clone(&fresh)));
        let won = match (&*previous, &seen) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !won {
            // Another thread started one first: use it; ours stops when dropped here.
            fresh.stop();
            return self.current_engine().ok_or(TrackError::ShutDown);
        }
        if let Some(inherited) = seen {
            // From the parent process: its thread does not exist here and its locks may be
            // held forever. Never drop or lock it; the parent delivers its own events.
            std::mem::forget(inherited);
        }
        Ok(fresh)
    }

    /// The engine if it belongs to this process.
    fn current_engine(&self) -> Option<Arc<Engine>> {
        let engine = self.inner.engine.load_full()?;
        (engine.generation == fork::generation() && engine.pid == fork::pid()).then_some(engine)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(engine) = self.engine.swap(None) else {
            return;
        };
        if engine.generation != fork::generation() || engine.pid != fork::pid() {
            std::mem::forget(engine);
            return;
        }
        if !self.shut_down.load(Ordering::Acquire) {
            engine.flush_blocking(self.config.drop_flush_timeout);
        }
        engine.stop();
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    config: Config,
}

impl ClientBuilder {
    /// Base URL of the Naano server (default: `NAANO_BASE_URL`, else the hosted service).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.config.base_url = url.into().trim().trim_end_matches('/').to_owned();
        self
    }

    /// Timeout of one HTTP attempt (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Connect timeout (default 3 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Most events waiting or in flight (default 10 000); beyond it events are dropped.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity.max(1);
        self
    }

    /// Most HTTP requests in flight (default 32).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.config.max_concurrency = n.max(1);
        self
    }

    /// Retry schedule.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// `User-Agent` (default `naano-rust/<version>`; bindings set their own).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.config.user_agent = user_agent.into();
        self
    }

    /// How long dropping the last handle waits for queued events (default 2 s).
    pub fn drop_flush_timeout(mut self, timeout: Duration) -> Self {
        self.config.drop_flush_timeout = timeout;
        self
    }

    /// How many failures [`Client::take_failures`] keeps (default 1 000).
    pub fn failure_log_capacity(mut self, capacity: usize) -> Self {
        self.config.failure_log_capacity = capacity.max(1);
        self
    }

    /// The client. Nothing starts until the first event.
    pub fn build(self) -> Client {
        Client {
            inner: Arc::new(Inner {
                config: Arc::new(self.config),
                engine: ArcSwapOption::empty(),
                shut_down: AtomicBool::new(false),
            }),
        }
    }
}
