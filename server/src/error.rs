//! The API's one error type and the one place where errors become HTTP answers.
//!
//! Every non-2xx answer is `{"error", "details", "code"}`. Internal failures are logged
//! with their context here and answered without internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use naano_core::{ErrorBody, ErrorCode, ValidationError};

use crate::store::StoreError;

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the client sent something we cannot accept.
    #[error("{details}")]
    Validation {
        error: &'static str,
        details: String,
    },
    /// 404 `session_not_found`.
    #[error("no click carries session id {0}")]
    SessionNotFound(String),
    /// 404 `inference_pending` with `Retry-After`.
    #[error("company inference for this session has not finished")]
    InferencePending { retry_after_secs: u32 },
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 409 `idempotency_conflict`.
    #[error("Idempotency-Key was already used with a different body")]
    IdempotencyConflict,
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 503 `unavailable`: the database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// 500: logged, answered without details.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A rule broken by a field of the body or query.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::Validation {
            error: "Invalid request",
            details: details.into(),
        }
    }

    /// 404 for a session id with no click.
    pub fn session_not_found(session_id: &str) -> Self {
        Self::SessionNotFound(session_id.to_owned())
    }

    /// 404 while enrichment runs; the client should retry after `retry_after_secs`.
    pub fn inference_pending(retry_after_secs: u32) -> Self {
        Self::InferencePending { retry_after_secs }
    }

    /// 404 for an unknown resource.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    fn status_code_and_message(&self) -> (StatusCode, ErrorCode, &'static str) {
        match self {
            Self::Validation { error, .. } => {
                (StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed, error)
            }
            Self::SessionNotFound(_) => (
                StatusCode::NOT_FOUND,
                ErrorCode::SessionNotFound,
                "Session not found",
            ),
            Self::InferencePending { .. } => (
                StatusCode::NOT_FOUND,
                ErrorCode::InferencePending,
                "No company inference yet",
            ),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, "Not found"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "Method not allowed",
            ),
            Self::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "Payload too large",
            ),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Unsupported media type",
            ),
            Self::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "Unauthorized",
            ),
            Self::IdempotencyConflict => (
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyConflict,
                "Idempotency key conflict",
            ),
            Self::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict, "Conflict"),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "Service unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "Internal server error",
            ),
        }
    }

    fn details(&self) -> String {
        match self {
            Self::SessionNotFound(id) => format!(
                "No click carries session id {id:?}; the visitor may not have come through a tracking link"
            ),
            Self::InferencePending { retry_after_secs } => format!(
                "Company enrichment for this session has not finished; the signup was stored and \
                 will be applied when it does. Retry in {retry_after_secs} s to read the final answer"
            ),
            Self::Unavailable(_) => "The database cannot be reached right now; retry shortly".into(),
            Self::Internal(_) => "An unexpected error occurred; it has been logged".into(),
            other => other.to_string(),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::Validation {
            error: "Validation failed",
            details: err.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(msg) => Self::Unavailable(msg),
            StoreError::Conflict(msg) => Self::Conflict(msg),
            StoreError::NotFound(msg) => Self::NotFound(msg),
            StoreError::Invalid(msg) => Self::invalid(msg),
            StoreError::Internal(msg) => Self::Internal(msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, error) = self.status_code_and_message();
        match &self {
            Self::Internal(msg) => tracing::error!(error = %msg, "request failed"),
            Self::Unavailable(msg) => tracing::warn!(error = %msg, "database unavailable"),
            _ => {}
        }
        let body = ErrorBody {
            error: error.to_owned(),
            details: self.details(),
            code: Some(code),
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::InferencePending { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if matches!(self, Self::Unavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
