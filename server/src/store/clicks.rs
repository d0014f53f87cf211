//! Recording a click: the click row and its pending company inference, atomically.

use std::sync::Arc;

use sqlx::SqliteConnection;

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
}

impl WriteOp for RecordClick {
    type Output = ();

    async fn apply(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, client_ip, user_agent, referrer)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&self.click_id)
        .bind(&self.session_id)
        .bind(&self.link.id)
        .bind(&self.link.creator_id)
        .bind(self.clicked_at)
        .bind(&self.client_ip)
        .bind(&self.user_agent)
        .bind(&self.referrer)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO company_inferences (id, click_id, session_id, creator_id, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(&self.inference_id)
        .bind(&self.click_id)
        .bind(&self.session_id)
        .bind(&self.link.creator_id)
        .bind(self.clicked_at)
        .bind(self.clicked_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
