//! Settling a session's company inference, and applying a signup that was waiting for it.

use naano_core::{normalize_company, SignupResponse, ValidSignup};
use sqlx::SqliteConnection;

use super::signup::{confirm, inference_for_session};
use super::WriteOp;

/// A company found for an IP or set by an external pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct InferredCompany {
    /// Company name.
    pub company: String,
    /// Web domain, lowercase, without `www.`.
    pub domain: Option<String>,
    /// In [0, 1].
    pub confidence: f64,
    /// Which provider said so (`ip_table`, `admin`, …).
    pub source: String,
}

/// Who settles the inference, which decides what may be overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledBy {
    /// The server's own enrichment: only ever settles a pending inference.
    Enrichment,
    /// An external pipeline through the admin API: may correct an earlier inference,
    /// but not one a signup has already confirmed.
    Admin,
}

/// Settles the inference of `session_id`.
#[derive(Debug, Clone)]
pub struct SettleInference {
    /// The session.
    pub session_id: String,
    /// `None`: enrichment finished and found no company.
    pub company: Option<InferredCompany>,
    /// Who is settling it.
    pub by: SettledBy,
    /// Unix ms.
    pub now: i64,
}

/// What settling did.
#[derive(Debug, Clone)]
pub enum Settled {
    /// Stored; `deferred` is the answer for a signup that was waiting for it.
    Applied {
        inference_id: String,
        deferred: Option<SignupResponse>,
    },
    /// Enrichment found the inference already settled (e.g. by the admin API): left alone.
    AlreadySettled,
    /// No click has this session id.
    UnknownSession,
    /// A signup already confirmed this session's company.
    AlreadyConfirmed,
}

impl WriteOp for SettleInference {
    type Output = Settled;

    async fn apply(&self, conn: &mut SqliteConnection) -> Result<Settled, sqlx::Error> {
        let Some(inference) = inference_for_session(conn, &self.session_id).await? else {
            return Ok(Settled::UnknownSession);
        };
        match (inference.status.as_str(), self.by) {
            ("confirmed", _) => return Ok(Settled::AlreadyConfirmed),
            ("pending", _) | (_, SettledBy::Admin) => {}
            _ => return Ok(Settled::AlreadySettled),
        }
        let company = self.company.as_ref();
        sqlx::query(
            "UPDATE company_inferences SET status = ?, inferred_company = ?, inferred_company_key = ?,
                 inferred_domain = ?, confidence = ?, source = ?, inferred_at = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(if company.is_some() { "inferred" } else { "no_company" })
        .bind(company.map(|c| &c.company))
        .bind(company.map(|c| normalize_company(&c.company)))
        .bind(company.and_then(|c| c.domain.as_ref()))
        .bind(company.map(|c| c.confidence))
        .bind(company.map(|c| &c.source))
        .bind(self.now)
        .bind(self.now)
        .bind(&inference.id)
        .execute(&mut *conn)
        .await?;

        let deferred = match &inference.pending_signup_id {
            Some(event_id) => {
                apply_waiting_signup(conn, &inference.id, event_id, &self.session_id, self.now)
                    .await?
            }
            None => None,
        };
        Ok(Settled::Applied {
            inference_id: inference.id,
            deferred,
        })
    }
}

/// The deferred upgrade: a signup parked while enrichment ran is confirmed now.
async fn apply_waiting_signup(
    conn: &mut SqliteConnection,
    inference_id: &str,
    event_id: &str,
    session_id: &str,
    now: i64,
) -> Result<Option<SignupResponse>, sqlx::Error> {
    let waiting: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT payload, lead_id FROM signup_events WHERE id = ?")
            .bind(event_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((payload, Some(lead_id))) = waiting else {
        return Ok(None);
    };
    let signup: ValidSignup =
        serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    // Re-read: the row now carries the inference just written.
    let Some(settled) = inference_for_session(conn, session_id).await? else {
        return Ok(None);
    };
    debug_assert_eq!(settled.id, inference_id);
    confirm(conn, &settled, &signup, &lead_id, now)
        .await
        .map(Some)
}
