//! Related inferences: the other sessions of a company that a signup corroborates.
//!
//! A signup that confirms company K (and, from a business email, domain D) corroborates
//! every other session inferred as K, or inferred with domain D, that no earlier
//! confirmation had corroborated; the webhook answers how many (`related_updated`).
//!
//! **PostgreSQL** finds them through two partial indexes of `clicks` (inferred, not yet
//! corroborated; by company key and by domain) and marks each one
//! (`corroborated_by_lead_id`), under row locks, because any number of replicas may
//! confirm the same company at once.
//!
//! **SQLite** has one writer, this process, so it keeps that knowledge in memory instead
//! ([`RelatedCounts`]): per company and domain, how many inferred sessions are still
//! uncorroborated, and when each company and domain was last confirmed. The indexes
//! cost every inferred click two inserts at random places in two B-trees, each a page
//! of its own in the redirect's commit, and marking a company's sessions one by one cost
//! its first signup one write per session; together they halved both endpoints once most
//! clicks were inferred. On SQLite a signup that corroborated any session records it
//! once, in `corroborations` (a row for its company key and one for its business
//! domain), and a session's corroborating lead is derived when it is read
//! ([`super::admin::selects::INFERENCES`]): the lead of the confirming click of the
//! first such row at or after its inference. A signup that corroborated nothing records
//! nothing: no session inferred before it was still uncorroborated, so no read needs it.
//! The counts are rebuilt from the file at start.

use std::collections::{HashMap, HashSet};

use super::db::{DbError, Dialect, Tx};
use crate::sql_params;

/// What a click's inference says about its company, as the counts need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InferredCompany<'a> {
    /// `naano_core::normalize_company` of the inferred company.
    pub key: &'a str,
    /// The inferred domain, when the provider knew it.
    pub domain: Option<&'a str>,
    /// When it was inferred (Unix ms).
    pub inferred_at: i64,
    /// Marked corroborated by a signup (PostgreSQL, or a SQLite file written before
    /// the counts existed).
    pub marked: bool,
}

/// A company key's or domain's index in [`RelatedCounts`]: each name is hashed once per
/// click, to find its index, and everything else is reached through it.
type Id = usize;

/// Names and what is known of each, by [`Id`]. Entries are never removed: they are
/// bounded by the companies and domains ever inferred or confirmed, not by the clicks,
/// and an entry whose counts are zero means what no entry means.
#[derive(Debug)]
struct Interned<T> {
    ids: HashMap<Box<str>, Id>,
    entries: Vec<T>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            entries: Vec::new(),
        }
    }
}

impl<T: Default> Interned<T> {
    fn id(&self, name: &str) -> Option<Id> {
        self.ids.get(name).copied()
    }

    /// The id of `name`, given one if it has none yet.
    fn intern(&mut self, name: &str) -> Id {
        if let Some(id) = self.id(name) {
            return id;
        }
        let id = self.entries.len();
        self.ids.insert(name.into(), id);
        self.entries.push(T::default());
        id
    }
}

/// A company key's state.
#[derive(Debug, Default)]
struct Company {
    /// When a signup last confirmed it (Unix ms).
    confirmed: Option<i64>,
    /// Its inferred sessions not yet corroborated, by inferred domain. Entries that fall
    /// to zero stay.
    uncorroborated: HashMap<Option<Id>, u64>,
}

/// A domain's state.
#[derive(Debug, Default)]
struct Domain {
    /// When a signup with a business email last confirmed it (Unix ms).
    confirmed: Option<i64>,
    /// The company keys inferred with it.
    companies: HashSet<Id>,
}

/// One change to [`RelatedCounts`], to undo it when its transaction rolls back. (Names
/// interned by the transaction stay: their counts are back to zero.)
#[derive(Debug, Clone, Copy)]
enum Undo {
    Count {
        company: Id,
        domain: Option<Id>,
        was: u64,
    },
    CompanyConfirmed {
        company: Id,
        was: Option<i64>,
    },
    DomainConfirmed {
        domain: Id,
        was: Option<i64>,
    },
}

/// SQLite's related-inference state, owned by the writer thread: what the partial
/// indexes and per-session marks hold on PostgreSQL. Changes are journaled so that a
/// batch rolled back leaves the counts as the file is.
///
/// Every inferred click passes through [`RelatedCounts::add`] in the writer, so it
/// allocates nothing for a company it has seen: names are interned once, and the undo
/// journal holds indexes (keyed by owned strings, these counts were a sixth of the
/// writer's work per inferred click).
#[derive(Debug, Default)]
pub struct RelatedCounts {
    companies: Interned<Company>,
    domains: Interned<Domain>,
    /// Changes since the current transaction began.
    undo: Vec<Undo>,
}

