//! SQLite: opening (WAL), write locking, bulk loading, the job
//! queue's tables and the catalogue. The portable statements are compiled
//! here for SQLite (see `warehouse.rs`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::Connection as _;
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::WarehouseError;

pub(super) type DB = sqlx::Sqlite;
pub(super) type Pool = sqlx::SqlitePool;
type Tx = sqlx::Transaction<'static, DB>;

pub(super) mod bench {
    include!("bench.rs");
}
pub(super) mod aggregates {
    include!("aggregates.rs");
}
pub(super) mod batches {
    include!("batches.rs");
}
pub(super) mod exports {
    include!("exports.rs");
}
pub(super) mod indicators {
    include!("indicators.rs");
}
pub(super) mod metrics {
    include!("metrics.rs");
}
pub(super) mod nodes {
    include!("nodes.rs");
}
pub(super) mod quarantine {
    include!("quarantine.rs");
}
pub(super) mod reference {
    include!("reference.rs");
}
pub(super) mod runs {
    include!("runs.rs");
}
pub(super) mod sessions {
    include!("sessions.rs");
}
pub(super) mod tokens {
    include!("tokens.rs");
}

/// SQLite allows 32,766 bound values per statement; stay well below.
pub(super) const MAX_BINDS: usize = 30_000;

pub(super) async fn open(url: &str) -> Result<Pool, WarehouseError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| WarehouseError::UnsupportedUrl(url.to_string()))?;
    if let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| WarehouseError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL: a killed process loses no committed transaction;
        // only a power cut may lose the last ones, never half of one.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(false)
        .pragma("cache_size", "-8000")
        // Random keys dirty many index pages per commit; checkpointing less
        // often writes each page to the database file once instead of per commit.
        .pragma("wal_autocheckpoint", "16384")
        .pragma("temp_store", "memory")
        // sqlx's "slow statement" warnings are for developers, not the terminal.
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    // Each connection caches its prepared statements; multi-row ones are
    // large, so keep the cache to the handful of lengths `pow2_chunks` makes.
    let options = options.statement_cache_capacity(48);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection whose transaction could not end (a COMMIT refused
        // for a full disk, after which the database rolled back on its own)
        // still counts as inside one: never hand it out again.
        .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// A write transaction takes SQLite's write lock up front: a deferred one
/// that reads first and writes later fails with SQLITE_BUSY_SNAPSHOT when
/// another source commits in between, and no busy timeout can save it.
pub(super) async fn begin_write(pool: &Pool) -> Result<Tx, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Appends new fact rows (keys known to be absent): multi-row INSERTs.
pub(super) async fn insert_new(
    tx: &mut Tx,
    table: &'static super::schema::Table,
    prov: &super::Provenance,
    stream_id: i64,
    rows: &[(&super::Row, Option<i64>)],
) -> Result<(), WarehouseError> {
    batches::insert_rows(tx, table, prov, stream_id, rows, false).await
}

/// What a table holds of `keys` (sorted): IN lists of up to 512 keys.
pub(super) async fn existing_keys(
    tx: &mut Tx,
    table: &'static super::schema::Table,
    stream_id: i64,
    keys: &[[u8; 16]],
) -> Result<Vec<(Vec<u8>, i64, Option<i64>)>, WarehouseError> {
    existing_in_lists(tx, table, stream_id, keys).await
}

/// What a table holds of `keys`: (key, row_hash, origin_id), by IN lists.
async fn existing_in_lists(
    tx: &mut Tx,
    table: &'static super::schema::Table,
    stream_id: i64,
    keys: &[[u8; 16]],
) -> Result<Vec<(Vec<u8>, i64, Option<i64>)>, WarehouseError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in super::pow2_chunks(keys, 512) {
        let mut q: sqlx::QueryBuilder<DB> = sqlx::QueryBuilder::new(format!(
            "SELECT key, row_hash, origin_id FROM {} WHERE stream_id = ",
            table.name
        ));
        q.push_bind(stream_id);
        q.push(" AND key IN (");
        let mut list = q.separated(", ");
        for k in chunk {
            list.push_bind(&k[..]);
        }
        list.push_unseparated(")");
        for r in q.build().fetch_all(&mut **tx).await? {
            out.push((
                r.try_get("key")?,
                r.try_get("row_hash")?,
                r.try_get("origin_id")?,
            ));
        }
    }
    Ok(out)
}

/// A read-only session for indicator queries: a connection of its own,
/// opened read-only (SQLITE_OPEN_READONLY: no statement can write, whatever
/// it says), in one transaction (one snapshot for every query). A progress
/// handler stops a query once its time is up.
pub(super) struct ReadOnly {
    conn: sqlx::SqliteConnection,
}

