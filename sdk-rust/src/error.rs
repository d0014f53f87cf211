//! What a delivery ends with: the typed outcome, or the typed reason it did not happen.

use naano_core::{ErrorCode, SignupResponse, SignupResult, ValidationError};

/// A recorded signup, as the webhook answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupOutcome {
    /// The session's company is confirmed as `company`.
    Upgraded {
        /// The confirmed company.
        company: String,
        /// The lead (one per email).
        lead_id: String,
        /// The session's inference record.
        company_inference_id: String,
    },
    /// The signup named another company than the one inferred.
    MismatchHandled {
        /// What had been inferred.
        old_company: String,
        /// What the user typed, now confirmed.
        new_company: String,
        /// The lead (one per email).
        lead_id: String,
        /// The session's inference record.
        company_inference_id: String,
    },
}

impl From<SignupResponse> for SignupOutcome {
    fn from(response: SignupResponse) -> Self {
        match response.result {
            SignupResult::Upgraded {
                company,
                company_inference_id,
            } => Self::Upgraded {
                company,
                lead_id: response.lead_id,
                company_inference_id,
            },
            SignupResult::MismatchHandled {
                old_company,
                new_company,
                company_inference_id,
            } => Self::MismatchHandled {
                old_company,
                new_company,
                lead_id: response.lead_id,
                company_inference_id,
            },
        }
    }
}

/// Why a signup was not (or not yet) recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// The signup broke a field rule; nothing was sent. A bug in the caller.
    #[error("invalid signup: {0}")]
    Invalid(#[from] ValidationError),
    /// No click carries this session id (the visitor did not come through a tracking link).
    #[error("no click carries this session id")]
    SessionNotFound,
    /// Company inference was still pending when the retries ran out. The server keeps the
    /// signup and applies it when the inference lands.
    #[error("company inference still pending after the retries")]
    InferencePending,
    /// The server answered an error that retrying cannot fix, or kept failing.
    #[error("server answered HTTP {status} ({})", code.map_or("no code", |c| c.as_str()))]
    Http {
        /// HTTP status.
        status: u16,
        /// The body's machine-readable `code`, when there was one.
        code: Option<ErrorCode>,
    },
    /// The connection failed (refused, reset, DNS, TLS) and kept failing.
    #[error("transport error: {0}")]
    Transport(String),
    /// The per-request timeout or the event's deadline passed.
    #[error("timed out")]
    Timeout,
    /// The queue was full: the event was dropped (and counted) instead of waiting.
    #[error("queue full: the event was dropped")]
    QueueFull,
    /// The client was shut down.
    #[error("the client is shut down")]
    ShutDown,
}
