//! Persistence: opening and migrating the database (SQLite or PostgreSQL), running
//! writes and reads, and the domain operations (clicks, signups, inferences, admin
//! records), each written once against [`db::Tx`].

pub mod admin;
pub mod click_journal;
pub mod clicks;
pub mod db;
pub mod inferences;
pub mod jobs;
pub mod postgres;
pub mod privacy;
#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod query_plans;
pub mod related;
#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod schema_upgrade;
pub mod signup;
pub mod sqlite;
pub mod writer;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use db::{DbError, Dialect, Tx};
pub use writer::{WriteOp, Writer};

/// Why a storage operation failed, in terms the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is busy beyond its timeout; retrying may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken.
    #[error("{0}")]
    Conflict(String),
    /// A referenced record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The input broke a rule only the database can check.
    #[error("{0}")]
    Invalid(String),
    /// Anything else: a bug or a corrupt database.
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &err {
            rusqlite::Error::SqliteFailure(e, _) => match e.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    Self::Conflict(format!("already exists ({err})"))
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                    Self::Invalid(format!("refers to a record that does not exist ({err})"))
                }
                _ if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
                {
                    Self::Unavailable(err.to_string())
                }
                _ => Self::Internal(err.to_string()),
            },
            _ => Self::Internal(err.to_string()),
        }
    }
}

impl From<DbError> for StoreError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Sqlite(e) => e.into(),
            DbError::Postgres(e) => e.into(),
            DbError::Conversion(e) => Self::Internal(e),
            err @ DbError::NoRelatedCounts => Self::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(format!("already exists ({})", db.message()))
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::Invalid(format!(
                "refers to a record that does not exist ({})",
                db.message()
            )),
            // SQLITE_BUSY (5) / SQLITE_LOCKED (6): another process holds the write lock.
            // PostgreSQL: class 08 (connection), 57 (shutdown, statement timeout), 53
            // (out of resources), 40 (serialization, after our retries).
            sqlx::Error::Database(db)
                if db.code().as_deref().is_some_and(|c| {
                    matches!(c, "5" | "6")
                        || ["08", "57", "53", "40"]
                            .iter()
                            .any(|class| c.starts_with(class))
                }) =>
            {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Internal(err.to_string()),
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is neither a SQLite path, a `sqlite:` URL nor a `postgres://` URL.
    #[error("unsupported database URL {0:?}: use a file path, sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The file could not be opened or created.
    #[error("cannot open database {url:?}: {source}")]
    Connect { url: String, source: sqlx::Error },
    /// A migration failed.
    #[error("cannot migrate database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The write connection could not be opened.
    #[error("cannot open the write connection to {path}: {source}")]
    Writer {
        path: String,
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The click journal could not be read or started.
    #[error(transparent)]
    Journal(#[from] click_journal::JournalError),
    /// Clicks from the journal could not be committed (the journal is kept).
    #[error("cannot commit the clicks of the click journal: {0}")]
    Replay(DbError),
}

/// A tracking link, as the redirect needs it. Links never change once created, which is
/// what makes them safe to cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// Link id.
    pub id: String,
    /// The creator who shares it.
    pub creator_id: String,
    /// Where the click is sent.
    pub destination_url: String,
    /// The destination prepared to receive each click's session id.
    pub landing: naano_core::LandingUrl,
}

/// Where the data lives.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Handle to the database: every write and read goes through it.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    links: Arc<RwLock<HashMap<String, Arc<LinkTarget>>>>,
}

/// Settings of SQLite's writer.
#[derive(Debug, Clone, Copy)]
pub struct SqliteSettings {
    /// Most writes committed together in one transaction.
    pub max_batch: usize,
    /// Longest acknowledged clicks gather before they are committed while no other
    /// write waits (see `writer::DEFAULT_CLICK_LINGER`).
    pub click_linger: std::time::Duration,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            max_batch: 256,
            click_linger: writer::DEFAULT_CLICK_LINGER,
        }
    }
}

/// Settings of the PostgreSQL pool.
#[derive(Debug, Clone, Copy)]
pub struct PgSettings {
    /// Connections per server process.
    pub max_connections: u32,
    /// Longest a statement may run before PostgreSQL cancels it.
    pub statement_timeout: std::time::Duration,
    /// Longest a request waits for a connection before answering 503.
    pub acquire_timeout: std::time::Duration,
}

/// Unix time in milliseconds, the representation of every timestamp column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new time-ordered record id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Opens (creating if needed) and migrates the database. For SQLite this starts the
    /// writer thread; the returned receiver resolves once every `Store` handle has been
    /// dropped and the last writes are committed (at once for PostgreSQL, where every
    /// write commits on its own).
    pub async fn open(
        url: &str,
        sqlite: SqliteSettings,
        pg: PgSettings,
    ) -> Result<(Self, tokio::sync::oneshot::Receiver<()>), OpenError> {
        let (backend, done) = if url.starts_with("postgres://") || url.starts_with("postgresql://")
        {
            let store = postgres::PgStore::open(url, pg).await?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(());
            (Backend::Postgres(store), rx)
        } else {
            let (store, done) = sqlite::SqliteStore::open(url, sqlite).await?;
            (Backend::Sqlite(store), done)
        };
        Ok((
            Self {
                backend,
                links: Arc::default(),
            },
            done,
        ))
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        match &self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a write: SQLite's group-commit writer, or a PostgreSQL transaction of its
    /// own (retried on serialization failures).
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Output, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(op).await,
            Backend::Postgres(p) => p.write(op).await,
        }
    }

    /// Records a tracking link's click. Returns once the click is durable: on SQLite,
    /// written to the click journal, which the writer commits from soon after (every
    /// later write and read sees it); on PostgreSQL, committed.
    pub async fn record_click(&self, click: clicks::RecordClick) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.record_click(click).await,
            Backend::Postgres(p) => p.write(click).await,
        }
    }

    /// Runs a read-only query function on a connection of its own.
    pub async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.read(read).await,
            Backend::Postgres(p) => p.read(read).await,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| tx.exists("SELECT 1", &[]).map(drop)).await
    }

    /// The link behind a slug; cached, since the redirect is the hottest path and links
    /// are immutable.
    pub async fn link_by_slug(&self, slug: &str) -> Result<Option<Arc<LinkTarget>>, StoreError> {
        if let Some(hit) = self.links.read().ok().and_then(|m| m.get(slug).cloned()) {
            return Ok(Some(hit));
        }
        let wanted = slug.to_owned();
        let row = self
            .read(move |tx| {
                tx.query_opt(
                    "SELECT id, creator_id, destination_url FROM links WHERE slug = ?",
                    crate::sql_params![wanted],
                    |r| {
                        let destination_url = r.text(2)?;
                        // Validated when the link was created; a row that fails here was
                        // written by something else.
                        let landing =
                            naano_core::LandingUrl::parse(&destination_url).map_err(|e| {
                                DbError::Conversion(format!(
                                    "stored destination {destination_url:?} is not a URL: {e}"
                                ))
                            })?;
                        Ok(LinkTarget {
                            id: r.text(0)?,
                            creator_id: r.text(1)?,
                            destination_url,
                            landing,
                        })
                    },
                )
            })
            .await?;
        let Some(link) = row.map(Arc::new) else {
            return Ok(None);
        };
        if let Ok(mut cache) = self.links.write() {
            cache.insert(slug.to_owned(), Arc::clone(&link));
        }
        Ok(Some(link))
    }
}
