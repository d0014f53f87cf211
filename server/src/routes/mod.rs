//! The HTTP surface: each resource module exposes its router, merged here with the
//! shared layers and the JSON fallbacks for unknown routes and methods.

pub mod admin;
pub mod demo;
pub mod health;
pub mod redirect;
pub mod script;
pub mod track;

use std::any::Any;

use axum::extract::DefaultBodyLimit;
use axum::http::Response;
use axum::response::IntoResponse;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// The whole application.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(track::router())
        .merge(redirect::router())
        .merge(script::router())
        .merge(health::router())
        .nest("/api/admin", admin::router(state.clone()));
    if state.config.demo {
        router = router.merge(demo::router());
    }
    router = router
        .fallback(|| async { ApiError::not_found("No route matches this path") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(naano_core::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response));
    // A span and two events per request, all at DEBUG: only when they would be logged
    // (`RUST_LOG=tower_http=debug`). Otherwise the layer logs nothing, yet its timing and
    // wrapping cost every request (a few percent of the tracking redirect); failures
    // are logged where they happen (`ApiError`).
    if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        router = router.layer(TraceLayer::new_for_http());
    }
    router.with_state(state)
}

/// A panic is a bug: answer the usual 500 body and let the process keep serving.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<axum::body::Body> {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}
