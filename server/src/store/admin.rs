//! Admin records: creators and links (writes), listings with cursor pagination, and
//! per-creator and per-provider stats (reads).

use serde::Serialize;

use super::db::{DbError, Row, Tx, Value};
use super::{Store, StoreError, WriteOp};
use crate::sql_params;

/// Serialises Unix-ms columns as RFC 3339 timestamps.
mod rfc3339 {
    use serde::Serializer;
    use std::time::{Duration, UNIX_EPOCH};

    fn format(ms: i64) -> String {
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        humantime::format_rfc3339_millis(at).to_string()
    }

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*ms))
    }

    pub mod option {
        use serde::Serializer;

        pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => s.serialize_str(&super::format(*ms)),
                None => s.serialize_none(),
            }
        }
    }
}

/// A creator.
#[derive(Debug, Clone, Serialize)]
pub struct Creator {
    pub id: String,
    pub name: String,
    pub linkedin_url: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
}

/// A tracking link.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub id: String,
    pub slug: String,
    pub creator_id: String,
    pub destination_url: String,
    pub campaign: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
}

/// A click.
#[derive(Debug, Clone, Serialize)]
pub struct Click {
    pub id: String,
    pub session_id: String,
    pub link_id: String,
    pub creator_id: String,
    #[serde(with = "rfc3339")]
    pub clicked_at: i64,
    /// The raw IP: only while enrichment is running.
    pub client_ip: Option<String>,
    /// The IP's /24 or /48: what is kept once enrichment finished (until retention).
    pub client_network: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
}

/// A lead.
#[derive(Debug, Clone, Serialize)]
pub struct Lead {
    pub id: String,
    pub email: String,
    pub company: String,
    pub name: Option<String>,
    pub job_title: Option<String>,
    pub linkedin_url: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
}

/// A session's company inference.
#[derive(Debug, Clone, Serialize)]
pub struct Inference {
    #[serde(rename = "id")]
    pub inference_id: String,
    pub session_id: String,
    pub click_id: String,
    pub creator_id: String,
    pub status: String,
    pub inferred_company: Option<String>,
    pub inferred_domain: Option<String>,
    pub confidence: Option<f64>,
    /// Which provider answered (`ip_table`, `learned`, `http`, `asn`, `admin`).
    pub source: Option<String>,
    /// The organisation kind it reported; only `business` becomes an inferred company.
    pub kind: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub inferred_at: Option<i64>,
    /// Failed enrichment attempts while pending, and the last failure.
    pub enrich_attempts: i64,
    pub enrich_error: Option<String>,
    pub confirmed_company: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub confirmed_at: Option<i64>,
    pub mismatch: bool,
    pub lead_id: Option<String>,
    pub corroborated_by_lead_id: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
}

/// One creator's funnel.
#[derive(Debug, Clone, Serialize)]
pub struct CreatorStats {
    pub creator_id: String,
    pub name: String,
    pub clicks: i64,
    /// Distinct companies inferred from this creator's clicks.
    pub inferred_companies: i64,
    /// Distinct companies confirmed by signups.
    pub confirmed_companies: i64,
    /// Distinct leads who signed up through this creator's clicks.
    pub signups: i64,
    /// Signups whose company differed from the inferred one.
    pub mismatches: i64,
    /// Inferred companies a signup then confirmed (same company).
    pub inferences_confirmed: i64,
    /// Inferred companies a signup corrected (another company): `mismatches`.
    pub inferences_corrected: i64,
    /// `inferences_confirmed / (confirmed + corrected)`: the measured precision of
    /// this creator's inferences; `null` until a signup checked one.
    pub inference_precision: Option<f64>,
}

/// How one provider's inferences fared against signups.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStats {
    /// The provider.
    pub source: String,
    /// Clicks it settled with a company.
    pub inferred: i64,
    /// Clicks it settled as not a company (ISP, hosting, …).
    pub not_a_company: i64,
    /// Its companies later confirmed by a signup.
    pub confirmed: i64,
    /// Its companies later corrected by a signup.
    pub corrected: i64,
    /// `confirmed / (confirmed + corrected)`, `null` until a signup checked one.
    pub precision: Option<f64>,
}

/// One page of a listing; `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Paging parameters, already bounded.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Return rows with an id greater than this.
    pub cursor: Option<String>,
    /// 1..=500.
    pub limit: u32,
}

