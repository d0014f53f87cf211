//! Admin records: creators and links (writes through the writer), listings with cursor
//! pagination, and per-creator stats (reads from the read pool).

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::{StoreError, WriteOp};

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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Creator {
    pub id: String,
    pub name: String,
    pub linkedin_url: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: i64,
}

/// A tracking link.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

/// Rows of `table` in id order after the cursor, filtered by equality on trusted column
/// names (the handlers pass literals, never user input, as column names).
pub async fn list<T>(
    pool: &SqlitePool,
    select: &'static str,
    filters: Filters<'_>,
    page: &PageRequest,
) -> Result<Page<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + HasId,
{
    let mut query: QueryBuilder<'_, Sqlite> = QueryBuilder::new(select);
    query.push(" WHERE 1 = 1");
    for (column, value) in filters {
        query
            .push(" AND ")
            .push(column)
            .push(" = ")
            .push_bind(value);
    }
    if let Some(cursor) = &page.cursor {
        query.push(" AND id > ").push_bind(cursor.clone());
    }
    query
        .push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(page.limit) + 1);
    let mut rows: Vec<T> = query.build_query_as().fetch_all(pool).await?;
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
    pub const INFERENCES: &str = "SELECT inference_id, session_id, id AS click_id, creator_id, status,
        inferred_company, inferred_domain, confidence, source, kind, inferred_at, enrich_attempts, enrich_error,
        confirmed_company, confirmed_at,
        mismatch, lead_id, corroborated_by_lead_id, clicked_at AS created_at, updated_at FROM clicks";
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

    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<Creator> {
        tx.prepare_cached(
            "INSERT INTO creators (id, name, linkedin_url, created_at) VALUES (?, ?, ?, ?)",
        )?
        .execute(params![self.id, self.name, self.linkedin_url, self.now])?;
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

    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<Self::Output> {
        let creator: Option<i64> = tx
            .prepare_cached("SELECT 1 FROM creators WHERE id = ?")?
            .query_row([&self.creator_id], |row| row.get(0))
            .optional()?;
        if creator.is_none() {
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
                let candidate = random_slug()
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
                if !slug_taken(tx, &candidate)? {
                    break candidate;
                }
            },
        };
        tx.prepare_cached(
            "INSERT INTO links (id, slug, creator_id, destination_url, campaign, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.id,
            slug,
            self.creator_id,
            self.destination_url,
            self.campaign,
            self.now
        ])?;
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

fn slug_taken(tx: &Transaction<'_>, slug: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT 1 FROM links WHERE slug = ?")?
        .exists([slug])
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
pub async fn stats(pool: &SqlitePool) -> Result<Vec<CreatorStats>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT c.id AS creator_id, c.name,
            (SELECT COUNT(*) FROM clicks k WHERE k.creator_id = c.id) AS clicks,
            (SELECT COUNT(DISTINCT i.inferred_company_key) FROM clicks i
               WHERE i.creator_id = c.id AND i.inferred_company_key IS NOT NULL) AS inferred_companies,
            (SELECT COUNT(DISTINCT i.confirmed_company_key) FROM clicks i
               WHERE i.creator_id = c.id AND i.status = 'confirmed') AS confirmed_companies,
            (SELECT COUNT(DISTINCT i.lead_id) FROM clicks i
               WHERE i.creator_id = c.id AND i.lead_id IS NOT NULL)
              -- An erased lead's confirmed clicks still count, anonymously.
              + (SELECT COUNT(*) FROM clicks i
               WHERE i.creator_id = c.id AND i.lead_id IS NULL AND i.status = 'confirmed') AS signups,
            (SELECT COUNT(*) FROM clicks i WHERE i.creator_id = c.id AND i.mismatch = 1) AS mismatches,
            (SELECT COUNT(*) FROM clicks i WHERE i.creator_id = c.id AND i.status = 'confirmed'
               AND i.inferred_company IS NOT NULL AND i.mismatch = 0) AS inferences_confirmed,
            (SELECT COUNT(*) FROM clicks i WHERE i.creator_id = c.id AND i.status = 'confirmed'
               AND i.inferred_company IS NOT NULL AND i.mismatch = 1) AS inferences_corrected,
            NULL AS inference_precision
         FROM creators c ORDER BY c.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|mut r: CreatorStats| {
            r.inference_precision = precision(r.inferences_confirmed, r.inferences_corrected);
            r
        })
        .collect())
}

/// Per-provider precision, in source order.
pub async fn source_stats(pool: &SqlitePool) -> Result<Vec<SourceStats>, StoreError> {
    let rows: Vec<SourceStats> = sqlx::query_as(
        "SELECT source,
            SUM(inferred_company IS NOT NULL) AS inferred,
            SUM(inferred_company IS NULL) AS not_a_company,
            SUM(status = 'confirmed' AND inferred_company IS NOT NULL AND mismatch = 0) AS confirmed,
            SUM(status = 'confirmed' AND inferred_company IS NOT NULL AND mismatch = 1) AS corrected,
            NULL AS precision
         FROM clicks WHERE source IS NOT NULL GROUP BY source ORDER BY source",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.precision = precision(r.confirmed, r.corrected);
            r
        })
        .collect())
}

fn precision(confirmed: i64, corrected: i64) -> Option<f64> {
    let checked = confirmed + corrected;
    (checked > 0).then(|| confirmed as f64 / checked as f64)
}