impl RelatedCounts {
    /// Whether a confirmation of the click's company or domain came at or after its
    /// inference (the rule the derived read applies too).
    fn is_corroborated(&self, click: &InferredCompany<'_>) -> bool {
        let company = self.companies.id(click.key);
        let domain = click.domain.and_then(|d| self.domains.id(d));
        self.is_corroborated_as(click, company, domain)
    }

    /// [`Self::is_corroborated`], for a click whose company and domain ids are known.
    fn is_corroborated_as(
        &self,
        click: &InferredCompany<'_>,
        company: Option<Id>,
        domain: Option<Id>,
    ) -> bool {
        let after = |at: Option<i64>| at.is_some_and(|at| at >= click.inferred_at);
        click.marked
            || after(company.and_then(|c| self.companies.entries[c].confirmed))
            || after(domain.and_then(|d| self.domains.entries[d].confirmed))
    }

    /// Sets the count of `company`'s sessions inferred with `domain`, journaling the change.
    fn set_count(&mut self, company: Id, domain: Option<Id>, count: u64) {
        let slot = self.companies.entries[company]
            .uncorroborated
            .entry(domain)
            .or_insert(0);
        let was = std::mem::replace(slot, count);
        if was != count {
            self.undo.push(Undo::Count {
                company,
                domain,
                was,
            });
        }
    }

    fn count(&self, company: Id, domain: Option<Id>) -> u64 {
        self.companies.entries[company]
            .uncorroborated
            .get(&domain)
            .copied()
            .unwrap_or(0)
    }

    /// A session was inferred as this company.
    pub(crate) fn add(&mut self, click: &InferredCompany<'_>) {
        // Interned first, so that each name is hashed once.
        let company = self.companies.intern(click.key);
        let domain = click.domain.map(|d| self.domains.intern(d));
        if self.is_corroborated_as(click, Some(company), domain) {
            return;
        }
        if let Some(domain) = domain {
            self.domains.entries[domain].companies.insert(company);
        }
        let count = self.count(company, domain);
        self.set_count(company, domain, count + 1);
    }

    /// A session inferred as this company is no longer (its own signup confirmed it, or
    /// the admin API corrected it).
    pub(crate) fn remove(&mut self, click: &InferredCompany<'_>) {
        if self.is_corroborated(click) {
            return;
        }
        let Some(company) = self.companies.id(click.key) else {
            return;
        };
        let domain = match click.domain {
            Some(d) => match self.domains.id(d) {
                Some(domain) => Some(domain),
                None => return,
            },
            None => None,
        };
        let count = self.count(company, domain);
        self.set_count(company, domain, count.saturating_sub(1));
    }

    /// A signup confirmed company `key` (and `domain`, from a business email) at `at`:
    /// every session inferred as either and not yet corroborated now is. Returns how
    /// many. Only a confirmation that corroborated a session is remembered (and
    /// recorded in the file): one that found none changes nothing a later session's
    /// count depends on, and memory then holds exactly what a restart rebuilds.
    pub(crate) fn corroborate(&mut self, key: &str, domain: Option<&str>, at: i64) -> u64 {
        let company = self.companies.id(key);
        let domain_id = domain.and_then(|d| self.domains.id(d));
        let mut corroborated = 0;
        if let Some(company) = company {
            let domains: Vec<Option<Id>> = self.companies.entries[company]
                .uncorroborated
                .keys()
                .copied()
                .collect();
            for d in domains {
                corroborated += self.count(company, d);
                self.set_count(company, d, 0);
            }
        }
        if let Some(d) = domain_id {
            let others: Vec<Id> = self.domains.entries[d]
                .companies
                .iter()
                .copied()
                .filter(|&other| Some(other) != company)
                .collect();
            for other in others {
                corroborated += self.count(other, Some(d));
                self.set_count(other, Some(d), 0);
            }
        }
        if corroborated == 0 {
            return 0;
        }
        if let Some(domain) = domain {
            let domain = self.domains.intern(domain);
            let was = confirm(&mut self.domains.entries[domain].confirmed, at);
            self.undo.push(Undo::DomainConfirmed { domain, was });
        }
        let company = self.companies.intern(key);
        let was = confirm(&mut self.companies.entries[company].confirmed, at);
        self.undo.push(Undo::CompanyConfirmed { company, was });
        corroborated
    }

    /// A transaction begins: changes from here on may be rolled back.
    pub(crate) fn begin(&mut self) {
        self.undo.clear();
    }

    /// The transaction committed: its changes stand.
    pub(crate) fn commit(&mut self) {
        self.undo.clear();
    }

    /// The transaction rolled back: so do its changes, newest first.
    pub(crate) fn rollback(&mut self) {
        while let Some(change) = self.undo.pop() {
            match change {
                Undo::Count {
                    company,
                    domain,
                    was,
                } => {
                    self.companies.entries[company]
                        .uncorroborated
                        .insert(domain, was);
                }
                Undo::CompanyConfirmed { company, was } => {
                    self.companies.entries[company].confirmed = was;
                }
                Undo::DomainConfirmed { domain, was } => {
                    self.domains.entries[domain].confirmed = was;
                }
            }
        }
    }