/// Equality filters of a listing: `(column, value)`, columns from a fixed list.
pub type Filters<'a> = Vec<(&'static str, String)>;

/// Rows of a listing in id order after the cursor, filtered by equality on trusted
/// column names (the handlers pass literals, never user input, as column names).
pub async fn list<T>(
    store: &Store,
    select: &'static str,
    filters: Filters<'static>,
    page: &PageRequest,
) -> Result<Page<T>, StoreError>
where
    T: FromRow + HasId + Send + 'static,
{
    let mut sql = format!("{select} WHERE 1 = 1");
    let mut params: Vec<Value<'_>> = Vec::with_capacity(filters.len() + 2);
    for (column, value) in filters {
        sql.push_str(&format!(" AND {column} = ?"));
        params.push(value.into());
    }
    if let Some(cursor) = &page.cursor {
        sql.push_str(" AND id > ?");
        params.push(cursor.clone().into());
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    params.push((i64::from(page.limit) + 1).into());
    let mut rows: Vec<T> = store
        .read(move |tx| tx.query_all(&sql, &params, |row| T::from_row(row)))
        .await?;
    let next_cursor = if rows.len() > page.limit as usize {
        rows.truncate(page.limit as usize);
        rows.last().map(|r| r.id().to_owned())
    } else {
        None
    };
    Ok(Page {
        data: rows,
        next_cursor,
    })
}

/// A record read from the columns of its `selects` query, in order.
pub trait FromRow: Sized {
    /// Reads one row.
    fn from_row(row: &dyn Row) -> Result<Self, DbError>;
}

impl FromRow for Creator {
    fn from_row(r: &dyn Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text(0)?,
            name: r.text(1)?,
            linkedin_url: r.opt_text(2)?,
            created_at: r.int(3)?,
        })
    }
}

impl FromRow for Link {
    fn from_row(r: &dyn Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text(0)?,
            slug: r.text(1)?,
            creator_id: r.text(2)?,
            destination_url: r.text(3)?,
            campaign: r.opt_text(4)?,
            created_at: r.int(5)?,
        })
    }
}

impl FromRow for Click {
    fn from_row(r: &dyn Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text(0)?,
            session_id: r.text(1)?,
            link_id: r.text(2)?,
            creator_id: r.text(3)?,
            clicked_at: r.int(4)?,
            client_ip: r.opt_text(5)?,
            client_network: r.opt_text(6)?,
            user_agent: r.opt_text(7)?,
            referrer: r.opt_text(8)?,
        })
    }
}

impl FromRow for Lead {
    fn from_row(r: &dyn Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text(0)?,
            email: r.text(1)?,
            company: r.text(2)?,
            name: r.opt_text(3)?,
            job_title: r.opt_text(4)?,
            linkedin_url: r.opt_text(5)?,
            created_at: r.int(6)?,
            updated_at: r.int(7)?,
        })
    }
}

impl FromRow for Inference {
    fn from_row(r: &dyn Row) -> Result<Self, DbError> {
        Ok(Self {
            inference_id: r.text(0)?,
            session_id: r.text(1)?,
            click_id: r.text(2)?,
            creator_id: r.text(3)?,
            status: r.text(4)?,
            inferred_company: r.opt_text(5)?,
            inferred_domain: r.opt_text(6)?,
            confidence: r.opt_real(7)?,
            source: r.opt_text(8)?,
            kind: r.opt_text(9)?,
            inferred_at: r.opt_int(10)?,
            enrich_attempts: r.int(11)?,
            enrich_error: r.opt_text(12)?,
            confirmed_company: r.opt_text(13)?,
            confirmed_at: r.opt_int(14)?,
            mismatch: r.int(15)? != 0,
            lead_id: r.opt_text(16)?,
            corroborated_by_lead_id: r.opt_text(17)?,
            created_at: r.int(18)?,
            updated_at: r.int(19)?,
        })
    }
}

/// Rows that can be paged by id.
pub trait HasId {
    /// The row's id (the cursor).
    fn id(&self) -> &str;
}

macro_rules! has_id {
    ($($t:ty),*) => { $(impl HasId for $t { fn id(&self) -> &str { &self.id } })* };
}
has_id!(Creator, Link, Click, Lead);

