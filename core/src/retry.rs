//! What an SDK does with each answer of the webhook: the retry classification table.
//!
//! It lives here, next to the error codes, so that every SDK (and every binding of the
//! Rust engine) retries exactly the same answers.

use std::time::Duration;

use crate::error::ErrorCode;

/// What to do after one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// 2xx: the signup is recorded.
    Delivered,
    /// 404 `inference_pending`: stored server-side; retry in a few seconds to read the
    /// final answer.
    RetryPending,
    /// Worth retrying with backoff: 5xx (but 501 and 505), 408, 425, 429, and 1xx (no
    /// final answer). Also what transport errors and timeouts map to.
    RetryTransient,
    /// Retrying cannot help: the request itself is wrong (4xx), the session does not
    /// exist, or the base URL answers a redirect.
    GiveUp,
}

impl Disposition {
    /// Whether another attempt may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RetryPending | Self::RetryTransient)
    }
}

/// Classifies an HTTP answer by status and, for 404s, by the body's `code`.
pub fn classify(status: u16, code: Option<ErrorCode>) -> Disposition {
    match status {
        200..=299 => Disposition::Delivered,
        404 if code == Some(ErrorCode::InferencePending) => Disposition::RetryPending,
        // 408 Request Timeout, 425 Too Early, 429 Too Many Requests: transient by definition.
        408 | 425 | 429 => Disposition::RetryTransient,
        // 501 Not Implemented and 505 HTTP Version Not Supported will not change.
        501 | 505 => Disposition::GiveUp,
        500..=599 => Disposition::RetryTransient,
        // A 1xx is never a final answer: the exchange broke off.
        100..=199 => Disposition::RetryTransient,
        // 3xx: the base URL is wrong (the engine does not follow redirects with a body).
        // 4xx: the request is wrong or the session unknown; sending it again changes nothing.
        _ => Disposition::GiveUp,
    }
}

/// Ceiling of the exponential backoff before retry number `retry` (1-based): `initial`
/// doubled per retry, capped at `max`. Callers draw the actual delay under it (jitter),
/// so a fleet of retriers does not move in lockstep.
pub fn backoff_ceiling(initial: Duration, max: Duration, retry: u32) -> Duration {
    initial
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_from_100_to_599_has_the_documented_class() {
        for status in 100..=599u16 {
            let expected = match status {
                200..=299 => Disposition::Delivered,
                408 | 425 | 429 => Disposition::RetryTransient,
                501 | 505 => Disposition::GiveUp,
                500..=599 | 100..=199 => Disposition::RetryTransient,
                _ => Disposition::GiveUp,
            };
            assert_eq!(classify(status, None), expected, "status {status}");
        }
    }

    #[test]
    fn codes_refine_404_only() {
        assert_eq!(
            classify(404, Some(ErrorCode::InferencePending)),
            Disposition::RetryPending
        );
        assert_eq!(
            classify(404, Some(ErrorCode::SessionNotFound)),
            Disposition::GiveUp
        );
        assert_eq!(classify(404, None), Disposition::GiveUp);
        assert_eq!(
            classify(409, Some(ErrorCode::IdempotencyConflict)),
            Disposition::GiveUp
        );
        assert_eq!(
            classify(400, Some(ErrorCode::ValidationFailed)),
            Disposition::GiveUp
        );
        assert_eq!(
            classify(503, Some(ErrorCode::Unavailable)),
            Disposition::RetryTransient
        );
        // A pending code on another status is not a pending answer.
        assert_eq!(
            classify(400, Some(ErrorCode::InferencePending)),
            Disposition::GiveUp
        );
        assert!(Disposition::RetryPending.is_retryable());
        assert!(!Disposition::GiveUp.is_retryable());
    }

    #[test]
    fn backoff_ceiling_doubles_then_caps() {
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(30));
        let got: Vec<u64> = (1..=9)
            .map(|r| backoff_ceiling(initial, max, r).as_millis() as u64)
            .collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff_ceiling(initial, max, 0), initial);
        assert_eq!(backoff_ceiling(initial, max, u32::MAX), max);
    }
}
