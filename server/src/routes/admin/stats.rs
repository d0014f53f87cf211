//! `GET /api/admin/stats`: per-creator funnel from clicks to confirmed companies.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::admin::{self, CreatorStats};

pub fn router() -> Router<AppState> {
    Router::new().route("/stats", get(stats))
}

#[derive(Debug, Serialize)]
struct Stats {
    creators: Vec<CreatorStats>,
}

async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(Stats {
        creators: admin::stats(state.store.reader()).await?,
    }))
}
