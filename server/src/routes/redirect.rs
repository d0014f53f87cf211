//! `GET /c/{slug}`: the tracking link. Records the click durably, issues the session and
//! redirects. Company inference never delays the visitor: when every provider answers
//! from memory the click is written already settled; otherwise it is written with an
//! enrichment job that runs after the redirect.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use naano_core::{new_session_id, SESSION_COOKIE, SESSION_QUERY_PARAM};

use crate::error::ApiError;
use crate::extract::{ClientIp, PathParam};
use crate::inference::ChainOutcome;
use crate::state::AppState;
use crate::store::clicks::{ClickInference, RecordClick};
use crate::store::jobs::{ClaimedJob, LEASE_MS};
use crate::store::{new_id, now_ms};

/// How long the session cookie lives: 90 days.
pub const SESSION_MAX_AGE_SECS: i64 = 90 * 24 * 60 * 60;
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
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    let location = destination_with_session(&link.destination_url, &session_id)?;
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
    let needs_job = matches!(inference, ClickInference::Job { .. });
    let click = RecordClick {
        click_id: new_id(),
        inference_id: new_id(),
        session_id: session_id.clone(),
        link,
        clicked_at: now,
        client_ip: ip.map(|ip| ip.to_string()),
        user_agent: header_text(&headers, header::USER_AGENT),
        referrer: header_text(&headers, header::REFERER),
        inference,
    };
    let job = ClaimedJob {
        click_id: click.click_id.clone(),
        session_id: session_id.clone(),
        client_ip: click.client_ip.clone(),
        attempts: 0,
    };
    state.store.write(click).await?;
    if needs_job {
        state.enrichment.enqueue(job);
    }

    let mut response = redirect(&location);
    let cookie = cookie::Cookie::build((SESSION_COOKIE, session_id))
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_MAX_AGE_SECS))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.secure_cookies())
        .build();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
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

/// The destination with `naano_session=<id>` in its query; the existing query (in its
/// original encoding) and the fragment are kept, and a stale `naano_session` is replaced.
pub fn destination_with_session(destination: &str, session_id: &str) -> Result<String, ApiError> {
    let mut url = url::Url::parse(destination).map_err(|e| {
        ApiError::Internal(format!(
            "stored destination {destination:?} is not a URL: {e}"
        ))
    })?;
    let has_stale = url.query_pairs().any(|(k, _)| k == SESSION_QUERY_PARAM);
    if has_stale {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != SESSION_QUERY_PARAM)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.query_pairs_mut()
        .append_pair(SESSION_QUERY_PARAM, session_id);
    Ok(url.into())
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.chars().take(MAX_HEADER_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::destination_with_session;

    #[test]
    fn query_and_fragment_are_kept() {
        let cases = [
            (
                "https://saas.example/",
                "https://saas.example/?naano_session=S",
            ),
            (
                "https://saas.example/signup?plan=pro#pricing",
                "https://saas.example/signup?plan=pro&naano_session=S#pricing",
            ),
            (
                "https://saas.example/?q=a%20b&x",
                "https://saas.example/?q=a%20b&x&naano_session=S",
            ),
            (
                "https://saas.example/?naano_session=old&a=1",
                "https://saas.example/?a=1&naano_session=S",
            ),
            (
                "https://saas.example/p#frag",
                "https://saas.example/p?naano_session=S#frag",
            ),
        ];
        for (dest, expected) in cases {
            assert_eq!(
                destination_with_session(dest, "S").unwrap(),
                expected,
                "{dest}"
            );
        }
    }
}
