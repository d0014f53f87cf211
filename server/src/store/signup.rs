//! The signup webhook's write: find the click, upsert the lead, log the event, and
//! confirm the session's company (or park the signup until enrichment lands).

use super::db::{DbError, Tx};
use naano_core::{
    companies_match, email_domain, is_free_mail_domain, normalize_company, Inferred,
    SignupResponse, SignupResult, ValidSignup,
};
use sha2::{Digest, Sha256};

use super::related::{self, InferredCompany};
use super::{new_id, WriteOp};
use crate::sql_params;

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
#[derive(Debug)]
pub(crate) struct InferenceRow {
    /// The click row holding the inference.
    pub click_id: String,
    /// The inference's own id (`company_inference_id`).
    pub id: String,
    pub status: String,
    pub inferred_company: Option<String>,
    pub inferred_domain: Option<String>,
    pub pending_signup_id: Option<String>,
    pub client_ip: Option<String>,
    pub client_network: Option<String>,
    pub kind: Option<String>,
    pub inferred_company_key: Option<String>,
    pub inferred_at: Option<i64>,
    /// Marked corroborated (see [`related`]).
    pub marked: bool,
    pub confirmed_company_key: Option<String>,
    pub confirmed_at: Option<i64>,
}

impl InferenceRow {
    /// The company this session is inferred as, while its status is `inferred`.
    pub fn inferred(&self) -> Option<InferredCompany<'_>> {
        if self.status != "inferred" {
            return None;
        }
        Some(InferredCompany {
            key: self.inferred_company_key.as_deref()?,
            domain: self.inferred_domain.as_deref(),
            inferred_at: self.inferred_at?,
            marked: self.marked,
        })
    }

    /// The click's /24 or /48: kept, or derived from the raw IP still held.
    pub fn network(&self) -> Option<String> {
        self.client_network.clone().or_else(|| {
            let ip = self.client_ip.as_deref()?.parse().ok()?;
            Some(naano_core::client_network(ip))
        })
    }

    /// Whether a signup through this click may teach its network's company. Networks
    /// an enrichment classified as an ISP, a cloud, a school or an administration are
    /// shared by unrelated people: one signup says nothing about the next visitor.
    ///
    /// Nor are private and loopback networks: behind a proxy that Naano was not told to
    /// trust, every click comes from the proxy's address, and learning it would
    /// attribute every later visitor to the last company that signed up.
    fn network_is_learnable(&self, network: &str) -> bool {
        let public = network
            .parse::<ipnet::IpNet>()
            .is_ok_and(|net| naano_core::is_public_ip(net.addr()));
        public && matches!(self.kind.as_deref(), None | Some("business" | "unknown"))
    }
}

/// A network's company as a signup taught it.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedNetwork {
    /// CIDR (/24 or /48).
    pub network: String,
    /// The confirmed company.
    pub company: String,
    /// Its domain, from the signup's business email.
    pub domain: Option<String>,
    /// Signups in a row that named this company from this network.
    pub confirmations: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

/// A confirmed signup: the answer, and what it taught.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The webhook's answer.
    pub response: SignupResponse,
    /// The network learned, when the click's network was learnable.
    pub learned: Option<LearnedNetwork>,
}

/// What the webhook's write did.
#[derive(Debug, Clone)]
pub struct SignupApplied {
    /// What to answer.
    pub outcome: SignupOutcome,
    /// The network learned from it.
    pub learned: Option<LearnedNetwork>,
}

/// The session's inference, locked for the rest of the transaction on PostgreSQL so that
/// concurrent signups and settlements of one session apply one after the other.
pub(crate) fn inference_for_session(
    tx: &mut dyn Tx,
    session_id: &str,
) -> Result<Option<InferenceRow>, DbError> {
    let sql = format!("{INFERENCE_FOR_SESSION}{}", tx.dialect().for_update());
    tx.query_opt(&sql, sql_params![session_id], |row| {
        Ok(InferenceRow {
            click_id: row.text(0)?,
            id: row.text(1)?,
            status: row.text(2)?,
            inferred_company: row.opt_text(3)?,
            inferred_domain: row.opt_text(4)?,
            pending_signup_id: row.opt_text(5)?,
            client_ip: row.opt_text(6)?,
            client_network: row.opt_text(7)?,
            kind: row.opt_text(8)?,
            inferred_company_key: row.opt_text(9)?,
            inferred_at: row.opt_int(10)?,
            marked: row.int(11)? != 0,
            confirmed_company_key: row.opt_text(12)?,
            confirmed_at: row.opt_int(13)?,
        })
    })
}

/// JSON encoding failures surface as a conversion error.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Conversion(e.to_string()))
}

impl WriteOp for ApplySignup {
    type Output = SignupApplied;

