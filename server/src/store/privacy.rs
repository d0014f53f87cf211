//! Privacy: erasing a lead's personal data on request (GDPR art. 17), and the retention
//! sweep that strips click details older than the configured retention.
//!
//! Erasure keeps what is anonymous: the clicks themselves (link, creator, time), their
//! inference and the confirmed *company* (a company is not a person), and the signup
//! events' time, session and outcome — so creators' click and signup counts stay right.

use serde::Serialize;

use super::db::{DbError, Tx};
use super::WriteOp;
use crate::sql_params;

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// The erased lead (the id no longer resolves).
    pub lead_id: Option<String>,
    /// Signup events whose payload was replaced by `{"erased":true}`.
    pub signup_events: usize,
    /// Clicks unlinked from the lead and stripped of IP, network, user agent and referrer.
    pub clicks: usize,
}

/// Erases everything personal stored for an email address.
#[derive(Debug, Clone)]
pub struct EraseLead {
    /// The email, lowercased (`ValidSignup::email_key`).
    pub email_key: String,
}

// A person's events are those with their lead, and those with their email and no lead
// (an unknown session, a replayed answer): every event with a lead carries that lead's
// email, and the email index holds only events without one. Each condition is its own
// index search, joined with UNION: written with OR, both statements scanned the whole
// signup log (see `store::query_plans`).

/// Forgets the stored answers of a person's events: retries of an erased event must not
/// replay a lead that no longer exists.
pub(crate) const ERASE_IDEMPOTENCY_KEYS: &str = "DELETE FROM idempotency_keys WHERE key IN (
         SELECT idempotency_key FROM signup_events
         WHERE email_key = ?1 AND lead_id IS NULL AND idempotency_key IS NOT NULL
         UNION
         SELECT idempotency_key FROM signup_events
         WHERE lead_id = ?2 AND idempotency_key IS NOT NULL)";

/// Replaces the payload of a person's events with the erasure marker.
pub(crate) const ERASE_EVENTS: &str =
    "UPDATE signup_events SET payload = '{\"erased\":true}', lead_id = NULL,
         email_key = NULL, idempotency_key = NULL
     WHERE id IN (
         SELECT id FROM signup_events WHERE email_key = ?1 AND lead_id IS NULL
         UNION
         SELECT id FROM signup_events WHERE lead_id = ?2)";

/// Unlinks the clicks the lead corroborated.
pub(crate) const UNLINK_CORROBORATIONS: &str =
    "UPDATE clicks SET corroborated_by_lead_id = NULL WHERE corroborated_by_lead_id = ?";

impl WriteOp for EraseLead {
    /// `None`: nothing is stored for this email.
    type Output = Option<Erased>;

    fn apply(&self, tx: &mut dyn Tx) -> Result<Option<Erased>, DbError> {
        let lead_id = tx.query_opt(
            "SELECT id FROM leads WHERE email_key = ?",
            sql_params![&self.email_key],
            |row| row.text(0),
        )?;
        // Retries of erased events must not replay a lead that no longer exists.
        tx.execute(
            ERASE_IDEMPOTENCY_KEYS,
            sql_params![&self.email_key, &lead_id],
        )?;
        let signup_events = tx.execute(ERASE_EVENTS, sql_params![&self.email_key, &lead_id])?;
        let Some(lead_id) = lead_id else {
            return Ok((signup_events > 0).then_some(Erased {
                lead_id: None,
                signup_events,
                clicks: 0,
            }));
        };
        let clicks = tx.execute(
            "UPDATE clicks SET lead_id = NULL, pending_signup_id = NULL, client_ip = NULL,
                 client_network = NULL, user_agent = NULL, referrer = NULL
             WHERE lead_id = ?",
            sql_params![&lead_id],
        )?;
        tx.execute(UNLINK_CORROBORATIONS, sql_params![&lead_id])?;
        tx.execute("DELETE FROM leads WHERE id = ?", sql_params![&lead_id])?;
        Ok(Some(Erased {
            lead_id: Some(lead_id),
            signup_events,
            clicks,
        }))
    }
}

/// Strips IP, network, user agent and referrer from one page of clicks older than
/// `before_ms`, walking the click ids (time-ordered UUIDv7) after `after_id`.
#[derive(Debug, Clone)]
pub struct ExpireClickDetails {
    /// Clicks made before this Unix ms are expired.
    pub before_ms: i64,
    /// Resume after this click id ("" to start).
    pub after_id: String,
    /// Page size.
    pub limit: u32,
}

/// One page of the sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredPage {
    /// Clicks changed.
    pub expired: usize,
    /// Where the next page starts; `None` when the sweep reached `before_ms`.
    pub next_after_id: Option<String>,
}

impl WriteOp for ExpireClickDetails {
    type Output = ExpiredPage;

    fn apply(&self, tx: &mut dyn Tx) -> Result<ExpiredPage, DbError> {
        let boundary = uuid_v7_floor(self.before_ms);
        let page_end = tx.query_opt(
            "SELECT id FROM clicks WHERE id > ? AND id < ? ORDER BY id LIMIT 1 OFFSET ?",
            sql_params![&self.after_id, &boundary, self.limit.saturating_sub(1)],
            |row| row.text(0),
        )?;
        let end = page_end.clone().unwrap_or_else(|| boundary.clone());
        let expired = tx.execute(
            "UPDATE clicks SET client_ip = NULL, client_network = NULL, user_agent = NULL,
                 referrer = NULL
             WHERE id > ? AND id <= ? AND id < ?
               AND (client_ip IS NOT NULL OR client_network IS NOT NULL
                    OR user_agent IS NOT NULL OR referrer IS NOT NULL)",
            sql_params![&self.after_id, &end, &boundary],
        )?;
        Ok(ExpiredPage {
            expired,
            next_after_id: page_end,
        })
    }
}

/// The smallest UUIDv7 string of millisecond `ms`: every id minted at or after `ms`
/// sorts after it, every id minted before sorts before it.
fn uuid_v7_floor(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0) & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-7000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::uuid_v7_floor;

    #[test]
    fn floor_sorts_between_ids_of_neighbouring_milliseconds() {
        let at = |ms: u64| {
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix_time(
                ms / 1000,
                (ms % 1000) as u32 * 1_000_000,
                0,
                12,
            ))
            .to_string()
        };
        let ms = 1_780_000_000_123_i64;
        let floor = uuid_v7_floor(ms);
        assert!(at(ms as u64 - 1) < floor, "{} < {floor}", at(ms as u64 - 1));
        assert!(at(ms as u64) > floor, "{} > {floor}", at(ms as u64));
    }
}
