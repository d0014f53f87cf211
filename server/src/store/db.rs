//! One interface to SQL for both backends, so that every domain operation is written
//! once: [`Tx`], a synchronous transaction that runs statements with `?` placeholders and
//! hands rows to a closure.
//!
//! Synchronous on purpose: SQLite's writer is a thread of its own that runs a whole batch
//! of operations without an `.await` between statements (see [`super::writer`]); on
//! PostgreSQL the same operation runs on a blocking thread that drives its connection
//! (see [`super::postgres`]). The SQL is shared: both databases accept `RETURNING`,
//! `ON CONFLICT … DO UPDATE`, partial indexes and `COUNT(*) FILTER (WHERE …)`; the few
//! differences are asked of [`Tx::dialect`].

use std::borrow::Cow;

use super::related::RelatedCounts;

/// Which database a transaction talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (one writer process).
    Sqlite,
    /// PostgreSQL (any number of server replicas).
    Postgres,
}

impl Dialect {
    /// `" FOR UPDATE"` where row locks exist: PostgreSQL serialises concurrent writers of
    /// one row with it; SQLite has one writer, so every row is already serialised.
    pub fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// `" FOR UPDATE SKIP LOCKED"` where it exists: replicas claiming jobs pass over the
    /// rows another replica is claiming instead of queueing behind it.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A value bound to a `?` placeholder. Text borrows from the write that binds it where
/// it can: the SQLite writer binds every field of every click, and copying each one
/// into a `String` of its own first was a tenth of its work per click.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// An integer (booleans are bound as 0/1 on both backends).
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(Cow<'a, str>),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Cow::Borrowed(v))
    }
}
impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Self::Text(Cow::Owned(v))
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Cow::Borrowed(v))
    }
}
impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}
impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_ref().map_or(Self::Null, Into::into)
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Builds a `&[Value]` from expressions of any convertible type.
#[macro_export]
macro_rules! sql_params {
    ($($v:expr),* $(,)?) => { &[$($crate::store::db::Value::from($v)),*] };
}

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// From SQLite.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// From PostgreSQL.
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
    /// A column did not hold what the code expects, or a value could not be encoded.
    #[error("{0}")]
    Conversion(String),
    /// A SQLite write ran outside the writer, without its related-inference counts
    /// (a bug: the counts would no longer match the file).
    #[error("a SQLite write ran without the writer's related-inference counts")]
    NoRelatedCounts,
}

impl DbError {
    /// Whether running the whole transaction again may succeed: PostgreSQL's
    /// serialization failures and deadlocks, and a unique violation raised by a
    /// concurrent insert of the same key (the retry then sees the other row).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Postgres(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40001" | "40P01" | "23505"))
            }
            _ => false,
        }
    }
}

/// One row of a result.
pub trait Row {
    /// Column `i` as text.
    fn text(&self, i: usize) -> Result<String, DbError>;
    /// Column `i` as text or NULL.
    fn opt_text(&self, i: usize) -> Result<Option<String>, DbError>;
    /// Column `i` as an integer.
    fn int(&self, i: usize) -> Result<i64, DbError>;
    /// Column `i` as an integer or NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError>;
    /// Column `i` as a float or NULL.
    fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError>;
}

/// A transaction (or, for reads, a connection) on either backend.
pub trait Tx {
    /// Which database this is.
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<usize, DbError>;

    /// Runs a query, handing each row to `each`.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), DbError>,
    ) -> Result<(), DbError>;

    /// SQLite's writer: its in-memory related-inference counts (see
    /// [`super::related`]). `None` on PostgreSQL and on read connections.
    fn related_counts(&mut self) -> Option<&mut RelatedCounts> {
        None
    }
}

impl dyn Tx + '_ {
    /// Every row, mapped.
    pub fn query_all<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl Fn(&dyn Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.query(sql, params, &mut |row| {
            out.push(map(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, mapped, if any.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl Fn(&dyn Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        let mut out = None;
        self.query(sql, params, &mut |row| {
            if out.is_none() {
                out = Some(map(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, mapped; an error if there is none.
    pub fn query_one<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl Fn(&dyn Row) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, params, map)?
            .ok_or_else(|| DbError::Conversion(format!("no row returned by {sql}")))
    }

    /// Whether the query returns a row.
    pub fn exists(&mut self, sql: &str, params: &[Value<'_>]) -> Result<bool, DbError> {
        Ok(self.query_opt(sql, params, |_| Ok(()))?.is_some())
    }
}

/// `sql` with `?` and `?N` placeholders rewritten as PostgreSQL's `$N` (quoted text left
/// alone).
pub fn to_postgres_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 0u32;
    let mut in_quote = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_quote = !in_quote;
            out.push(c);
            continue;
        }
        if c != '?' || in_quote {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        out.push('$');
        if digits.is_empty() {
            next += 1;
            out.push_str(&next.to_string());
        } else {
            out.push_str(&digits);
        }
    }
    Cow::Owned(out)
}

/// SQLite's side of [`Tx`]: a rusqlite transaction (or read connection) with cached
/// prepared statements, and in the writer its related-inference counts.
pub struct SqliteTx<'a> {
    conn: &'a rusqlite::Connection,
    related: Option<&'a mut RelatedCounts>,
}

impl<'a> SqliteTx<'a> {
    /// A read connection (or a test's): no counts.
    pub fn new(conn: &'a rusqlite::Connection) -> Self {
        Self {
            conn,
            related: None,
        }
    }

    /// The writer's transaction, with the counts it keeps in step with the file.
    pub fn writer(conn: &'a rusqlite::Connection, related: &'a mut RelatedCounts) -> Self {
        Self {
            conn,
            related: Some(related),
        }
    }
}

impl std::fmt::Debug for SqliteTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteTx")
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Self::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        })
    }
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<usize, DbError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))?)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            each(&SqliteRow(row))?;
        }
        Ok(())
    }

    fn related_counts(&mut self) -> Option<&mut RelatedCounts> {
        self.related.as_deref_mut()
    }
}

struct SqliteRow<'a, 'r>(&'a rusqlite::Row<'r>);

impl Row for SqliteRow<'_, '_> {
    fn text(&self, i: usize) -> Result<String, DbError> {
        Ok(self.0.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        Ok(self.0.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, DbError> {
        Ok(self.0.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        Ok(self.0.get(i)?)
    }
    fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError> {
        Ok(self.0.get(i)?)
    }
}

#[cfg(test)]
mod tests {
    use super::to_postgres_placeholders;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("a = ? AND b = ?", "a = $1 AND b = $2"),
            ("VALUES (?1, ?2, ?1)", "VALUES ($1, $2, $1)"),
            ("x = '?' AND y = ?", "x = '?' AND y = $1"),
            ("'{\"erased\":true}' = ?", "'{\"erased\":true}' = $1"),
        ];
        for (sqlite, postgres) in cases {
            assert_eq!(to_postgres_placeholders(sqlite), postgres, "{sqlite}");
        }
    }
}
