//! `/api/admin/*`: creators, links, listings, inference updates and stats, behind
//! `Authorization: Bearer <NAANO_ADMIN_TOKEN>`.

mod auth;
mod creators;
mod links;
mod records;
mod sessions;
mod stats;

use axum::middleware;
use axum::Router;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::admin::PageRequest;

/// Default and largest page sizes of the listings.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Every admin route, guarded by the bearer token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(creators::router())
        .merge(links::router())
        .merge(records::router())
        .merge(sessions::router())
        .merge(stats::router())
        .route_layer(middleware::from_fn_with_state(state, auth::require_admin))
}

/// `?cursor=&limit=` of every listing.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<u32>,
}

impl Paging {
    fn into_request(self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(PageRequest {
            cursor: self.cursor.filter(|c| !c.is_empty()),
            limit,
        })
    }
}