// Inferences live on their click's row and are paged by it.
impl HasId for Inference {
    fn id(&self) -> &str {
        &self.click_id
    }
}

/// `SELECT` prefixes of the listings (aliased to the row structs' fields).
pub mod selects {
    pub const CREATORS: &str = "SELECT id, name, linkedin_url, created_at FROM creators";
    pub const LINKS: &str =
        "SELECT id, slug, creator_id, destination_url, campaign, created_at FROM links";
    pub const CLICKS: &str = "SELECT id, session_id, link_id, creator_id, clicked_at, client_ip, client_network, user_agent, referrer FROM clicks";
    pub const LEADS: &str = "SELECT id, email, company, name, job_title, linkedin_url, created_at, updated_at FROM leads";
    /// `corroborated_by_lead_id` is the mark PostgreSQL (and SQLite before the counts
    /// moved to memory) wrote on the session, or else the lead of the click whose
    /// confirmation was the first corroboration of its company or domain at or after
    /// its inference (and, once its own signup confirmed it, no later): see
    /// `store::related`.
    pub const INFERENCES: &str = "SELECT inference_id, session_id, id AS click_id, creator_id, status,
        inferred_company, inferred_domain, confidence, source, kind, inferred_at, enrich_attempts, enrich_error,
        confirmed_company, confirmed_at,
        mismatch, lead_id, COALESCE(corroborated_by_lead_id, (
            SELECT x.lead_id FROM (
                SELECT * FROM (
                    SELECT corroborated_at, click_id FROM corroborations
                    WHERE match_key = 'company:' || c.inferred_company_key
                      AND corroborated_at >= c.inferred_at
                      AND corroborated_at <= COALESCE(c.confirmed_at, 9223372036854775807)
                      AND click_id <> c.id
                    ORDER BY corroborated_at LIMIT 1) AS by_key
                UNION ALL
                SELECT * FROM (
                    SELECT corroborated_at, click_id FROM corroborations
                    WHERE match_key = 'domain:' || c.inferred_domain
                      AND corroborated_at >= c.inferred_at
                      AND corroborated_at <= COALESCE(c.confirmed_at, 9223372036854775807)
                      AND click_id <> c.id
                    ORDER BY corroborated_at LIMIT 1) AS by_domain
            ) AS first_corroboration JOIN clicks x ON x.id = first_corroboration.click_id
            ORDER BY first_corroboration.corroborated_at LIMIT 1)),
        clicked_at AS created_at, updated_at FROM clicks c";
}

/// Creates a creator.
#[derive(Debug, Clone)]
pub struct CreateCreator {
    pub id: String,
    pub name: String,
    pub linkedin_url: Option<String>,
    pub now: i64,
}

impl WriteOp for CreateCreator {
    type Output = Creator;

    fn apply(&self, tx: &mut dyn Tx) -> Result<Creator, DbError> {
        tx.execute(
            "INSERT INTO creators (id, name, linkedin_url, created_at) VALUES (?, ?, ?, ?)",
            sql_params![&self.id, &self.name, &self.linkedin_url, self.now],
        )?;
        Ok(Creator {
            id: self.id.clone(),
            name: self.name.clone(),
            linkedin_url: self.linkedin_url.clone(),
            created_at: self.now,
        })
    }
}

/// Creates a link; the slug is generated when absent.
#[derive(Debug, Clone)]
pub struct CreateLink {
    pub id: String,
    pub slug: Option<String>,
    pub creator_id: String,
    pub destination_url: String,
    pub campaign: Option<String>,
    pub now: i64,
}

/// Why a link was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateLinkError {
    /// No creator with that id.
    UnknownCreator,
    /// The slug is taken.
    SlugTaken,
}

impl WriteOp for CreateLink {
    type Output = Result<Link, CreateLinkError>;

