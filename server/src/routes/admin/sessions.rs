//! `PUT /api/admin/sessions/{session_id}/inference`: an external enrichment pipeline
//! settles (or corrects) a session's inferred company. A signup waiting for it is
//! applied in the same transaction.

use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use naano_core::{Checker, SignupResponse, MAX_TEXT_LEN};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::inference::ip_table::normalize_domain;
use crate::inference::Answer;
use crate::state::AppState;
use crate::store::inferences::{SettleInference, Settled, SettledBy};
use crate::store::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/sessions/{session_id}/inference", put(set_inference))
}

#[derive(Debug, Deserialize)]
struct InferenceInput {
    company: Option<String>,
    domain: Option<String>,
    confidence: Option<f64>,
}

#[derive(Debug, Serialize)]
struct InferenceSet {
    session_id: String,
    company_inference_id: String,
    status: &'static str,
    /// The webhook answer for a signup that was waiting for this inference.
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_signup: Option<Box<SignupResponse>>,
}

async fn set_inference(
    State(state): State<AppState>,
    PathParam(session_id): PathParam<String>,
    JsonBody(body): JsonBody<InferenceInput>,
) -> Result<Json<InferenceSet>, ApiError> {
    let mut check = Checker::default();
    let company = check.required_text("company", body.company, MAX_TEXT_LEN);
    let domain = check
        .optional_text("domain", body.domain, 253)
        .map(|d| normalize_domain(&d));
    if let Some(d) = &domain {
        if !d.contains('.')
            || !d
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            check.fail("domain", "must be a domain name such as acme.com");
        }
    }
    let confidence = match body.confidence {
        Some(c) if (0.0..=1.0).contains(&c) => c,
        Some(_) => {
            check.fail("confidence", "must be a number between 0 and 1");
            0.0
        }
        None => {
            check.fail("confidence", "is required");
            0.0
        }
    };
    check.finish(())?;

    let op = SettleInference {
        session_id: session_id.clone(),
        answer: Some(Answer {
            company,
            domain,
            confidence,
            source: "admin".into(),
            kind: naano_core::OrgKind::Business,
        }),
        by: SettledBy::Admin,
        now: now_ms(),
    };
    match state.store.write(op).await? {
        Settled::Applied { inference_id, deferred, learned } => {
            if let Some(learned) = &learned {
                state.learned.record(learned);
            }
            Ok(Json(InferenceSet {
            status: if deferred.is_some() { "confirmed" } else { "inferred" },
            session_id,
            company_inference_id: inference_id,
            applied_signup: deferred,
        }))
        }
        Settled::UnknownSession => Err(ApiError::session_not_found(&session_id)),
        Settled::AlreadyConfirmed => Err(ApiError::Conflict(
            "A signup has already confirmed this session's company; the inference is kept for audit".into(),
        )),
        Settled::AlreadySettled => Err(ApiError::Internal("admin settlement reported as already settled".into())),
    }
}
