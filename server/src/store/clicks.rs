//! Recording a click: one row holding the click, its pending company inference and its
//! enrichment job, already leased to the process that recorded it (which hands the job
//! to its own enrichment queue; if that process dies, the lease runs out and any worker
//! claims the job).

use std::sync::Arc;

use rusqlite::{params, Transaction};

use super::{LinkTarget, WriteOp};

/// A click to record. Ids are chosen by the caller so that a retried batch writes the
/// same rows.
#[derive(Debug, Clone)]
pub struct RecordClick {
    /// Click id.
    pub click_id: String,
    /// The session's inference id.
    pub inference_id: String,
    /// The freshly issued session id.
    pub session_id: String,
    /// The link clicked.
    pub link: Arc<LinkTarget>,
    /// Unix ms.
    pub clicked_at: i64,
    /// Client IP, kept for enrichment.
    pub client_ip: Option<String>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// `Referer`, truncated.
    pub referrer: Option<String>,
    /// Until when this process's enrichment queue holds the job (Unix ms).
    pub lease_until: i64,
}

impl WriteOp for RecordClick {
    type Output = ();

    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        tx.prepare_cached(
            "INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, client_ip, user_agent,
                 referrer, inference_id, status, updated_at, enrich_due_at, enrich_lease_until)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        )?
        .execute(params![
            self.click_id,
            self.session_id,
            self.link.id,
            self.link.creator_id,
            self.clicked_at,
            self.client_ip,
            self.user_agent,
            self.referrer,
            self.inference_id,
            self.clicked_at,
            self.clicked_at,
            self.lease_until,
        ])?;
        Ok(())
    }
}
