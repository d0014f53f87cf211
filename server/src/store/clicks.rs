//! Recording a click: one row holding the click, its pending company inference and its
//! enrichment job, already leased to the process that recorded it (which hands the job
//! to its own enrichment queue; if that process dies, the lease runs out and any worker
//! claims the job).

use std::net::IpAddr;

use super::db::{DbError, Tx};
use super::inferences::inference_values;
use super::related;
use super::WriteOp;
use crate::inference::Answer;
use crate::sql_params;

/// What is known of the click's company when it is recorded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClickInference {
    /// Enrichment has to go to the network: a job, leased to this process until then
    /// (Unix ms).
    Job { lease_until: i64 },
    /// Every provider answered from memory: the click is written settled (`None`:
    /// nobody knows the IP), with no job and no raw IP on disk.
    Settled(Option<Answer>),
}

/// A click to record. Ids are chosen by the caller so that a retried batch, or a click
/// replayed from SQLite's click journal, writes the same rows (a click whose id is
/// already recorded is skipped).
///
/// Its serde form is the click journal's line format, which a newer version may have to
/// read after a crash of an older one: add fields only with a default, never rename or
/// remove one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecordClick {
    /// Click id.
    pub click_id: String,
    /// The session's inference id.
    pub inference_id: String,
    /// The freshly issued session id.
    pub session_id: String,
    /// The link clicked.
    pub link_id: String,
    /// Its creator.
    pub creator_id: String,
    /// Unix ms.
    pub clicked_at: i64,
    /// Client IP: stored only with a job (enrichment needs it); a settled click keeps
    /// its network alone.
    pub client_ip: Option<IpAddr>,
    /// `User-Agent`, truncated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_agent: Option<String>,
    /// `Referer`, truncated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub referrer: Option<String>,
    /// A job, or the inference already settled.
    pub inference: ClickInference,
}

impl WriteOp for RecordClick {
    type Output = ();

    fn is_single_statement(&self) -> bool {
        true
    }

    fn apply(&self, tx: &mut dyn Tx) -> Result<(), DbError> {
        let answer = match &self.inference {
            ClickInference::Job { lease_until } => return self.insert_with_job(tx, *lease_until),
            ClickInference::Settled(answer) => answer.as_ref(),
        };
        let network = self.client_ip.map(naano_core::client_network);
        let (values, attributed) = inference_values(answer);
        let inserted = tx.execute(
            "INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, client_network,
                 user_agent, referrer, inference_id, status, inferred_company, inferred_company_key,
                 inferred_domain, confidence, source, kind, inferred_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
            &[
                sql_params![
                    &self.click_id,
                    &self.session_id,
                    &self.link_id,
                    &self.creator_id,
                    self.clicked_at,
                    network,
                    &self.user_agent,
                    &self.referrer,
                    &self.inference_id,
                ],
                &values[..],
                sql_params![self.clicked_at, self.clicked_at],
            ]
            .concat(),
        )?;
        // A click replayed from the journal after it was committed counts once.
        if let (1, Some(company)) = (inserted, &attributed) {
            related::inferred(tx, &company.inferred_when(self.clicked_at))?;
        }
        Ok(())
    }
}

impl RecordClick {
    fn insert_with_job(&self, tx: &mut dyn Tx, lease_until: i64) -> Result<(), DbError> {
        tx.execute(
            "INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, client_ip, user_agent,
                 referrer, inference_id, status, updated_at, enrich_due_at, enrich_lease_until)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
            sql_params![
            &self.click_id,
            &self.session_id,
            &self.link_id,
            &self.creator_id,
            self.clicked_at,
            self.client_ip.map(|ip| ip.to_string()),
            &self.user_agent,
            &self.referrer,
            &self.inference_id,
            self.clicked_at,
            self.clicked_at,
            lease_until,
        ])?;
        Ok(())
    }
}
