//! `GET /c/{slug}`: the tracking link. Records the click durably, issues the session and
//! redirects. Company inference never delays the visitor: when every provider answers
//! from memory the click is written already settled; otherwise it is written with an
//! enrichment job that runs after the redirect.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use naano_core::{new_session_id, session_set_cookie};

use crate::error::ApiError;
use crate::extract::{ClientIp, PathParam};
use crate::inference::ChainOutcome;
use crate::state::AppState;
use crate::store::clicks::{ClickInference, RecordClick};
use crate::store::jobs::{ClaimedJob, LEASE_MS};
use crate::store::{new_id, now_ms};

/// Longest `User-Agent` / `Referer` kept.
const MAX_HEADER_CHARS: usize = 512;

/// `GET /c/{slug}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/c/{slug}", get(follow))
}

async fn follow(
    State(state): State<AppState>,
    method: Method,
    PathParam(slug): PathParam<String>,
    ClientIp(ip): ClientIp,
    // The request itself (taken, not copied: a `HeaderMap` extractor clones every
    // header, on the hottest path) for the two headers a click keeps.
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let link = state
        .store
        .link_by_slug(&slug)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No tracking link with slug {slug:?}")))?;

    // HEAD is what link checkers and unfurlers send: answer where the link goes without
    // counting a click or issuing a session.
    if method == Method::HEAD {
        return Ok(redirect(&link.destination_url));
    }

    let session_id = new_session_id()
        .map_err(|e| ApiError::Internal(format!("OS random number generator failed: {e}")))?;
    let location = link.landing.with_session(&session_id);
    let now = now_ms();
    let immediate = match ip {
        Some(ip) => state.chain.lookup_now(ip),
        None => Some(ChainOutcome::Unknown),
    };
    let inference = match immediate {
        Some(ChainOutcome::Answer(answer)) => ClickInference::Settled(Some(answer)),
        Some(ChainOutcome::Unknown) if !state.config.external_inference => {
            ClickInference::Settled(None)
        }
        _ => ClickInference::Job {
            lease_until: now + LEASE_MS,
        },
    };
    let click_id = new_id();
    // The job the worker gets once the click is committed (only when the chain has to
    // go to the network).
    let job = matches!(inference, ClickInference::Job { .. }).then(|| ClaimedJob {
        click_id: click_id.clone(),
        session_id: session_id.clone(),
        client_ip: ip.map(|ip| ip.to_string()),
        attempts: 0,
    });
    let click = RecordClick {
        click_id,
        inference_id: new_id(),
        session_id: session_id.clone(),
        link_id: link.id.clone(),
        creator_id: link.creator_id.clone(),
        clicked_at: now,
        // A settled click keeps only its network, so only that is written anywhere (the
        // click journal included): the raw IP goes to disk only for a job's enrichment.
        client_ip: match inference {
            ClickInference::Job { .. } => ip,
            ClickInference::Settled(_) => ip.map(|ip| naano_core::client_network_prefix(ip).0),
        },
        user_agent: header_text(headers, header::USER_AGENT),
        referrer: header_text(headers, header::REFERER),
        inference,
    };
    state.store.record_click(click).await?;
    if let Some(job) = job {
        state.enrichment.enqueue(job);
    }

    let mut response = redirect(&location);
    let cookie = session_set_cookie(&session_id, state.secure_cookies());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    // Every click must reach us: no shared or browser cache may answer for us.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.chars().take(MAX_HEADER_CHARS).collect())
}
