//! The signup webhook's write: find the click, upsert the lead, log the event, and
//! confirm the session's company (or park the signup until enrichment lands).

use naano_core::{
    companies_match, email_domain, is_free_mail_domain, normalize_company, Inferred,
    SignupResponse, SignupResult, ValidSignup,
};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::{new_id, WriteOp};

/// An `Idempotency-Key` with the fingerprint of the body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The header's value.
    pub key: String,
    /// SHA-256 of the validated signup, hex.
    pub request_hash: String,
}

impl IdempotencyKey {
    /// Binds `key` to this exact signup.
    pub fn new(key: String, signup: &ValidSignup) -> Self {
        let canonical = serde_json::to_vec(signup).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        let request_hash = digest.iter().map(|b| format!("{b:02x}")).collect();
        Self { key, request_hash }
    }
}

/// One webhook call.
#[derive(Debug, Clone)]
pub struct ApplySignup {
    /// The validated body.
    pub signup: ValidSignup,
    /// Optional idempotency key.
    pub idempotency: Option<IdempotencyKey>,
    /// Id of this call's signup event.
    pub event_id: String,
    /// Id for the lead if it does not exist yet.
    pub new_lead_id: String,
    /// Unix ms.
    pub now: i64,
}

/// What the webhook answers.
#[derive(Debug, Clone)]
pub enum SignupOutcome {
    /// 200 with this body.
    Done(SignupResponse),
    /// 200 with the first answer given for this idempotency key, verbatim.
    Replayed(String),
    /// 404 `inference_pending`: stored, applied when enrichment lands.
    Pending,
    /// 404 `session_not_found`.
    SessionNotFound,
    /// 409: the key was used with another body.
    IdempotencyConflict,
}

/// The session's inference, as a signup needs it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct InferenceRow {
    pub id: String,
    pub status: String,
    pub inferred_company: Option<String>,
    pub inferred_domain: Option<String>,
    pub pending_signup_id: Option<String>,
}

pub(crate) async fn inference_for_session(
    conn: &mut SqliteConnection,
    session_id: &str,
) -> Result<Option<InferenceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, inferred_company, inferred_domain, pending_signup_id
         FROM company_inferences WHERE session_id = ?",
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await
}

impl WriteOp for ApplySignup {
    type Output = SignupOutcome;

