//! PostgreSQL: opening, write transactions, bulk loading with
//! `COPY`, the job queue's tables and the catalogue. The portable statements
//! are compiled here for PostgreSQL (see `warehouse.rs`).

use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::Connection as _;
use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Value, WarehouseError};

pub(super) type DB = sqlx::Postgres;
pub(super) type Pool = sqlx::PgPool;
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

/// PostgreSQL allows 65,535 bound values per statement.
pub(super) const MAX_BINDS: usize = 60_000;

pub(super) async fn open(url: &str) -> Result<Pool, WarehouseError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|_| WarehouseError::UnsupportedUrl(url.to_string()))?;
    let options = options
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
        .statement_cache_capacity(64);
    // One connection first: a server that is not there fails at once, not
    // after the pool's acquire timeout.
    {
        use sqlx::Connection as _;
        let probe = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(|source| WarehouseError::Connect {
                url: super::redact_url(url),
                source,
            })?;
        let _ = probe.close().await;
    }
    let pool = PgPoolOptions::new()
        .max_connections(8)
        // A connection whose transaction could not end (a COMMIT refused
        // for a full disk, after which the database rolled back on its own)
        // still counts as inside one: never hand it out again.
        .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|source| WarehouseError::Connect {
            url: super::redact_url(url),
            source,
        })?;
    Ok(pool)
}

/// Writers of different sources never touch the same rows (one run per
/// source, and facts are keyed by the source's streams): READ COMMITTED
/// transactions suffice.
///
/// A write looks rows up by key only. A fact table filled within minutes has
/// no statistics yet, and the planner then scans it whole for each lookup
/// (quadratic: 474 s of commits for a million rows, measured); in these
/// transactions an index is always the right path.
pub(super) async fn begin_write(pool: &Pool) -> Result<Tx, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Appends new fact rows (keys known to be absent) with `COPY … FROM STDIN`
/// in text format: no statement to parse, no bound values to decode.
pub(super) async fn insert_new(
    tx: &mut Tx,
    table: &'static super::schema::Table,
    prov: &super::Provenance,
    stream_id: i64,
    rows: &[(&super::Row, Option<i64>)],
) -> Result<(), WarehouseError> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns: Vec<&str> = table.all_columns().map(|c| c.name).collect();
    let statement = format!(
        "COPY {} ({}) FROM STDIN (FORMAT text)",
        table.name,
        columns.join(",")
    );
    let mut buf = String::with_capacity(rows.len() * 200);
    for (row, origin_id) in rows {
        buf.push_str(&stream_id.to_string());
        buf.push('\t');
        buf.push_str("\\\\x");
        buf.push_str(&hex::encode(row.key));
        for v in [
            Value::Text(row.territory(prov).to_string()),
            Value::Text(prov.network.clone()),
            Value::Int(prov.run_id),
            origin_id.map(Value::Int).unwrap_or(Value::Null),
            Value::Int(row.hash),
        ] {
            buf.push('\t');
            copy_value(&mut buf, &v);
        }
        for (i, c) in table.columns.iter().enumerate() {
            buf.push('\t');
            copy_value(&mut buf, row.column(i, c.name));
        }
        buf.push('\n');
    }
    let mut copy = tx.copy_in_raw(&statement).await?;
    copy.send(buf.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// One value in COPY's text format (backslash escapes, `\N` for NULL).
fn copy_value(buf: &mut String, v: &Value) {
    match v {
        Value::Null => buf.push_str("\\N"),
        Value::Int(i) => buf.push_str(&i.to_string()),
        // Rust prints the shortest text that reads back to the same f64.
        Value::Real(f) => buf.push_str(&f.to_string()),
        Value::Bool(b) => buf.push(if *b { 't' } else { 'f' }),
        Value::Date(d) => buf.push_str(&d.to_string()),
        Value::Timestamp(t) => buf.push_str(&super::rfc3339(*t)),
        Value::Key(k) => {
            buf.push_str("\\\\x");
            buf.push_str(&hex::encode(k));
        }
        Value::Text(s) => {
            for ch in s.chars() {
                match ch {
                    '\\' => buf.push_str("\\\\"),
                    '\t' => buf.push_str("\\t"),
                    '\n' => buf.push_str("\\n"),
                    '\r' => buf.push_str("\\r"),
                    c => buf.push(c),
                }
            }
        }
    }
}

/// What a table holds of `keys`: one `= ANY($2)` over a bytea array (an IN
/// list of hundreds of parameters costs PostgreSQL more to plan than to run).
pub(super) async fn existing_keys(
    tx: &mut Tx,
    table: &'static super::schema::Table,
    stream_id: i64,
    keys: &[[u8; 16]],
) -> Result<Vec<(Vec<u8>, i64, Option<i64>)>, WarehouseError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT key, row_hash, origin_id FROM {} WHERE stream_id = $1 AND key = ANY($2)",
        table.name
    )))
    .bind(stream_id)
    .bind(keys)
    .fetch_all(&mut **tx)
    .await?)
}

