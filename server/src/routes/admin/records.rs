//! `GET /api/admin/{clicks,leads,inferences}`: filtered, cursor-paginated listings.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::Paging;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::state::AppState;
use crate::store::admin::{self, selects, Click, Filters, Inference, Lead, Page};
use crate::store::privacy::{EraseLead, Erased};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clicks", get(clicks))
        .route("/leads", get(leads).delete(erase_lead))
        .route("/inferences", get(inferences))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickFilters {
    session_id: Option<String>,
    creator_id: Option<String>,
    link_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn clicks(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ClickFilters>,
) -> Result<Json<Page<Click>>, ApiError> {
    let filters = present([
        ("session_id", q.session_id),
        ("creator_id", q.creator_id),
        ("link_id", q.link_id),
    ]);
    let paging = Paging {
        cursor: q.cursor,
        limit: q.limit,
    }
    .into_request()?;
    Ok(Json(
        admin::list(&state.store, selects::CLICKS, filters, &paging).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadFilters {
    email: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn leads(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<LeadFilters>,
) -> Result<Json<Page<Lead>>, ApiError> {
    // Leads are one per email, case-insensitively: filter on the normalised key.
    let filters = present([("email_key", q.email.map(|e| e.trim().to_lowercase()))]);
    let paging = Paging {
        cursor: q.cursor,
        limit: q.limit,
    }
    .into_request()?;
    Ok(Json(
        admin::list(&state.store, selects::LEADS, filters, &paging).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseQuery {
    email: Option<String>,
}

/// `DELETE /api/admin/leads?email=…`: erases the personal data stored for an email
/// (GDPR art. 17) — the lead, the signup payloads, the clicks' IP, network, user agent
/// and referrer — keeping anonymous counts.
async fn erase_lead(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<EraseQuery>,
) -> Result<Json<Erased>, ApiError> {
    let email_key = q
        .email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::invalid("email: is required (the address to erase)"))?;
    state
        .store
        .write(EraseLead {
            email_key: email_key.clone(),
        })
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Nothing is stored for {email_key:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InferenceFilters {
    session_id: Option<String>,
    status: Option<String>,
    creator_id: Option<String>,
    lead_id: Option<String>,
    source: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

const STATUSES: [&str; 4] = ["pending", "inferred", "no_company", "confirmed"];

async fn inferences(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<InferenceFilters>,
) -> Result<Json<Page<Inference>>, ApiError> {
    if let Some(status) = &q.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::invalid(format!(
                "status: must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let filters = present([
        ("session_id", q.session_id),
        ("status", q.status),
        ("creator_id", q.creator_id),
        ("lead_id", q.lead_id),
        ("source", q.source),
        ("kind", q.kind),
    ]);
    let paging = Paging {
        cursor: q.cursor,
        limit: q.limit,
    }
    .into_request()?;
    Ok(Json(
        admin::list(&state.store, selects::INFERENCES, filters, &paging).await?,
    ))
}

fn present<const N: usize>(filters: [(&'static str, Option<String>); N]) -> Filters<'static> {
    filters
        .into_iter()
        .filter_map(|(column, value)| Some((column, value?)))
        .collect()
}
