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

impl SignupOutcome {
    /// `"upgraded"` or `"mismatch_handled"`, as on the wire.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Upgraded { .. } => "upgraded",
            Self::MismatchHandled { .. } => "mismatch_handled",
        }
    }

    /// The confirmed company (for a mismatch, the one the user typed).
    pub fn company(&self) -> &str {
        match self {
            Self::Upgraded { company, .. } => company,
            Self::MismatchHandled { new_company, .. } => new_company,
        }
    }

    /// For a mismatch, the company that had been inferred.
    pub fn old_company(&self) -> Option<&str> {
        match self {
            Self::Upgraded { .. } => None,
            Self::MismatchHandled { old_company, .. } => Some(old_company),
        }
    }

    /// The lead.
    pub fn lead_id(&self) -> &str {
        match self {
            Self::Upgraded { lead_id, .. } | Self::MismatchHandled { lead_id, .. } => lead_id,
        }
    }

    /// The session's inference record.
    pub fn company_inference_id(&self) -> &str {
        match self {
            Self::Upgraded {
                company_inference_id,
                ..
            }
            | Self::MismatchHandled {
                company_inference_id,
                ..
            } => company_inference_id,
        }
    }
}

impl TrackError {
    /// A stable snake_case name for the failure, for bindings and logs: `validation_failed`,
    /// `session_not_found`, `inference_pending`, `http`, `transport`, `timeout`,
    /// `queue_full` or `shut_down`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::SessionNotFound => "session_not_found",
            Self::InferencePending => "inference_pending",
            Self::Http { .. } => "http",
            Self::Transport(_) => "transport",
            Self::Timeout => "timeout",
            Self::QueueFull => "queue_full",
            Self::ShutDown => "shut_down",
        }
    }

    /// The HTTP status behind the failure, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::SessionNotFound | Self::InferencePending => Some(404),
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The machine-readable `code` of the failure, when it has one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Invalid(_) => Some(ErrorCode::ValidationFailed),
            Self::SessionNotFound => Some(ErrorCode::SessionNotFound),
            Self::InferencePending => Some(ErrorCode::InferencePending),
            Self::Http { code, .. } => *code,
            _ => None,
        }
    }
}
