//! Counters and the bounded log of failures.
//!
//! The engine never calls back into the host application from its own thread (a Python
//! or Node callback there can deadlock at interpreter shutdown). It records; bindings
//! drain the log from their own side.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::TrackError;

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted and not finished yet (waiting, in flight or in backoff).
    pub queued: u64,
    /// Events the server recorded.
    pub sent: u64,
    /// Retry attempts made (an event retried three times counts three).
    pub retried: u64,
    /// Events given up (final error or retries exhausted).
    pub failed: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

/// One event that was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The event's id (its `Idempotency-Key`).
    pub event_id: String,
    /// The session it was for.
    pub session_id: String,
    /// Why it failed.
    pub error: TrackError,
    /// When it was given up.
    pub at: SystemTime,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        Stats {
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Keeps the most recent failures; the oldest are forgotten first.
#[derive(Debug)]
pub(crate) struct FailureLog {
    capacity: usize,
    entries: Mutex<VecDeque<Failure>>,
}

impl FailureLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    pub fn push(&self, failure: Failure) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity {
                entries.pop_front();
            }
            entries.push_back(failure);
        }
    }

    pub fn take(&self) -> Vec<Failure> {
        self.entries
            .lock()
            .map(|mut e| e.drain(..).collect())
            .unwrap_or_default()
    }
}
