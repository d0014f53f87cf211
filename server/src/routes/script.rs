//! `GET /naano.js`: the landing-page script that keeps the session as a first-party cookie.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The script, embedded at build time so the binary is self-contained.
pub const NAANO_JS: &str = include_str!("../../assets/naano.js");

/// `GET /naano.js`.
pub fn router() -> Router<AppState> {
    Router::new().route("/naano.js", get(script))
}

async fn script() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        NAANO_JS,
    )
}