    async fn apply(&self, conn: &mut SqliteConnection) -> Result<SignupOutcome, sqlx::Error> {
        let signup = &self.signup;
        if let Some(idem) = &self.idempotency {
            let stored: Option<(String, String)> =
                sqlx::query_as("SELECT request_hash, response FROM idempotency_keys WHERE key = ?")
                    .bind(&idem.key)
                    .fetch_optional(&mut *conn)
                    .await?;
            if let Some((hash, response)) = stored {
                if hash != idem.request_hash {
                    return Ok(SignupOutcome::IdempotencyConflict);
                }
                self.log_event(conn, None, "replayed").await?;
                return Ok(SignupOutcome::Replayed(response));
            }
        }

        let Some(inference) = inference_for_session(conn, &signup.session_id).await? else {
            self.log_event(conn, None, "session_not_found").await?;
            return Ok(SignupOutcome::SessionNotFound);
        };
        let lead_id = upsert_lead(conn, signup, &self.new_lead_id, self.now).await?;

        if inference.status == "pending" {
            self.log_event(conn, Some(&lead_id), "inference_pending")
                .await?;
            sqlx::query(
                "UPDATE company_inferences SET lead_id = ?, pending_signup_id = ?, updated_at = ? WHERE id = ?",
            )
            .bind(&lead_id)
            .bind(&self.event_id)
            .bind(self.now)
            .bind(&inference.id)
            .execute(&mut *conn)
            .await?;
            return Ok(SignupOutcome::Pending);
        }

        let response = confirm(conn, &inference, signup, &lead_id, self.now).await?;
        self.log_event(conn, Some(&lead_id), response.result.action().as_str())
            .await?;
        if let Some(idem) = &self.idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (key, request_hash, response, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(&idem.key)
            .bind(&idem.request_hash)
            .bind(serde_json::to_string(&response).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
            .bind(self.now)
            .execute(&mut *conn)
            .await?;
        }
        Ok(SignupOutcome::Done(response))
    }
}

impl ApplySignup {
    async fn log_event(
        &self,
        conn: &mut SqliteConnection,
        lead_id: Option<&str>,
        outcome: &str,
    ) -> Result<(), sqlx::Error> {
        let payload =
            serde_json::to_string(&self.signup).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO signup_events (id, received_at, session_id, lead_id, idempotency_key, payload, outcome)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(if outcome == "inference_pending" { self.event_id.clone() } else { new_id() })
        .bind(self.now)
        .bind(&self.signup.session_id)
        .bind(lead_id)
        .bind(self.idempotency.as_ref().map(|i| &i.key))
        .bind(payload)
        .bind(outcome)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// One lead per email (case-insensitive); later signups refresh what they provide.
async fn upsert_lead(
    conn: &mut SqliteConnection,
    signup: &ValidSignup,
    new_lead_id: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO leads (id, email, email_key, company, name, job_title, linkedin_url, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (email_key) DO UPDATE SET
             email = excluded.email,
             company = excluded.company,
             name = COALESCE(excluded.name, leads.name),
             job_title = COALESCE(excluded.job_title, leads.job_title),
             linkedin_url = COALESCE(excluded.linkedin_url, leads.linkedin_url),
             updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(new_lead_id)
    .bind(&signup.email)
    .bind(signup.email_key())
    .bind(&signup.company)
    .bind(&signup.name)
    .bind(&signup.job_title)
    .bind(&signup.linkedin_url)
    .bind(now)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Confirms the session's company from a signup and corroborates other sessions'
/// inferences of the same company.
///
/// The decision compares the signup with what was *inferred* (never with an earlier
/// confirmation), so repeating a signup always gives the same action.
pub(crate) async fn confirm(
    conn: &mut SqliteConnection,
    inference: &InferenceRow,
    signup: &ValidSignup,
    lead_id: &str,
    now: i64,
) -> Result<SignupResponse, sqlx::Error> {
    let matched = match &inference.inferred_company {
        Some(company) => companies_match(
            Inferred {
                company,
                domain: inference.inferred_domain.as_deref(),
            },
            &signup.company,
            &signup.email,
        ),
        // Enrichment finished with no company: the signup's company is the answer.
        None => true,
    };
    let confirmed_key = normalize_company(&signup.company);
    sqlx::query(
        "UPDATE company_inferences SET status = 'confirmed', confirmed_company = ?, confirmed_company_key = ?,
             confirmed_at = COALESCE(confirmed_at, ?), mismatch = ?, lead_id = ?, pending_signup_id = NULL,
             updated_at = ?
         WHERE id = ?",
    )
    .bind(&signup.company)
    .bind(&confirmed_key)
    .bind(now)
    .bind(!matched)
    .bind(lead_id)
    .bind(now)
    .bind(&inference.id)
    .execute(&mut *conn)
    .await?;

    let business_domain = email_domain(&signup.email).filter(|d| !is_free_mail_domain(d));
    let related = sqlx::query(
        "UPDATE company_inferences SET corroborated_by_lead_id = ?, corroborated_at = ?, updated_at = ?
         WHERE status = 'inferred' AND corroborated_at IS NULL AND id <> ?
           AND (inferred_company_key = ? OR inferred_domain = ?)",
    )
    .bind(lead_id)
    .bind(now)
    .bind(now)
    .bind(&inference.id)
    .bind(&confirmed_key)
    .bind(business_domain)
    .execute(&mut *conn)
    .await?
    .rows_affected();

    let result = match (&inference.inferred_company, matched) {
        (Some(old), false) => SignupResult::MismatchHandled {
            old_company: old.clone(),
            new_company: signup.company.clone(),
            company_inference_id: inference.id.clone(),
        },
        _ => SignupResult::Upgraded {
            company: signup.company.clone(),
            company_inference_id: inference.id.clone(),
        },
    };
    Ok(SignupResponse::new(
        result,
        lead_id.to_owned(),
        Some(related),
    ))
}
