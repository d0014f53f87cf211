//! The PostgreSQL backend, for production and for several server replicas on one
//! database.
//!
//! Every write is a transaction of its own at PostgreSQL's default isolation, READ
//! COMMITTED, made safe by what the operations themselves do:
//! - rows two requests may both change are locked first (`SELECT … FOR UPDATE` on the
//!   session's click row, the lead, the learned network), so concurrent signups apply
//!   one after the other, each seeing the other's result — the same serial order
//!   SQLite's single writer gives;
//! - records that must be unique (one lead per email, one answer per Idempotency-Key,
//!   one click per session, one row per learned network) have unique constraints; when
//!   two transactions insert the same one (a row that did not exist yet, so there was
//!   nothing to lock), the loser's unique violation reruns its whole transaction, which
//!   then finds and locks the winner's row;
//! - enrichment jobs are claimed with `FOR UPDATE SKIP LOCKED`, so replicas never claim
//!   the same job, and settling only applies to a still-pending inference.
//!
//! SERIALIZABLE would also be correct but turns ordinary contention into retries; READ
//! COMMITTED with explicit locks keeps the hot paths free of them. Serialization
//! failures and deadlocks (possible under any level with row locks) are retried anyway.
//!
//! Operations are synchronous ([`Tx`]): each runs on a blocking thread that drives its
//! connection, statement after statement, without an async hop in between.

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow, PgTypeInfo};
use sqlx::{Arguments, Connection, PgConnection, PgPool};
use tokio::runtime::Handle;

use super::db::{to_postgres_placeholders, DbError, Dialect, Row, Tx, Value};
use super::{OpenError, PgSettings, StoreError, WriteOp};

/// Attempts of a transaction that keeps hitting serialization failures.
const MAX_ATTEMPTS: u32 = 8;

/// PostgreSQL's store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects, migrates, and sizes the pool.
    pub async fn open(url: &str, settings: PgSettings) -> Result<Self, OpenError> {
        let options: PgConnectOptions = url.parse().map_err(|source| OpenError::Connect {
            url: redact(url),
            source,
        })?;
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = options
            .options([("statement_timeout", timeout_ms.as_str())])
            .application_name("naano-server");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A connection broken by a database restart is found and replaced before
            // use, so the pool heals by itself once PostgreSQL is back.
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(|source| OpenError::Connect {
                url: redact(url),
                source,
            })?;
        // Several replicas may start at once: sqlx takes an advisory lock around the
        // migrations, so exactly one of them applies each.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Runs `op` in a transaction of its own, retrying it after a serialization failure,
    /// a deadlock or a concurrent insert of the same unique key.
    pub async fn write<O: WriteOp>(&self, op: O) -> Result<O::Output, StoreError> {
        let pool = self.pool.clone();
        let handle = Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut attempt = 0;
            let single = op.is_single_statement();
            loop {
                attempt += 1;
                let result = if single {
                    run_autocommit(&handle, &pool, |tx| op.apply(tx))
                } else {
                    run_once(&handle, &pool, |tx| op.apply(tx))
                };
                match result {
                    Err(err) if err.is_retryable() && attempt < MAX_ATTEMPTS => {
                        tracing::debug!(error = %err, attempt, "retrying a conflicting transaction");
                        std::thread::sleep(Duration::from_millis(u64::from(attempt) * 2));
                    }
                    result => return result.map_err(StoreError::from),
                }
            }
        })
        .await
        .map_err(|e| StoreError::Internal(format!("write task failed: {e}")))?
    }

    /// Runs a read on a pooled connection (in a transaction, for a consistent view).
    pub async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let handle = Handle::current();
        tokio::task::spawn_blocking(move || run_once(&handle, &pool, read))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
            .map_err(StoreError::from)
    }
}

fn run_once<T>(
    handle: &Handle,
    pool: &PgPool,
    body: impl FnOnce(&mut dyn Tx) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut conn = handle.block_on(pool.acquire())?;
    let mut tx = handle.block_on(conn.begin())?;
    let result = body(&mut PgTx {
        conn: &mut tx,
        handle,
    });
    match result {
        Ok(out) => {
            handle.block_on(tx.commit())?;
            Ok(out)
        }
        Err(err) => {
            // Rolled back explicitly so the connection returns to the pool clean; if
            // even that fails the connection is dropped with the transaction.
            let _ = handle.block_on(tx.rollback());
            Err(err)
        }
    }
}

/// Runs a single statement outside an explicit transaction (it commits by itself).
fn run_autocommit<T>(
    handle: &Handle,
    pool: &PgPool,
    body: impl FnOnce(&mut dyn Tx) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut conn = handle.block_on(pool.acquire())?;
    body(&mut PgTx {
        conn: &mut conn,
        handle,
    })
}

/// A URL without its password, for error messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// PostgreSQL's side of [`Tx`].
struct PgTx<'a> {
    conn: &'a mut PgConnection,
    handle: &'a Handle,
}

/// A NULL whose type PostgreSQL infers from where it is used (OID 0, "unspecified"),
/// since one NULL placeholder may stand for a text, an integer or a float column.
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn arguments(params: &[Value<'_>]) -> Result<PgArguments, DbError> {
    let mut args = PgArguments::default();
    for value in params {
        let added = match value {
            Value::Null => args.add(UntypedNull),
            Value::Int(v) => args.add(*v),
            Value::Real(v) => args.add(*v),
            Value::Text(v) => args.add(v.as_ref()),
        };
        added.map_err(|e| DbError::Conversion(e.to_string()))?;
    }
    Ok(args)
}

impl Tx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<usize, DbError> {
        let sql = to_postgres_placeholders(sql);
        let query = sqlx::query_with(&sql, arguments(params)?);
        let done = self.handle.block_on(query.execute(&mut *self.conn))?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let sql = to_postgres_placeholders(sql);
        let query = sqlx::query_with(&sql, arguments(params)?);
        let rows = self.handle.block_on(query.fetch_all(&mut *self.conn))?;
        for row in &rows {
            each(&PgRowRef(row))?;
        }
        Ok(())
    }
}

struct PgRowRef<'a>(&'a PgRow);

impl PgRowRef<'_> {
    fn get<'r, T>(&'r self, i: usize) -> Result<T, DbError>
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        Ok(sqlx::Row::try_get(self.0, i)?)
    }
}

impl Row for PgRowRef<'_> {
    fn text(&self, i: usize) -> Result<String, DbError> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        self.get(i)
    }
    fn int(&self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?
            .ok_or_else(|| DbError::Conversion(format!("column {i} is NULL")))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        // Literals and some expressions come back as int4.
        self.get::<Option<i64>>(i)
            .or_else(|_| self.get::<Option<i32>>(i).map(|v| v.map(i64::from)))
    }
    fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError> {
        self.get(i)
    }
}
