//! `POST/GET /api/admin/creators`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use naano_core::{Checker, MAX_TEXT_LEN};
use serde::Deserialize;

use super::Paging;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;
use crate::store::admin::{self, selects, CreateCreator, Creator, Page};
use crate::store::{new_id, now_ms};

pub fn router() -> Router<AppState> {
    Router::new().route("/creators", get(list).post(create))
}

#[derive(Debug, Deserialize)]
struct NewCreator {
    name: Option<String>,
    linkedin_url: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewCreator>,
) -> Result<(StatusCode, Json<Creator>), ApiError> {
    let mut check = Checker::default();
    let name = check.required_text("name", body.name, MAX_TEXT_LEN);
    let linkedin_url = check.linkedin_url(body.linkedin_url);
    check.finish(())?;
    let creator = state
        .store
        .write(CreateCreator {
            id: new_id(),
            name,
            linkedin_url,
            now: now_ms(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(creator)))
}

async fn list(
    State(state): State<AppState>,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<Page<Creator>>, ApiError> {
    let page = admin::list(
        &state.store,
        selects::CREATORS,
        Vec::new(),
        &paging.into_request()?,
    )
    .await?;
    Ok(Json(page))
}
