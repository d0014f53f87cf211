//! Settling a session's company inference, and applying a signup that was waiting for it.

use super::db::{DbError, Tx, Value};
use super::related::{self, InferredCompany};
use super::signup::{confirm, inference_for_session, LearnedNetwork};
use super::WriteOp;
use crate::inference::Answer;
use crate::sql_params;
use naano_core::{normalize_company, SignupResponse, ValidSignup};

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

    fn apply(&self, tx: &mut dyn Tx) -> Result<Settled, DbError> {
        let Some(inference) = inference_for_session(tx, &self.session_id)? else {
            return Ok(Settled::UnknownSession);
        };
        match (inference.status.as_str(), self.by) {
            ("confirmed", _) => return Ok(Settled::AlreadyConfirmed),
            ("pending", _) | (_, SettledBy::Admin) => {}
            _ => return Ok(Settled::AlreadySettled),
        }
        if let Some(corrected) = inference.inferred() {
            related::no_longer_inferred(tx, &corrected)?;
        }
        let (values, attributed) = inference_values(self.answer.as_ref());
        // Enrichment is over: the raw IP goes, its network stays (for learning and
        // for counting), and the job leaves the queue.
        tx.execute(
            "UPDATE clicks SET status = ?, inferred_company = ?, inferred_company_key = ?,
                 inferred_domain = ?, confidence = ?, source = ?, kind = ?, inferred_at = ?,
                 client_network = COALESCE(client_network, ?), client_ip = NULL,
                 enrich_due_at = NULL, enrich_lease_until = NULL, enrich_error = NULL,
                 updated_at = ?
             WHERE id = ?",
            &[
                &values[..],
                sql_params![self.now, inference.network(), self.now, &inference.click_id],
            ]
            .concat(),
        )?;
        if let Some(company) = &attributed {
            related::inferred(tx, &company.inferred_when(self.now))?;
        }

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

/// The settled inference's columns — `status, inferred_company, inferred_company_key,
/// inferred_domain, confidence, source, kind`, in that order — for `answer` (`None`:
/// nobody knows the IP), and the company it infers. A non-business answer keeps its
/// source and kind but names no company.
pub(crate) fn inference_values(
    answer: Option<&Answer>,
) -> ([Value<'_>; 7], Option<Attributed<'_>>) {
    let company = answer.filter(|a| a.is_attributable());
    let attributed = company.map(|c| Attributed {
        key: normalize_company(&c.company),
        domain: c.domain.as_deref(),
    });
    let values = [
        Value::from(if company.is_some() {
            "inferred"
        } else {
            "no_company"
        }),
        company.map(|c| &c.company).into(),
        attributed.as_ref().map(|a| a.key.clone()).into(),
        company.and_then(|c| c.domain.as_ref()).into(),
        company.map(|c| c.confidence).into(),
        answer.map(|a| &a.source).into(),
        answer.map(|a| a.kind.as_str()).into(),
    ];
    (values, attributed)
}

/// The company an answer infers, when it names a business.
#[derive(Debug)]
pub(crate) struct Attributed<'a> {
    /// `normalize_company` of its name.
    pub key: String,
    /// Its domain, when known.
    pub domain: Option<&'a str>,
}

impl Attributed<'_> {
    /// As the related-inference counts take it: inferred at `inferred_at`.
    pub fn inferred_when(&self, inferred_at: i64) -> InferredCompany<'_> {
        InferredCompany {
            key: &self.key,
            domain: self.domain,
            inferred_at,
            marked: false,
        }
    }
}

/// The deferred upgrade: a signup parked while enrichment ran is confirmed now.
fn apply_waiting_signup(
    tx: &mut dyn Tx,
    event_id: &str,
    session_id: &str,
    now: i64,
) -> Result<(Option<Box<SignupResponse>>, Option<LearnedNetwork>), DbError> {
    let waiting = tx.query_opt(
        "SELECT payload, lead_id FROM signup_events WHERE id = ?",
        sql_params![event_id],
        |row| Ok((row.text(0)?, row.opt_text(1)?)),
    )?;
    let Some((payload, Some(lead_id))) = waiting else {
        return Ok((None, None));
    };
    let signup: ValidSignup =
        serde_json::from_str(&payload).map_err(|e| DbError::Conversion(e.to_string()))?;
    // Re-read: the row now carries the inference just written.
    let Some(settled) = inference_for_session(tx, session_id)? else {
        return Ok((None, None));
    };
    let confirmed = confirm(tx, &settled, &signup, &lead_id, now)?;
    Ok((Some(Box::new(confirmed.response)), confirmed.learned))
}