    fn apply(&self, tx: &mut dyn Tx) -> Result<SignupApplied, DbError> {
        let (outcome, learned) = self.decide(tx)?;
        Ok(SignupApplied { outcome, learned })
    }
}

impl ApplySignup {
    fn decide(&self, tx: &mut dyn Tx) -> Result<(SignupOutcome, Option<LearnedNetwork>), DbError> {
        let signup = &self.signup;
        if let Some(idem) = &self.idempotency {
            let stored = tx.query_opt(
                "SELECT request_hash, response FROM idempotency_keys WHERE key = ?",
                sql_params![&idem.key],
                |row| Ok((row.text(0)?, row.text(1)?)),
            )?;
            if let Some((hash, response)) = stored {
                if hash != idem.request_hash {
                    return Ok((SignupOutcome::IdempotencyConflict, None));
                }
                self.log_event(tx, None, "replayed")?;
                return Ok((SignupOutcome::Replayed(response), None));
            }
        }

        let Some(inference) = inference_for_session(tx, &signup.session_id)? else {
            self.log_event(tx, None, "session_not_found")?;
            return Ok((SignupOutcome::SessionNotFound, None));
        };
        let lead_id = upsert_lead(tx, signup, &self.new_lead_id, self.now)?;

        if inference.status == "pending" {
            self.log_event(tx, Some(&lead_id), "inference_pending")?;
            tx.execute(
                "UPDATE clicks SET lead_id = ?, pending_signup_id = ?, updated_at = ? WHERE id = ?",
                sql_params![&lead_id, &self.event_id, self.now, &inference.click_id],
            )?;
            return Ok((SignupOutcome::Pending, None));
        }

        let Confirmed { response, learned } = confirm(tx, &inference, signup, &lead_id, self.now)?;
        self.log_event(tx, Some(&lead_id), response.result.action().as_str())?;
        if let Some(idem) = &self.idempotency {
            tx.execute(
                "INSERT INTO idempotency_keys (key, request_hash, response, created_at) VALUES (?, ?, ?, ?)",
                sql_params![&idem.key, &idem.request_hash, to_json(&response)?, self.now],
            )?;
        }
        Ok((SignupOutcome::Done(response), learned))
    }

    fn log_event(
        &self,
        tx: &mut dyn Tx,
        lead_id: Option<&str>,
        outcome: &str,
    ) -> Result<(), DbError> {
        // The pending event's id is fixed in advance: the inference points at it.
        let id = if outcome == "inference_pending" {
            self.event_id.clone()
        } else {
            new_id()
        };
        tx.execute(
            "INSERT INTO signup_events (id, received_at, session_id, lead_id, idempotency_key, payload,
                 outcome, email_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sql_params![
                id,
                self.now,
                &self.signup.session_id,
                lead_id,
                self.idempotency.as_ref().map(|i| &i.key),
                to_json(&self.signup)?,
                outcome,
                self.signup.email_key(),
            ],
        )?;
        Ok(())
    }
}

