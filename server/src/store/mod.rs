//! Persistence: opening and migrating the database, the group-commit writer, and the
//! domain operations (clicks, signups, inferences, admin records) run through it.

pub mod admin;
pub mod clicks;
pub mod inferences;
pub mod jobs;
pub mod privacy;
pub mod signup;
pub mod writer;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

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

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(format!("already exists ({})", db.message()))
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::Invalid(format!(
                "refers to a record that does not exist ({})",
                db.message()
            )),
            // SQLITE_BUSY (5) / SQLITE_LOCKED (6): another process holds the write lock.
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "6")) => {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Internal(err.to_string()),
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is neither a SQLite path nor a `sqlite:` URL.
    #[error("unsupported database URL {0:?}: use a file path or sqlite://PATH")]
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
}

/// A tracking link, as the redirect needs it. Links never change once created, which is
/// what makes them safe to cache.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkTarget {
    /// Link id.
    pub id: String,
    /// The creator who shares it.
    pub creator_id: String,
    /// Where the click is sent.
    pub destination_url: String,
}

/// Handle to the database: the writer for every write, a pool for reads.
#[derive(Debug, Clone)]
pub struct Store {
    writer: Writer,
    read: SqlitePool,
    links: Arc<RwLock<HashMap<String, Arc<LinkTarget>>>>,
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

fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, OpenError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        // The writer and the readers are separate connections: they must share a file.
        return Err(OpenError::UnsupportedUrl(format!(
            "{url} (in-memory databases are not supported; use a file)"
        )));
    }
    let options = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).map_err(|source| OpenError::Connect {
            url: url.into(),
            source,
        })?
    } else if url.contains("://") {
        return Err(OpenError::UnsupportedUrl(url.into()));
    } else {
        SqliteConnectOptions::new().filename(url)
    };
    Ok(options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL is durable against a crash of this process; a power loss may
        // lose the last commits but never corrupts the file.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .log_statements(tracing::log::LevelFilter::Trace))
}

impl Store {
    /// Opens (creating if needed) and migrates the database, and starts the writer. The
    /// returned task ends once every `Store` handle has been dropped and the last writes
    /// are committed.
    pub async fn open(
        url: &str,
        max_batch: usize,
    ) -> Result<(Self, tokio::sync::oneshot::Receiver<()>), OpenError> {
        let options = sqlite_options(url)?;
        let connect_err = |source| OpenError::Connect {
            url: url.into(),
            source,
        };
        let mut migrate_conn = options.clone().connect().await.map_err(connect_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut migrate_conn)
            .await?;
        sqlx::Connection::close(migrate_conn)
            .await
            .map_err(connect_err)?;

        let path = options.get_filename().to_owned();
        let write_conn = writer::open_connection(&path).map_err(|source| OpenError::Writer {
            path: path.display().to_string(),
            source,
        })?;
        let (checkpoint_stop, checkpoint_rx) = std::sync::mpsc::channel();
        writer::start_checkpointer(&path, checkpoint_rx).map_err(|source| OpenError::Writer {
            path: path.display().to_string(),
            source,
        })?;
        let (writer, done) = Writer::start(write_conn, max_batch, checkpoint_stop)?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(connect_err)?;
        Ok((
            Self {
                writer,
                read,
                links: Arc::default(),
            },
            done,
        ))
    }

    /// The read pool, for queries that change nothing.
    pub fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// Runs a write through the group-commit writer.
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Output, StoreError> {
        self.writer.write(op).await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The link behind a slug; cached, since the redirect is the hottest path and links
    /// are immutable.
    pub async fn link_by_slug(&self, slug: &str) -> Result<Option<Arc<LinkTarget>>, StoreError> {
        if let Some(hit) = self.links.read().ok().and_then(|m| m.get(slug).cloned()) {
            return Ok(Some(hit));
        }
        let row: Option<LinkTarget> =
            sqlx::query_as("SELECT id, creator_id, destination_url FROM links WHERE slug = ?")
                .bind(slug)
                .fetch_optional(&self.read)
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
