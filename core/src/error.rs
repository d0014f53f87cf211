//! The error body every non-2xx answer carries, and its machine-readable `code`.
//!
//! The spec fixes `{"error", "details"}`; `code` is our additive field so that SDKs
//! branch on a stable identifier instead of parsing English.

use serde::{Deserialize, Serialize};

/// Stable, machine-readable reason for a non-2xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body parsed but a field broke a rule, or the body was not JSON at all.
    ValidationFailed,
    /// No click carries this session id.
    SessionNotFound,
    /// The click exists but its company inference has not finished; retry later.
    InferencePending,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The request did not declare a JSON body.
    UnsupportedMediaType,
    /// The path exists but not for this method.
    MethodNotAllowed,
    /// No such route or resource.
    NotFound,
    /// Too many requests from this client.
    RateLimited,
    /// Missing or wrong admin credentials.
    Unauthorized,
    /// The same `Idempotency-Key` was reused with a different body.
    IdempotencyConflict,
    /// A resource with this identity already exists (e.g. a link slug).
    Conflict,
    /// The server cannot reach its database right now; retry.
    Unavailable,
    /// A bug or an unexpected failure on the server side.
    Internal,
}

impl ErrorCode {
    /// The snake_case wire name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::SessionNotFound => "session_not_found",
            Self::InferencePending => "inference_pending",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// Parses a wire name; unknown codes (from a newer server) give `None`.
    pub fn parse(code: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"error": "...", "details": "...", "code": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Short human-readable summary.
    pub error: String,
    /// What exactly went wrong (for a validation error: the field and the rule).
    pub details: String,
    /// Stable machine-readable reason. Absent only in answers from servers that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorCode; 13] = [
        ErrorCode::ValidationFailed,
        ErrorCode::SessionNotFound,
        ErrorCode::InferencePending,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::IdempotencyConflict,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    #[test]
    fn as_str_matches_serde_and_parse_round_trips() {
        for code in ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("from_the_future"), None);
    }

    #[test]
    fn error_body_has_the_spec_keys_plus_code() {
        let body = ErrorBody {
            error: "Session not found".into(),
            details: "no click".into(),
            code: Some(ErrorCode::SessionNotFound),
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"error":"Session not found","details":"no click","code":"session_not_found"}"#
        );
    }
}