/// One lead per email (case-insensitive); later signups refresh what they provide.
///
/// Read, then update or insert, rather than one `INSERT … ON CONFLICT … RETURNING`:
/// SQLite hands `RETURNING` rows back through a temporary B-tree built and dropped per
/// statement. On PostgreSQL the read locks an existing lead; two first signups of one
/// email at once both insert, and the loser's unique violation reruns its transaction,
/// which then finds the winner's lead.
fn upsert_lead(
    tx: &mut dyn Tx,
    signup: &ValidSignup,
    new_lead_id: &str,
    now: i64,
) -> Result<String, DbError> {
    let sql = format!(
        "SELECT id FROM leads WHERE email_key = ?{}",
        tx.dialect().for_update()
    );
    let existing = tx.query_opt(&sql, sql_params![signup.email_key()], |row| row.text(0))?;
    if let Some(id) = existing {
        tx.execute(
            "UPDATE leads SET email = ?, company = ?, name = COALESCE(?, name),
                 job_title = COALESCE(?, job_title), linkedin_url = COALESCE(?, linkedin_url),
                 updated_at = ?
             WHERE id = ?",
            sql_params![
                &signup.email,
                &signup.company,
                &signup.name,
                &signup.job_title,
                &signup.linkedin_url,
                now,
                &id,
            ],
        )?;
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO leads (id, email, email_key, company, name, job_title, linkedin_url, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sql_params![
            new_lead_id,
            &signup.email,
            signup.email_key(),
            &signup.company,
            &signup.name,
            &signup.job_title,
            &signup.linkedin_url,
            now,
            now,
        ],
    )?;
    Ok(new_lead_id.to_owned())
}

/// The session's click, as [`inference_for_session`] reads it.
pub(crate) const INFERENCE_FOR_SESSION: &str =
    "SELECT id, inference_id, status, inferred_company, inferred_domain, pending_signup_id,
         client_ip, client_network, kind, inferred_company_key, inferred_at,
         CASE WHEN corroborated_at IS NULL THEN 0 ELSE 1 END, confirmed_company_key,
         confirmed_at
     FROM clicks WHERE session_id = ?";

/// Confirms the session's company from a signup and corroborates other sessions'
/// inferences of the same company.
///
/// The decision compares the signup with what was *inferred* (never with an earlier
/// confirmation), so repeating a signup always gives the same action.
pub(crate) fn confirm(
    tx: &mut dyn Tx,
    inference: &InferenceRow,
    signup: &ValidSignup,
    lead_id: &str,
    now: i64,
) -> Result<Confirmed, DbError> {
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
    let business_domain = email_domain(&signup.email).filter(|d| !is_free_mail_domain(d));
    let business_domain = business_domain.as_deref();
    if let Some(inferred) = inference.inferred() {
        related::no_longer_inferred(tx, &inferred)?;
    }
    // A confirmation is evidence once: a repeated signup of the same company keeps the
    // first one's time and corroborates nothing more. A signup naming another company
    // replaces it.
    let first_evidence = inference.confirmed_company_key.as_deref() != Some(confirmed_key.as_str());
    let confirmed_at = match inference.confirmed_at {
        Some(at) if !first_evidence => at,
        _ => now,
    };
    tx.execute(
        "UPDATE clicks SET status = 'confirmed', confirmed_company = ?, confirmed_company_key = ?,
             confirmed_at = ?, mismatch = ?, lead_id = ?,
             pending_signup_id = NULL, updated_at = ?
         WHERE id = ?",
        sql_params![
            &signup.company,
            &confirmed_key,
            confirmed_at,
            !matched,
            lead_id,
            now,
            &inference.click_id
        ],
    )?;
    let related = if first_evidence {
        related::corroborate(
            tx,
            &inference.click_id,
            &confirmed_key,
            business_domain,
            lead_id,
            now,
        )?
    } else {
        0
    };

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
    // Learn once per click: a repeated signup must not inflate the count.
    let learned = match inference.network() {
        Some(network)
            if inference.status != "confirmed" && inference.network_is_learnable(&network) =>
        {
            Some(learn_network(
                tx,
                &network,
                &signup.company,
                &confirmed_key,
                business_domain,
                now,
            )?)
        }
        _ => None,
    };
    Ok(Confirmed {
        response: SignupResponse::new(result, lead_id.to_owned(), Some(related)),
        learned,
    })
}

/// Records that `network` belongs to `company`: one more confirmation when it already
/// did, a correction (count restarted) when it belonged to another company.
///
/// Read, then update or insert, for the reason given at [`upsert_lead`] (on
/// PostgreSQL the read locks the row, so concurrent signups from one network count
/// one after the other).
fn learn_network(
    tx: &mut dyn Tx,
    network: &str,
    company: &str,
    company_key: &str,
    domain: Option<&str>,
    now: i64,
) -> Result<LearnedNetwork, DbError> {
    let sql = format!(
        "SELECT company_key, domain, confirmations, corrections FROM learned_networks
         WHERE network = ?{}",
        tx.dialect().for_update()
    );
    let held = tx.query_opt(&sql, sql_params![network], |row| {
        Ok((row.text(0)?, row.opt_text(1)?, row.int(2)?, row.int(3)?))
    })?;
    let domain = domain.map(str::to_owned);
    let (domain, confirmations, corrections) = match &held {
        // The same company again: one more confirmation; a signup from a free-mail
        // address keeps the domain an earlier one taught.
        Some((key, held_domain, confirmations, corrections)) if key == company_key => (
            domain.or_else(|| held_domain.clone()),
            confirmations + 1,
            *corrections,
        ),
        // Another company: corrected, and counted from one again.
        Some((_, _, _, corrections)) => (domain, 1, corrections + 1),
        None => (domain, 1, 0),
    };
    let params = sql_params![
        company,
        company_key,
        &domain,
        confirmations,
        corrections,
        now,
        network
    ];
    if held.is_some() {
        tx.execute(
            "UPDATE learned_networks SET company = ?, company_key = ?, domain = ?,
                 confirmations = ?, corrections = ?, updated_at = ?
             WHERE network = ?",
            params,
        )?;
    } else {
        tx.execute(
            "INSERT INTO learned_networks
                 (company, company_key, domain, confirmations, corrections, updated_at, network)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params,
        )?;
    }
    Ok(LearnedNetwork {
        network: network.to_owned(),
        company: company.to_owned(),
        domain,
        confirmations,
        updated_at: now,
    })
}