/// A read-only session for indicator queries: one `READ ONLY` transaction
/// (REPEATABLE READ: one snapshot for every query), in UTC so that dates
/// fall in the same month as on SQLite, each query under a
/// `statement_timeout`.
pub(super) struct ReadOnly {
    tx: Tx,
}

impl ReadOnly {
    pub(super) async fn begin(pool: &Pool) -> Result<ReadOnly, WarehouseError> {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
             SET LOCAL TimeZone = 'UTC'",
        )
        .execute(&mut *tx)
        .await?;
        Ok(ReadOnly { tx })
    }

    pub(super) async fn fetch_all(
        &mut self,
        sql: &str,
        limit: Duration,
    ) -> Result<Vec<sqlx::postgres::PgRow>, WarehouseError> {
        let ms = limit.as_millis().clamp(1, i32::MAX as u128);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET LOCAL statement_timeout = {ms}"
        )))
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| match &e {
                // query_canceled: the statement timeout.
                sqlx::Error::Database(d) if d.code().as_deref() == Some("57014") => {
                    WarehouseError::TimeLimit(limit)
                }
                _ => e.into(),
            })
    }

    pub(super) async fn end(self) {
        let _ = self.tx.rollback().await;
    }
}

pub(super) async fn job_store<J>(
    pool: &Pool,
    queue: &str,
) -> Result<apalis_postgres::PostgresStorage<J>, WarehouseError> {
    let mut migrator = apalis_postgres::PostgresStorage::<()>::migrations();
    // apalis keeps its own migration history: the warehouse's stays ours.
    migrator.dangerous_set_table_name("_apalis_migrations");
    migrator.run(pool).await?;
    Ok(apalis_postgres::PostgresStorage::new(pool)
        // A worker locks the jobs it fetches: a few at a time, so that the
        // other nodes' workers get the rest.
        .with_config(
            apalis_postgres::Config::default()
                .queue(queue)
                .batch_size(2),
        ))
}

pub(super) async fn job_counts(
    pool: &Pool,
    queue: &str,
) -> Result<Vec<(String, i64)>, WarehouseError> {
    Ok(sqlx::query_as(
        "SELECT status, count(*) FROM apalis.jobs WHERE job_type = $1 GROUP BY status",
    )
    .bind(queue)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn job_next_due(
    pool: &Pool,
    queue: &str,
    source: &str,
) -> Result<Option<i64>, WarehouseError> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(EXTRACT(EPOCH FROM min(run_at)) AS BIGINT) FROM apalis.jobs \
         WHERE job_type = $1 AND status = 'Pending' \
         AND convert_from(job, 'UTF8')::jsonb ->> 'source' = $2",
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
        "SELECT idempotency_key, count(*) FROM apalis.jobs WHERE job_type = $1 \
         AND starts_with(idempotency_key, $2) GROUP BY idempotency_key",
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
            let ty = row.columns()[i].type_info().name().to_ascii_uppercase();
            let cell = match ty.as_str() {
                "INT8" => row.try_get::<i64, _>(i)?.to_string(),
                "INT4" => row.try_get::<i32, _>(i)?.to_string(),
                "INT2" => row.try_get::<i16, _>(i)?.to_string(),
                "FLOAT8" => row.try_get::<f64, _>(i)?.to_string(),
                "FLOAT4" => row.try_get::<f32, _>(i)?.to_string(),
                "BOOL" => row.try_get::<bool, _>(i)?.to_string(),
                "BYTEA" => hex::encode(row.try_get::<Vec<u8>, _>(i)?),
                "DATE" => row.try_get::<time::Date, _>(i)?.to_string(),
                "TIMESTAMPTZ" => super::rfc3339(row.try_get::<time::OffsetDateTime, _>(i)?),
                _ => row.try_get::<String, _>(i)?,
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
    let rows = sqlx::query(
        "SELECT column_name::text AS name, data_type::text AS ty, is_nullable::text AS nullable \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let nullable: String = r.try_get("nullable")?;
            Ok((r.try_get("name")?, r.try_get("ty")?, nullable == "YES"))
        })
        .collect()
}
