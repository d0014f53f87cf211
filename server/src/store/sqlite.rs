//! The SQLite backend: the group-commit writer thread for writes, and a small pool of
//! read-only connections for reads (each read runs on a blocking thread, like the
//! writer's batches, without an async hop per statement).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::ConnectOptions;
use tokio::sync::Semaphore;

use super::click_journal::ClickJournal;
use super::clicks::RecordClick;
use super::db::{DbError, SqliteTx, Tx};
use super::related::RelatedCounts;
use super::writer::{self, WriteOp, Writer};
use super::{OpenError, StoreError};

/// Read connections: enough for the admin API and the enrichment's reads next to the
/// writer on a small machine.
const READERS: usize = 4;

/// SQLite's store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<ReadPool>,
}

struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    path: PathBuf,
}

impl std::fmt::Debug for ReadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPool")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Creates (if needed) and migrates the file, then starts the writer and readers.
    pub async fn open(
        url: &str,
        settings: super::SqliteSettings,
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
        let writer_err = |source| OpenError::Writer {
            path: path.display().to_string(),
            source,
        };
        let write_conn = writer::open_connection(&path).map_err(writer_err)?;
        let (checkpoint_stop, checkpoint_rx) = std::sync::mpsc::channel();
        writer::start_checkpointer(&path, checkpoint_rx).map_err(writer_err)?;
        // One pass over the file's inferred clicks; see `related`.
        let mut related = RelatedCounts::load(&write_conn).map_err(writer_err)?;
        let mut write_conn = write_conn;
        let journal = replay_click_journal(&path, &mut write_conn, &mut related)?;
        let (writer, done) =
            Writer::start(write_conn, related, journal, settings, checkpoint_stop)?;
        let readers = (0..READERS)
            .map(|_| open_reader(&path))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(writer_err)?;
        let readers = Arc::new(ReadPool {
            idle: Mutex::new(readers),
            permits: Semaphore::new(READERS),
            path,
        });
        Ok((Self { writer, readers }, done))
    }

    /// Runs a write through the group-commit writer.
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Output, StoreError> {
        self.writer.write(op).await
    }

    /// Records a click through the click journal (see `click_journal`).
    pub async fn record_click(&self, click: RecordClick) -> Result<(), StoreError> {
        self.writer.record_click(click).await
    }

    /// Runs `read` on an idle read connection, on a blocking thread, once every click
    /// acknowledged before it is committed.
    pub async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
    {
        self.writer.catch_up().await?;
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        let pool = Arc::clone(&self.readers);
        let joined = tokio::task::spawn_blocking(move || {
            let conn = pool.idle.lock().ok().and_then(|mut idle| idle.pop());
            let conn = match conn {
                Some(conn) => conn,
                None => open_reader(&pool.path).map_err(DbError::from)?,
            };
            let result = read(&mut SqliteTx::new(&conn));
            if let Ok(mut idle) = pool.idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?;
        joined.map_err(StoreError::from)
    }
}

/// Opens the click journal of the file at `path` and commits what a previous process
/// left in it (it stopped before its writer had committed every acknowledged click).
fn replay_click_journal(
    path: &Path,
    conn: &mut Connection,
    related: &mut RelatedCounts,
) -> Result<ClickJournal, OpenError> {
    let (journal, leftover) = ClickJournal::open(&ClickJournal::dir_for(path))?;
    if leftover.clicks.is_empty() && leftover.unreadable == 0 {
        journal.discard(&leftover)?;
        return Ok(journal);
    }
    let lines = leftover.clicks.len();
    let clicks = leftover.clicks.clone();
    let refused = writer::replay(conn, related, clicks).map_err(OpenError::Replay)?;
    journal.discard(&leftover)?;
    tracing::info!(
        lines,
        refused,
        cut_short = leftover.unreadable,
        "click journal replayed: acknowledged clicks the last process had not committed are recorded"
    );
    Ok(journal)
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