impl ReadOnly {
    pub(super) async fn begin(pool: &Pool) -> Result<ReadOnly, WarehouseError> {
        let options = (*pool.connect_options()).clone().read_only(true);
        let mut conn = options.connect().await?;
        sqlx::query("BEGIN").execute(&mut conn).await?;
        Ok(ReadOnly { conn })
    }

    pub(super) async fn fetch_all(
        &mut self,
        sql: &str,
        limit: Duration,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, WarehouseError> {
        let deadline = std::time::Instant::now() + limit;
        self.conn
            .lock_handle()
            .await?
            .set_progress_handler(1000, move || std::time::Instant::now() < deadline);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut self.conn)
            .await;
        if let Ok(mut handle) = self.conn.lock_handle().await {
            handle.remove_progress_handler();
        }
        rows.map_err(|e| match &e {
            // SQLITE_INTERRUPT: the progress handler said stop.
            sqlx::Error::Database(d) if d.code().as_deref() == Some("9") => {
                WarehouseError::TimeLimit(limit)
            }
            _ => e.into(),
        })
    }

    /// Closing the connection ends its transaction.
    pub(super) async fn end(self) {
        use sqlx::Connection as _;
        let _ = self.conn.close().await;
    }
}

pub(super) async fn job_store<J>(
    pool: &Pool,
    queue: &str,
) -> Result<apalis_sqlite::SqliteStorage<J>, WarehouseError> {
    let mut migrator = apalis_sqlite::SqliteStorage::<()>::migrations();
    // apalis keeps its own migration history: the warehouse's stays ours.
    migrator.dangerous_set_table_name("_apalis_migrations");
    migrator.run(pool).await?;
    Ok(apalis_sqlite::SqliteStorage::new(pool)
        .with_config(apalis_sqlite::Config::default().queue(queue)))
}

pub(super) async fn job_counts(
    pool: &Pool,
    queue: &str,
) -> Result<Vec<(String, i64)>, WarehouseError> {
    Ok(
        sqlx::query_as("SELECT status, count(*) FROM Jobs WHERE job_type = $1 GROUP BY status")
            .bind(queue)
            .fetch_all(pool)
            .await?,
    )
}

pub(super) async fn job_next_due(
    pool: &Pool,
    queue: &str,
    source: &str,
) -> Result<Option<i64>, WarehouseError> {
    Ok(sqlx::query_scalar(
        "SELECT min(run_at) FROM Jobs WHERE job_type = $1 AND status = 'Pending' \
         AND json_extract(CAST(job AS TEXT), '$.source') = $2",
    )
    .bind(queue)
    .bind(source)
    .fetch_one(pool)
    .await?)
}

pub(super) async fn job_keys(
    pool: &Pool,
    queue: &str,
    prefix: &str,
) -> Result<Vec<(String, i64)>, WarehouseError> {
    Ok(sqlx::query_as(
        "SELECT idempotency_key, count(*) FROM Jobs WHERE job_type = $1 \
         AND substr(idempotency_key, 1, length($2)) = $2 GROUP BY idempotency_key",
    )
    .bind(queue)
    .bind(prefix)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn inspect(
    pool: &Pool,
    sql: &str,
    key: Option<[u8; 16]>,
) -> Result<Vec<Vec<Option<String>>>, WarehouseError> {
    use sqlx::{Column as _, TypeInfo as _, ValueRef as _};
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    if let Some(key) = key {
        q = q.bind(key.to_vec());
    }
    let rows = q.fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut cells = Vec::with_capacity(row.columns().len());
        for i in 0..row.columns().len() {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                cells.push(None);
                continue;
            }
            let ty = raw.type_info().name().to_ascii_uppercase();
            let declared = row.columns()[i].type_info().name().to_ascii_uppercase();
            let cell = if declared == "BOOLEAN" {
                (row.try_get::<i64, _>(i)? != 0).to_string()
            } else if ty == "INTEGER" {
                row.try_get::<i64, _>(i)?.to_string()
            } else if ty == "REAL" {
                row.try_get::<f64, _>(i)?.to_string()
            } else if ty == "BLOB" {
                hex::encode(row.try_get::<Vec<u8>, _>(i)?)
            } else {
                row.try_get::<String, _>(i)?
            };
            cells.push(Some(cell));
        }
        out.push(cells);
    }
    Ok(out)
}

pub(super) async fn catalogue(
    pool: &Pool,
    table: &str,
) -> Result<Vec<(String, String, bool)>, WarehouseError> {
    let rows =
        sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| {
            let ty: String = r.try_get("type")?;
            let notnull: i64 = r.try_get("notnull")?;
            let pk: i64 = r.try_get("pk")?;
            let ty = match ty.to_ascii_uppercase().as_str() {
                "INTEGER" => "bigint".to_string(),
                other => other.to_ascii_lowercase(),
            };
            Ok((r.try_get("name")?, ty, notnull == 0 && pk == 0))
        })
        .collect()
}
