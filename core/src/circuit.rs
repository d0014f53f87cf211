//! A circuit breaker for a remote dependency: after enough consecutive failures, stop
//! calling it for a while, then let one trial call through to see whether it recovered.
//!
//! Pure: the caller passes the current time, so the state machine is tested without
//! clocks or sleeps.

use std::time::{Duration, Instant};

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial call is allowed.
    pub open_for: Duration,
}

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// No calls until `until`.
    Open { until: Instant },
    /// One trial call is in flight; everything else is refused until it reports.
    HalfOpen,
}

/// The breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may be made now. When an open circuit's time is up, this admits
    /// exactly one trial call (the breaker becomes half-open).
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// Reports a successful call: the circuit closes.
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// Reports a failed call: counts it, and opens the circuit at the threshold (or at
    /// once when the trial call of a half-open circuit failed).
    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.config.failure_threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            _ => BreakerState::Open {
                until: now + self.config.open_for,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..2 {
            assert!(b.allow(t0));
            b.on_failure(t0);
        }
        assert!(b.allow(t0), "two failures: still closed");
        b.on_failure(t0);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: t0 + Duration::from_secs(10)
            }
        );
        assert!(!b.allow(t0 + Duration::from_secs(9)));
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert!(b.allow(t0));
        assert_eq!(b.state(), BreakerState::Closed { failures: 2 });
    }

    #[test]
    fn half_open_admits_one_trial_then_closes_or_reopens() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_secs(10);
        assert!(b.allow(later), "time is up: one trial");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(later), "only one trial at a time");
        b.on_failure(later);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: later + Duration::from_secs(10)
            },
            "a failed trial reopens at once"
        );
        let again = later + Duration::from_secs(10);
        assert!(b.allow(again));
        b.on_success();
        assert!(b.allow(again));
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
    }
}
