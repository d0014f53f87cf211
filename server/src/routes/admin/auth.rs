//! The admin guard: a bearer token compared in constant time.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::state::AppState;

/// Lets the request through only with the configured bearer token.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !state.admin_enabled() {
        return Err(ApiError::Unauthorized(
            "The admin API is disabled: start the server with NAANO_ADMIN_TOKEN (or --admin-token) set",
        ));
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(token) if state.admin_token_matches(token) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::Unauthorized(
            "The bearer token is not the admin token",
        )),
        None => Err(ApiError::Unauthorized(
            "Send Authorization: Bearer <NAANO_ADMIN_TOKEN>",
        )),
    }
}
