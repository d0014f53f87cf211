//! Settling a session's company inference, and applying a signup that was waiting for it.

use naano_core::{normalize_company, SignupResponse, ValidSignup};
use rusqlite::{params, OptionalExtension, Transaction};

use super::signup::{confirm, inference_for_session, LearnedNetwork};
use super::WriteOp;
use crate::inference::Answer;

/// Who settles the inference, which decides what may be overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledBy {
    /// The server's own enrichment: only ever settles a pending inference.
    Enrichment,
    /// An external pipeline through the admin API: may correct an earlier inference,
    /// but not one a signup has already confirmed.
    Admin,
}

/// Settles the inference of `session_id` and finishes its enrichment job.
#[derive(Debug, Clone)]
pub struct SettleInference {
    /// The session.
    pub session_id: String,
    /// `None`: enrichment finished and nobody knows the IP. An answer of a
    /// non-business kind also settles as "no company", with its source and kind kept.
    pub answer: Option<Answer>,
    /// Who is settling it.
    pub by: SettledBy,
    /// Unix ms.
    pub now: i64,
}

/// What settling did.
#[derive(Debug, Clone)]
pub enum Settled {
    /// Stored; `deferred` is the answer for a signup that was waiting for it, and
    /// `learned` what that signup taught about the click's network.
    Applied {
        inference_id: String,
        deferred: Option<Box<SignupResponse>>,
        learned: Option<LearnedNetwork>,
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

    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<Settled> {
        let Some(inference) = inference_for_session(tx, &self.session_id)? else {
            return Ok(Settled::UnknownSession);
        };
        match (inference.status.as_str(), self.by) {
            ("confirmed", _) => return Ok(Settled::AlreadyConfirmed),
            ("pending", _) | (_, SettledBy::Admin) => {}
            _ => return Ok(Settled::AlreadySettled),
        }
        let company = self.answer.as_ref().filter(|a| a.is_attributable());
        // Enrichment is over: the raw IP goes, its network stays (for learning and
        // for counting), and the job leaves the queue.
        tx.prepare_cached(
            "UPDATE clicks SET status = ?, inferred_company = ?, inferred_company_key = ?,
                 inferred_domain = ?, confidence = ?, source = ?, kind = ?, inferred_at = ?,
                 client_network = COALESCE(client_network, ?), client_ip = NULL,
                 enrich_due_at = NULL, enrich_lease_until = NULL, enrich_error = NULL,
                 updated_at = ?
             WHERE id = ?",
        )?
        .execute(params![
            if company.is_some() {
                "inferred"
            } else {
                "no_company"
            },
            company.map(|c| &c.company),
            company.map(|c| normalize_company(&c.company)),
            company.and_then(|c| c.domain.as_ref()),
            company.map(|c| c.confidence),
            self.answer.as_ref().map(|a| &a.source),
            self.answer.as_ref().map(|a| a.kind.as_str()),
            self.now,
            inference.network(),
            self.now,
            inference.click_id,
        ])?;

        let (deferred, learned) = match &inference.pending_signup_id {
            Some(event_id) => apply_waiting_signup(tx, event_id, &self.session_id, self.now)?,
            None => (None, None),
        };
        Ok(Settled::Applied {
            inference_id: inference.id,
            deferred,
            learned,
        })
    }
}

/// The deferred upgrade: a signup parked while enrichment ran is confirmed now.
fn apply_waiting_signup(
    tx: &Transaction<'_>,
    event_id: &str,
    session_id: &str,
    now: i64,
) -> rusqlite::Result<(Option<Box<SignupResponse>>, Option<LearnedNetwork>)> {
    let waiting: Option<(String, Option<String>)> = tx
        .prepare_cached("SELECT payload, lead_id FROM signup_events WHERE id = ?")?
        .query_row([event_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((payload, Some(lead_id))) = waiting else {
        return Ok((None, None));
    };
    let signup: ValidSignup = serde_json::from_str(&payload).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    // Re-read: the row now carries the inference just written.
    let Some(settled) = inference_for_session(tx, session_id)? else {
        return Ok((None, None));
    };
    let confirmed = confirm(tx, &settled, &signup, &lead_id, now)?;
    Ok((Some(Box::new(confirmed.response)), confirmed.learned))
}
