//! `POST/GET /api/admin/links`: tracking links, answered with their tracking URL.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use naano_core::{Checker, MAX_TEXT_LEN};
use serde::{Deserialize, Serialize};

use super::Paging;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;
use crate::store::admin::{self, selects, CreateLink, CreateLinkError, Link, Page};
use crate::store::{new_id, now_ms};

const MAX_SLUG_LEN: usize = 64;
const MAX_URL_LEN: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new().route("/links", get(list).post(create))
}

#[derive(Debug, Deserialize)]
struct NewLink {
    destination_url: Option<String>,
    creator_id: Option<String>,
    slug: Option<String>,
    campaign: Option<String>,
}

/// A link with the URL to share.
#[derive(Debug, Serialize)]
struct LinkView {
    #[serde(flatten)]
    link: Link,
    tracking_url: String,
}

impl LinkView {
    fn new(link: Link, public_base: &str) -> Self {
        let tracking_url = format!("{public_base}/c/{}", link.slug);
        Self { link, tracking_url }
    }
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewLink>,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    let mut check = Checker::default();
    let destination_url = check.required_text("destination_url", body.destination_url, MAX_URL_LEN);
    if !destination_url.is_empty() && !is_http_url(&destination_url) {
        check.fail("destination_url", "must be an absolute http(s) URL");
    }
    let creator_id = check.required_text("creator_id", body.creator_id, MAX_TEXT_LEN);
    let slug = check.optional_text("slug", body.slug, MAX_SLUG_LEN);
    if let Some(slug) = &slug {
        if !slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            check.fail(
                "slug",
                "must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'",
            );
        }
    }
    let campaign = check.optional_text("campaign", body.campaign, MAX_TEXT_LEN);
    check.finish(())?;

    let op = CreateLink {
        id: new_id(),
        slug,
        creator_id,
        destination_url,
        campaign,
        now: now_ms(),
    };
    match state.store.write(op).await? {
        Ok(link) => Ok((
            StatusCode::CREATED,
            Json(LinkView::new(link, &state.public_base)),
        )),
        Err(CreateLinkError::UnknownCreator) => {
            Err(ApiError::invalid("creator_id: no creator has this id"))
        }
        Err(CreateLinkError::SlugTaken) => Err(ApiError::Conflict(
            "slug: already used by another link".into(),
        )),
    }
}

fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFilters {
    creator_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<LinkFilters>,
) -> Result<Json<Page<LinkView>>, ApiError> {
    let filters = q
        .creator_id
        .map(|c| ("creator_id", c))
        .into_iter()
        .collect();
    let paging = Paging {
        cursor: q.cursor,
        limit: q.limit,
    }
    .into_request()?;
    let page: Page<Link> = admin::list(&state.store, selects::LINKS, filters, &paging).await?;
    Ok(Json(Page {
        data: page
            .data
            .into_iter()
            .map(|l| LinkView::new(l, &state.public_base))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
