//! `GET /api/admin/stats`: per-creator funnel from clicks to confirmed companies, and
//! the measured precision of each inference provider.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::admin::{self, CreatorStats, SourceStats};

pub fn router() -> Router<AppState> {
    Router::new().route("/stats", get(stats))
}

#[derive(Debug, Serialize)]
struct Stats {
    creators: Vec<CreatorStats>,
    /// How each inference provider's answers fared against signups.
    inference_sources: Vec<SourceStats>,
}

async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(Stats {
        creators: admin::stats(&state.store).await?,
        inference_sources: admin::source_stats(&state.store).await?,
    }))
}