    fn apply(&self, tx: &mut dyn Tx) -> Result<Self::Output, DbError> {
        let creator = tx.exists(
            "SELECT 1 FROM creators WHERE id = ?",
            sql_params![&self.creator_id],
        )?;
        if !creator {
            return Ok(Err(CreateLinkError::UnknownCreator));
        }
        let slug = match &self.slug {
            Some(slug) => {
                if slug_taken(tx, slug)? {
                    return Ok(Err(CreateLinkError::SlugTaken));
                }
                slug.clone()
            }
            None => loop {
                let candidate = random_slug().map_err(|e| DbError::Conversion(e.to_string()))?;
                if !slug_taken(tx, &candidate)? {
                    break candidate;
                }
            },
        };
        tx.execute(
            "INSERT INTO links (id, slug, creator_id, destination_url, campaign, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            sql_params![
                &self.id,
                &slug,
                &self.creator_id,
                &self.destination_url,
                &self.campaign,
                self.now
            ],
        )?;
        Ok(Ok(Link {
            id: self.id.clone(),
            slug,
            creator_id: self.creator_id.clone(),
            destination_url: self.destination_url.clone(),
            campaign: self.campaign.clone(),
            created_at: self.now,
        }))
    }
}

fn slug_taken(tx: &mut dyn Tx, slug: &str) -> Result<bool, DbError> {
    tx.exists("SELECT 1 FROM links WHERE slug = ?", sql_params![slug])
}

/// 8 characters of `[a-z0-9]` (41 bits): short enough to type, long enough not to guess.
fn random_slug() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// Per-creator funnel, in creator order.
pub async fn stats(store: &Store) -> Result<Vec<CreatorStats>, StoreError> {
    store
        .read(|tx| {
            tx.query_all(
                // One pass over each creator's clicks, found through their links (clicks
                // have no index by creator: every click would pay for it, and the
                // redirect is the hottest write).
                "SELECT c.id, c.name,
                    COUNT(k.id),
                    COUNT(DISTINCT k.inferred_company_key),
                    COUNT(DISTINCT k.confirmed_company_key) FILTER (WHERE k.status = 'confirmed'),
                    -- An erased lead's confirmed clicks still count, anonymously.
                    COUNT(DISTINCT k.lead_id)
                        + COUNT(k.id) FILTER (WHERE k.lead_id IS NULL AND k.status = 'confirmed'),
                    COUNT(k.id) FILTER (WHERE k.mismatch = 1),
                    COUNT(k.id) FILTER (WHERE k.status = 'confirmed'
                        AND k.inferred_company IS NOT NULL AND k.mismatch = 0),
                    COUNT(k.id) FILTER (WHERE k.status = 'confirmed'
                        AND k.inferred_company IS NOT NULL AND k.mismatch = 1)
                 FROM creators c
                 LEFT JOIN links l ON l.creator_id = c.id
                 LEFT JOIN clicks k ON k.link_id = l.id
                 GROUP BY c.id, c.name
                 ORDER BY c.id",
                &[],
                |r| {
                    let (confirmed, corrected) = (r.int(7)?, r.int(8)?);
                    Ok(CreatorStats {
                        creator_id: r.text(0)?,
                        name: r.text(1)?,
                        clicks: r.int(2)?,
                        inferred_companies: r.int(3)?,
                        confirmed_companies: r.int(4)?,
                        signups: r.int(5)?,
                        mismatches: r.int(6)?,
                        inferences_confirmed: confirmed,
                        inferences_corrected: corrected,
                        inference_precision: precision(confirmed, corrected),
                    })
                },
            )
        })
        .await
}

/// Per-provider precision, in source order.
pub async fn source_stats(store: &Store) -> Result<Vec<SourceStats>, StoreError> {
    store
        .read(|tx| {
            tx.query_all(
                "SELECT source,
                    COUNT(*) FILTER (WHERE inferred_company IS NOT NULL),
                    COUNT(*) FILTER (WHERE inferred_company IS NULL),
                    COUNT(*) FILTER (WHERE status = 'confirmed' AND inferred_company IS NOT NULL
                        AND mismatch = 0),
                    COUNT(*) FILTER (WHERE status = 'confirmed' AND inferred_company IS NOT NULL
                        AND mismatch = 1)
                 FROM clicks WHERE source IS NOT NULL GROUP BY source ORDER BY source",
                &[],
                |r| {
                    let (confirmed, corrected) = (r.int(3)?, r.int(4)?);
                    Ok(SourceStats {
                        source: r.text(0)?,
                        inferred: r.int(1)?,
                        not_a_company: r.int(2)?,
                        confirmed,
                        corrected,
                        precision: precision(confirmed, corrected),
                    })
                },
            )
        })
        .await
}

fn precision(confirmed: i64, corrected: i64) -> Option<f64> {
    let checked = confirmed + corrected;
    (checked > 0).then(|| confirmed as f64 / checked as f64)
}