    /// Rebuilt from the file: the last corroboration of every company and domain, then
    /// one pass over the inferred clicks.
    pub fn load(conn: &rusqlite::Connection) -> rusqlite::Result<Self> {
        let mut counts = Self::default();
        let mut stmt = conn.prepare(LAST_CORROBORATIONS)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let match_key: String = row.get(0)?;
            let at: i64 = row.get(1)?;
            if let Some(key) = match_key.strip_prefix(COMPANY) {
                let company = counts.companies.intern(key);
                counts.companies.entries[company].confirmed = Some(at);
            } else if let Some(domain) = match_key.strip_prefix(DOMAIN) {
                let domain = counts.domains.intern(domain);
                counts.domains.entries[domain].confirmed = Some(at);
            }
        }
        let mut stmt = conn.prepare(INFERRED_CLICKS)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let domain: Option<String> = row.get(1)?;
            counts.add(&InferredCompany {
                key: &key,
                domain: domain.as_deref(),
                inferred_at: row.get(2)?,
                marked: row.get(3)?,
            });
        }
        counts.undo.clear();
        Ok(counts)
    }
}

/// `corroborations.match_key` of a company key, and of a domain.
const COMPANY: &str = "company:";
const DOMAIN: &str = "domain:";

/// Each company's and domain's last corroboration (a walk of the primary key).
pub(crate) const LAST_CORROBORATIONS: &str =
    "SELECT match_key, MAX(corroborated_at) FROM corroborations GROUP BY match_key";

/// Records a corroboration (a signup confirmed again in the same millisecond through the
/// same click is the same one).
const RECORD_CORROBORATION: &str =
    "INSERT INTO corroborations (match_key, corroborated_at, click_id) VALUES (?, ?, ?)
     ON CONFLICT DO NOTHING";

/// Every inferred click: the one pass at start.
const INFERRED_CLICKS: &str =
    "SELECT inferred_company_key, inferred_domain, inferred_at, corroborated_at IS NOT NULL
     FROM clicks WHERE status = 'inferred' AND inferred_company_key IS NOT NULL";

/// The writer's counts, or an error: a SQLite write without them would leave them
/// wrong.
fn counts(tx: &mut dyn Tx) -> Result<&mut RelatedCounts, DbError> {
    tx.related_counts().ok_or(DbError::NoRelatedCounts)
}

/// Applies `change` to SQLite's counts; on PostgreSQL the partial indexes follow the
/// rows by themselves.
fn on_sqlite_counts(
    tx: &mut dyn Tx,
    change: impl FnOnce(&mut RelatedCounts),
) -> Result<(), DbError> {
    if tx.dialect() == Dialect::Sqlite {
        change(counts(tx)?);
    }
    Ok(())
}

/// A session was inferred as `click`'s company.
pub(crate) fn inferred(tx: &mut dyn Tx, click: &InferredCompany<'_>) -> Result<(), DbError> {
    on_sqlite_counts(tx, |counts| counts.add(click))
}

/// A session inferred as `click`'s company is no longer.
pub(crate) fn no_longer_inferred(
    tx: &mut dyn Tx,
    click: &InferredCompany<'_>,
) -> Result<(), DbError> {
    on_sqlite_counts(tx, |counts| counts.remove(click))
}

/// A signup through click `click_id` confirmed company `key` (and `domain`, from a
/// business email) for `lead_id` at `now`: corroborates the other sessions of it and
/// returns how many.
pub(crate) fn corroborate(
    tx: &mut dyn Tx,
    click_id: &str,
    key: &str,
    domain: Option<&str>,
    lead_id: &str,
    now: i64,
) -> Result<u64, DbError> {
    match tx.dialect() {
        Dialect::Postgres => mark_related(tx, click_id, key, domain, lead_id, now),
        Dialect::Sqlite => {
            let corroborated = counts(tx)?.corroborate(key, domain, now);
            if corroborated > 0 {
                let matches = std::iter::once(format!("{COMPANY}{key}"))
                    .chain(domain.map(|domain| format!("{DOMAIN}{domain}")));
                for match_key in matches {
                    tx.execute(RECORD_CORROBORATION, sql_params![match_key, now, click_id])?;
                }
            }
            Ok(corroborated)
        }
    }
}

