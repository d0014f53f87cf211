//! Detecting `fork()`: the child inherits the engine's memory but not its thread.
//!
//! A `pthread_atfork` child handler bumps a generation counter; the engine records the
//! generation (and the pid, for forks that bypass `pthread_atfork`) it was started in.
//! When either differs, the inherited engine is abandoned (never dropped or locked: its
//! locks may have been held by a thread that does not exist in the child) and a fresh
//! one starts on next use.
#![allow(unsafe_code)] // pthread_atfork is the only way to hear about fork().

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn in_child_after_fork() {
    // Async-signal-safe: one atomic add.
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The current fork generation (0 until this process, or an ancestor, forked).
pub fn generation() -> u64 {
    REGISTER.call_once(|| {
        // SAFETY: registers a plain `extern "C"` function with no captured state; the
        // handler only performs an atomic add, which is async-signal-safe.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child_after_fork)) };
        if rc != 0 {
            tracing::warn!(
                rc,
                "pthread_atfork failed; fork detection falls back to the pid check"
            );
        }
    });
    GENERATION.load(Ordering::SeqCst)
}

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}
