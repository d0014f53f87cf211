//! Client configuration and its builder.

use std::time::Duration;

/// Used when neither the builder nor `NAANO_BASE_URL` names a server.
pub const DEFAULT_BASE_URL: &str = "https://naano.com";

/// When and how often a delivery is retried.
///
/// `inference_pending` answers are retried on their own schedule (the server stored the
/// signup and needs a few seconds to finish enrichment); 5xx, 408, 425, 429 and transport
/// errors with exponential backoff and full jitter, honouring `Retry-After`. Every other
/// answer is final. Nothing is retried past `event_deadline`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Waits between `inference_pending` retries (default 2 s, 4 s, 8 s, 16 s).
    pub pending_delays: Vec<Duration>,
    /// First backoff for transient failures (default 500 ms), doubled each time.
    pub transient_initial: Duration,
    /// Largest backoff for transient failures (default 30 s).
    pub transient_max: Duration,
    /// Most attempts for transient failures, the first included (default 8).
    pub transient_max_attempts: u32,
    /// How long an event may keep trying from when it was queued (default 2 min).
    pub event_deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            pending_delays: [2, 4, 8, 16].into_iter().map(Duration::from_secs).collect(),
            transient_initial: Duration::from_millis(500),
            transient_max: Duration::from_secs(30),
            transient_max_attempts: 8,
            event_deadline: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Backoff before transient retry number `retry` (1-based): full jitter over an
    /// exponential ceiling, so a fleet of clients does not retry in lockstep.
    pub fn transient_backoff(&self, retry: u32) -> Duration {
        naano_core::retry::backoff_ceiling(self.transient_initial, self.transient_max, retry)
            .mul_f64(fastrand::f64())
            .max(Duration::from_millis(1))
    }
}

/// Everything the engine needs; built by [`crate::ClientBuilder`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the Naano server, without a trailing slash.
    pub base_url: String,
    /// Per-attempt request timeout.
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Most events waiting or in flight; more are dropped and counted.
    pub queue_capacity: usize,
    /// Most HTTP requests in flight at once.
    pub max_concurrency: usize,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// `User-Agent`.
    pub user_agent: String,
    /// How long dropping the last handle waits for queued events.
    pub drop_flush_timeout: Duration,
    /// How many failures are kept for [`crate::Client::take_failures`].
    pub failure_log_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        let base_url = std::env::var("NAANO_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Self {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            queue_capacity: 10_000,
            max_concurrency: 32,
            retry: RetryPolicy::default(),
            user_agent: format!("naano-rust/{}", env!("CARGO_PKG_VERSION")),
            drop_flush_timeout: Duration::from_secs(2),
            failure_log_capacity: 1_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_backoff_is_jittered_under_an_exponential_ceiling() {
        let policy = RetryPolicy::default();
        for retry in 1..=12 {
            let ceiling =
                (Duration::from_millis(500) * (1 << (retry - 1))).min(Duration::from_secs(30));
            for _ in 0..200 {
                let d = policy.transient_backoff(retry);
                assert!(
                    d <= ceiling && d >= Duration::from_millis(1),
                    "retry {retry}: {d:?}"
                );
            }
        }
    }
}