/// PostgreSQL: the other inferred, not yet corroborated clicks of the confirmed
/// company: those inferred as the same company (by key), and those inferred with the
/// signup's business email domain (a NULL domain matches nothing). A click may be in
/// both halves. `UNION ALL`, not `OR`, so that each half is one partial-index search.
pub(crate) const RELATED_INFERENCES: &str =
    "SELECT id FROM clicks WHERE status = 'inferred' AND inferred_company_key = ?1
         AND corroborated_at IS NULL AND id <> ?3
     UNION ALL
     SELECT id FROM clicks WHERE status = 'inferred' AND inferred_domain = ?2
         AND corroborated_at IS NULL AND id <> ?3";

/// Marks one related inference as corroborated by this lead. The conditions are checked
/// again: a concurrent signup of the same company may have marked it since the read
/// (the row lock makes this one wait and then re-check), and it must not be counted
/// twice.
const CORROBORATE: &str =
    "UPDATE clicks SET corroborated_by_lead_id = ?1, corroborated_at = ?2, updated_at = ?2
     WHERE id = ?3 AND status = 'inferred' AND corroborated_at IS NULL";

/// PostgreSQL: marks the related inferences (see [`RELATED_INFERENCES`]).
fn mark_related(
    tx: &mut dyn Tx,
    click_id: &str,
    key: &str,
    domain: Option<&str>,
    lead_id: &str,
    now: i64,
) -> Result<u64, DbError> {
    let mut related = tx.query_all(
        RELATED_INFERENCES,
        sql_params![key, domain, click_id],
        |row| row.text(0),
    )?;
    related.sort_unstable();
    related.dedup();
    let mut marked = 0;
    for id in &related {
        marked += tx.execute(CORROBORATE, sql_params![lead_id, now, id])? as u64;
    }
    Ok(marked)
}

/// Moves a confirmation time to `at` unless it is later already; returns what it was,
/// for the undo journal.
fn confirm(confirmed: &mut Option<i64>, at: i64) -> Option<i64> {
    let was = *confirmed;
    *confirmed = Some(was.map_or(at, |was| was.max(at)));
    was
}

#[cfg(test)]
mod tests {
    use super::{InferredCompany, RelatedCounts};

    fn click(key: &'static str, domain: Option<&'static str>, at: i64) -> InferredCompany<'static> {
        InferredCompany {
            key,
            domain,
            inferred_at: at,
            marked: false,
        }
    }

    #[test]
    fn a_confirmation_corroborates_earlier_sessions_once() {
        let mut counts = RelatedCounts::default();
        counts.add(&click("acme", Some("acme.com"), 10));
        counts.add(&click("acme", None, 11));
        counts.add(&click("acme corp", Some("acme.com"), 12));
        counts.add(&click("globex", Some("globex.com"), 13));
        assert_eq!(counts.corroborate("acme", Some("acme.com"), 20), 3);
        assert_eq!(counts.corroborate("acme", Some("acme.com"), 21), 0);
        // Inferred at or before the last corroboration: already corroborated.
        counts.add(&click("acme", None, 20));
        counts.add(&click("acme corp", Some("acme.com"), 20));
        assert_eq!(counts.corroborate("acme", Some("acme.com"), 30), 0);
        // The confirmation at 21 corroborated nothing and is not remembered.
        counts.add(&click("acme", None, 21));
        assert_eq!(counts.corroborate("acme", None, 40), 1);
        assert_eq!(counts.corroborate("globex", None, 40), 1);
    }

    #[test]
    fn a_session_confirmed_by_its_own_signup_is_not_counted() {
        let mut counts = RelatedCounts::default();
        let own = click("acme", Some("acme.com"), 10);
        counts.add(&own);
        counts.add(&click("acme", Some("acme.com"), 11));
        counts.remove(&own);
        assert_eq!(counts.corroborate("acme", Some("acme.com"), 20), 1);
        // Removing an already corroborated session changes nothing.
        counts.add(&click("acme", None, 25));
        counts.remove(&click("acme", None, 15));
        assert_eq!(counts.corroborate("acme", None, 30), 1);
    }

    #[test]
    fn marked_sessions_are_not_counted() {
        let mut counts = RelatedCounts::default();
        counts.add(&InferredCompany {
            marked: true,
            ..click("acme", None, 10)
        });
        assert_eq!(counts.corroborate("acme", None, 20), 0);
    }

    #[test]
    fn a_rollback_restores_the_counts_and_confirmations() {
        let mut counts = RelatedCounts::default();
        counts.add(&click("acme", Some("acme.com"), 10));
        counts.commit();
        counts.begin();
        counts.add(&click("acme", Some("acme.com"), 11));
        assert_eq!(counts.corroborate("acme", Some("acme.com"), 20), 2);
        counts.add(&click("initech", Some("acme.com"), 21));
        counts.rollback();
        // As before the transaction: one session, never confirmed.
        assert_eq!(counts.corroborate("acme", Some("acme.com"), 5), 1);
        counts.add(&click("acme", None, 6));
        assert_eq!(counts.corroborate("acme", None, 7), 1);
    }
}
