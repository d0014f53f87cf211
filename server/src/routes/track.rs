//! `POST /api/track/signup`: the signup webhook, as `shared/spec/signup-webhook.md` fixes it.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use naano_core::SignupRequest;

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store::signup::{ApplySignup, IdempotencyKey, SignupOutcome};
use crate::store::{new_id, now_ms};

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// `POST /api/track/signup`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/track/signup", post(signup))
}

async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<SignupRequest>,
) -> Result<Response, ApiError> {
    let signup = request.validate()?;
    let idempotency = idempotency_key(&headers)?.map(|key| IdempotencyKey::new(key, &signup));
    let op = ApplySignup {
        signup,
        idempotency,
        event_id: new_id(),
        new_lead_id: new_id(),
        now: now_ms(),
    };
    let session_id = op.signup.session_id.clone();
    let applied = state.store.write(op).await?;
    if let Some(learned) = &applied.learned {
        state.learned.record(learned);
    }
    match applied.outcome {
        SignupOutcome::Done(response) => Ok(Json(response).into_response()),
        SignupOutcome::Replayed(body) => {
            Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        SignupOutcome::Pending => Err(ApiError::inference_pending(
            state.config.pending_retry_after,
        )),
        SignupOutcome::SessionNotFound => Err(ApiError::session_not_found(&session_id)),
        SignupOutcome::IdempotencyConflict => Err(ApiError::IdempotencyConflict),
    }
}

/// The optional `Idempotency-Key`: 1–255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or("");
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid(format!(
            "Idempotency-Key: must be 1-{MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(Some(key.to_owned()))
}
