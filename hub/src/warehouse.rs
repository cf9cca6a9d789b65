//! The warehouse: schema, migrations and the queries the hub runs on it.
//!
//! SQLite by default (WAL, embedded migrations). A batch is committed in one
//! transaction: its rows (multi-row upserts on (source, stream, key)), its
//! rejects, the connector's checkpoint and the run's counters.

pub mod schema;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row as _, SqlitePool};

use crate::model::{EntityKind, Label, Reject};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("source `{source_id}` already has a run in progress (run {run_id})")]
    AlreadyRunning { source_id: String, run_id: i64 },
    #[error("no run {0}")]
    NoSuchRun(i64),
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("unsupported database URL `{0}` (expected sqlite://path)")]
    UnsupportedUrl(String),
}

/// A column value of a fact row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
}

impl Value {
    pub fn opt_text(s: Option<String>) -> Value {
        s.map(Value::Text).unwrap_or(Value::Null)
    }
    pub fn opt_int(v: Option<i64>) -> Value {
        v.map(Value::Int).unwrap_or(Value::Null)
    }
    pub fn opt_u32(v: Option<u32>) -> Value {
        v.map(|v| Value::Int(i64::from(v))).unwrap_or(Value::Null)
    }
    pub fn opt_bool(v: Option<bool>) -> Value {
        v.map(Value::Bool).unwrap_or(Value::Null)
    }
    pub fn label<L: Label>(l: L) -> Value {
        Value::Text(l.label().to_string())
    }
    pub fn opt_label<L: Label>(l: Option<L>) -> Value {
        l.map(Value::label).unwrap_or(Value::Null)
    }
}

/// A normalised fact row: entity columns only; provenance comes from the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: EntityKind,
    /// Keyed hash of the partner's key.
    pub key: String,
    pub origin: Option<String>,
    pub values: Vec<Value>,
    pub hash: i64,
}

/// Provenance shared by every row of a batch.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub source: String,
    pub stream: String,
    pub territory: String,
    pub network: String,
    pub run_id: i64,
    pub connector: String,
    pub connector_version: String,
}

#[derive(Debug, Clone)]
pub struct LogRecord {
    pub at: String,
    pub level: String,
    pub message: String,
}

/// Everything one batch commits, atomically.
#[derive(Debug, Default)]
pub struct BatchWrite {
    pub rows: Vec<Row>,
    pub rejects: Vec<Reject>,
    /// `Some` to save the connector's checkpoint for the stream.
    pub state: Option<Option<String>>,
    pub replace_origins: Vec<String>,
    pub logs: Vec<LogRecord>,
    /// Records the connector returned (rows + rejects, before deduplication).
    pub read: u64,
}

impl BatchWrite {
    /// Appends a later batch: its rows after ours, its checkpoint replacing ours.
    pub fn absorb(&mut self, later: BatchWrite) {
        self.rows.extend(later.rows);
        self.rejects.extend(later.rejects);
        if later.state.is_some() {
            self.state = later.state;
        }
        self.replace_origins.extend(later.replace_origins);
        self.logs.extend(later.logs);
        self.read += later.read;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.read += o.read;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.quarantined += o.quarantined;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
    /// The status named `s` (anything unknown reads as failed).
    pub fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub id: i64,
    pub source: String,
    pub status: RunStatus,
    pub full_refresh: bool,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub connector: Option<String>,
    pub connector_version: Option<String>,
    pub batches: u64,
    #[serde(flatten)]
    pub counts: Counts,
    pub error_kind: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub source: String,
    pub stream: String,
    pub run_id: i64,
    pub origin: Option<String>,
    pub line: Option<i64>,
    pub reason: String,
    pub field: String,
    pub detail: String,
    pub payload_hash: String,
}

/// A stream's saved position: the connector's opaque state.
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    pub stream: String,
    pub state: Option<String>,
    pub run_id: i64,
    pub updated_at: String,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Marks rows of an origin whose file was re-sent, until the stream ends.
const REPLACED: &str = "\u{1}replaced";

/// SQLite allows 32,766 bound values per statement; stay well below.
const MAX_BINDS: usize = 30_000;
const MAX_ROWS_PER_INSERT: usize = 1_000;

#[derive(Clone)]
pub struct Warehouse {
    pool: SqlitePool,
}

impl Warehouse {
    /// Opens (creating if needed) and migrates the warehouse.
    pub async fn open(url: &str) -> Result<Warehouse, WarehouseError> {
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
            .pragma("temp_store", "memory");
        // Each connection caches its prepared statements; multi-row ones are
        // large, so keep the cache to the handful of lengths `pow2_chunks` makes.
        let options = options.statement_cache_capacity(48);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Warehouse { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction takes SQLite's write lock up front: a deferred one
    /// that reads first and writes later fails with SQLITE_BUSY_SNAPSHOT when
    /// another source commits in between, and no busy timeout can save it.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Loads territories, networks, EPCIs and communes (idempotent).
    pub async fn seed_reference(
        &self,
        config: &crate::config::Config,
        gazetteer: &crate::geo::Gazetteer,
    ) -> Result<(), WarehouseError> {
        let mut tx = self.write_tx().await?;
        for t in &config.territories {
            sqlx::query(
                "INSERT INTO territories (id, name, active) VALUES (?, ?, ?) \
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, active = excluded.active",
            )
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.active)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM territory_epcis WHERE territory = ?")
                .bind(&t.id)
                .execute(&mut *tx)
                .await?;
            for e in &t.epci {
                sqlx::query("INSERT INTO territory_epcis (territory, epci_siren) VALUES (?, ?)")
                    .bind(&t.id)
                    .bind(e)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        use crate::config::Network;
        for n in [
            Network::Cocagne,
            Network::SecoursCatholique,
            Network::Vrac,
            Network::Ugess,
            Network::Civam,
            Network::Coalition,
        ] {
            sqlx::query("INSERT OR REPLACE INTO networks (id, name) VALUES (?, ?)")
                .bind(n.as_str())
                .bind(n.label())
                .execute(&mut *tx)
                .await?;
        }
        for s in &config.sources {
            sqlx::query(
                "INSERT OR REPLACE INTO sources (id, connector, network, territory) VALUES (?, ?, ?, ?)",
            )
            .bind(&s.id)
            .bind(&s.connector)
            .bind(s.network.as_str())
            .bind(&s.territory)
            .execute(&mut *tx)
            .await?;
        }
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM communes")
            .fetch_one(&mut *tx)
            .await?;
        if have == 0 {
            for e in gazetteer.epcis() {
                sqlx::query("INSERT OR REPLACE INTO epcis (siren, name, kind, population) VALUES (?, ?, ?, ?)")
                    .bind(&e.siren)
                    .bind(&e.name)
                    .bind(&e.kind)
                    .bind(e.population.map(|p| p as i64))
                    .execute(&mut *tx)
                    .await?;
            }
            for c in gazetteer.communes() {
                sqlx::query(
                    "INSERT OR REPLACE INTO communes (insee, name, kind, departement, parent_insee, epci_siren, postcodes, population) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&c.insee)
                .bind(&c.name)
                .bind(&c.kind)
                .bind(&c.departement)
                .bind(&c.parent_insee)
                .bind(&c.epci_siren)
                .bind(c.postcodes.join("|"))
                .bind(c.population.map(|p| p as i64))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts a run, refusing if the source already has a live one. A run left
    /// `running` by a process that no longer exists is marked interrupted.
    pub async fn start_run(&self, source: &str, full_refresh: bool) -> Result<i64, WarehouseError> {
        let mut tx = self.write_tx().await?;
        let running = sqlx::query(
            "SELECT id, owner_pid, owner_host, heartbeat_at FROM runs WHERE source = ? AND status = 'running'",
        )
        .bind(source)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = running {
            let id: i64 = row.try_get("id")?;
            let pid: Option<i64> = row.try_get("owner_pid")?;
            let host: Option<String> = row.try_get("owner_host")?;
            let heartbeat: String = row.try_get("heartbeat_at")?;
            if owner_is_alive(pid, host.as_deref(), &heartbeat) {
                return Err(WarehouseError::AlreadyRunning {
                    source_id: source.to_string(),
                    run_id: id,
                });
            }
            sqlx::query(
                "UPDATE runs SET status = 'interrupted', ended_at = ?, error_kind = 'interrupted', \
                 error = 'the process running it stopped before it finished; the next run resumed from its last checkpoint' \
                 WHERE id = ?",
            )
            .bind(now_rfc3339())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let now = now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (source, status, full_refresh, started_at, heartbeat_at, owner_pid, owner_host) \
             VALUES (?, 'running', ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(source)
        .bind(full_refresh)
        .bind(&now)
        .bind(&now)
        .bind(i64::from(std::process::id()))
        .bind(hostname())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn set_run_connector(
        &self,
        run_id: i64,
        name: &str,
        version: &str,
    ) -> Result<(), WarehouseError> {
        sqlx::query("UPDATE runs SET connector = ?, connector_version = ? WHERE id = ?")
            .bind(name)
            .bind(version)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        error: Option<(&str, &str)>,
        logs: &[LogRecord],
    ) -> Result<(), WarehouseError> {
        let mut tx = self.write_tx().await?;
        insert_logs(&mut tx, run_id, logs).await?;
        sqlx::query(
            "UPDATE runs SET status = ?, ended_at = ?, error_kind = ?, error = ? WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(now_rfc3339())
        .bind(error.map(|e| e.0))
        .bind(error.map(|e| e.1))
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn checkpoint(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<Option<String>, WarehouseError> {
        let state: Option<Option<String>> =
            sqlx::query_scalar("SELECT state FROM checkpoints WHERE source = ? AND stream = ?")
                .bind(source)
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?;
        Ok(state.flatten())
    }

    /// Commits one batch: rows, rejects, checkpoint, logs and counters, in one
    /// transaction. Returns what happened to the rows.
    pub async fn commit_batch(
        &self,
        prov: &Provenance,
        batch: BatchWrite,
    ) -> Result<Counts, WarehouseError> {
        let mut tx = self.write_tx().await?;
        let mut counts = Counts {
            read: batch.read,
            quarantined: batch.rejects.len() as u64,
            ..Counts::default()
        };
        if !batch.replace_origins.is_empty() {
            // A re-sent file replaces its earlier version: its rows are set
            // aside; those the new version emits again are taken back (and
            // count as unchanged when equal), the rest are removed when the
            // stream ends (`finish_stream`).
            for kind in EntityKind::ALL {
                let table = schema::table(kind);
                for origin in &batch.replace_origins {
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {} SET origin = ? WHERE source = ? AND stream = ? AND origin = ?",
                        table.name
                    )))
                    .bind(format!("{origin}{REPLACED}"))
                    .bind(&prov.source)
                    .bind(&prov.stream)
                    .bind(origin)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let extracted_at = now_rfc3339();
        let mut by_kind: Vec<(EntityKind, Vec<Row>)> = Vec::new();
        for row in batch.rows {
            match by_kind.iter_mut().find(|(k, _)| *k == row.kind) {
                Some((_, rows)) => rows.push(row),
                None => by_kind.push((row.kind, vec![row])),
            }
        }
        for (kind, rows) in by_kind {
            let c = upsert_rows(&mut tx, prov, &extracted_at, kind, rows).await?;
            counts.inserted += c.inserted;
            counts.updated += c.updated;
            counts.unchanged += c.unchanged;
        }
        insert_rejects(&mut tx, prov, &extracted_at, &batch.rejects).await?;
        if let Some(state) = &batch.state {
            sqlx::query(
                "INSERT INTO checkpoints (source, stream, state, run_id, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT(source, stream) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, \
                 updated_at = excluded.updated_at",
            )
            .bind(&prov.source)
            .bind(&prov.stream)
            .bind(state)
            .bind(prov.run_id)
            .bind(&extracted_at)
            .execute(&mut *tx)
            .await?;
        }
        insert_logs(&mut tx, prov.run_id, &batch.logs).await?;
        sqlx::query(
            "UPDATE runs SET batches = batches + 1, read = read + ?, inserted = inserted + ?, updated = updated + ?, \
             unchanged = unchanged + ?, quarantined = quarantined + ?, heartbeat_at = ? WHERE id = ?",
        )
        .bind(counts.read as i64)
        .bind(counts.inserted as i64)
        .bind(counts.updated as i64)
        .bind(counts.unchanged as i64)
        .bind(counts.quarantined as i64)
        .bind(&extracted_at)
        .bind(prov.run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Ends a stream's pass: rows of a re-sent file that its new version no
    /// longer holds are removed. Returns how many.
    pub async fn finish_stream(&self, source: &str, stream: &str) -> Result<u64, WarehouseError> {
        let mut tx = self.write_tx().await?;
        let mut removed = 0;
        for kind in EntityKind::ALL {
            let table = schema::table(kind);
            removed += sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {} WHERE source = ? AND stream = ? AND origin LIKE ?",
                table.name
            )))
            .bind(source)
            .bind(stream)
            .bind(format!("%{REPLACED}"))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Marks a source's open quarantine entries older than `run_id` as replayed by it.
    pub async fn mark_replayed(&self, source: &str, run_id: i64) -> Result<u64, WarehouseError> {
        let done = sqlx::query(
            "UPDATE quarantine SET replayed_by = ? WHERE source = ? AND run_id < ? AND replayed_by IS NULL",
        )
        .bind(run_id)
        .bind(source)
        .bind(run_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done)
    }

    pub async fn run(&self, run_id: i64) -> Result<RunReport, WarehouseError> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(WarehouseError::NoSuchRun(run_id))?;
        run_from_row(&row)
    }

    pub async fn runs(
        &self,
        source: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunReport>, WarehouseError> {
        let rows = sqlx::query(
            "SELECT * FROM runs WHERE (?1 IS NULL OR source = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(source)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs newest first, filtered, one page at a time: `before` is the id the
    /// previous page ended at (keyset pagination: stable while runs are added).
    /// `sources = Some(&[])` matches nothing.
    pub async fn runs_page(
        &self,
        sources: Option<&[String]>,
        status: Option<RunStatus>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RunReport>, WarehouseError> {
        let mut sql = String::from("SELECT * FROM runs WHERE 1 = 1");
        if let Some(sources) = sources {
            if sources.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(
                " AND source IN ({})",
                vec!["?"; sources.len()].join(",")
            ));
        }
        if status.is_some() {
            sql.push_str(" AND status = ?");
        }
        if before.is_some() {
            sql.push_str(" AND id < ?");
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in sources.unwrap_or_default() {
            q = q.bind(s);
        }
        if let Some(status) = status {
            q = q.bind(status.as_str());
        }
        if let Some(before) = before {
            q = q.bind(before);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The saved checkpoint of each stream of a source.
    pub async fn checkpoints(&self, source: &str) -> Result<Vec<Checkpoint>, WarehouseError> {
        let rows = sqlx::query(
            "SELECT stream, state, run_id, updated_at FROM checkpoints WHERE source = ? ORDER BY stream",
        )
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    stream: r.try_get("stream")?,
                    state: r.try_get("state")?,
                    run_id: r.try_get("run_id")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Forgets one stream's checkpoint: its next run reads it from the start.
    /// Returns whether there was one.
    pub async fn delete_checkpoint(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<bool, WarehouseError> {
        let done = sqlx::query("DELETE FROM checkpoints WHERE source = ? AND stream = ?")
            .bind(source)
            .bind(stream)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    pub async fn run_logs(&self, run_id: i64) -> Result<Vec<LogRecord>, WarehouseError> {
        let rows =
            sqlx::query("SELECT at, level, message FROM run_logs WHERE run_id = ? ORDER BY seq")
                .bind(run_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(LogRecord {
                    at: r.try_get("at")?,
                    level: r.try_get("level")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    pub async fn quarantine(
        &self,
        source: Option<&str>,
        run: Option<i64>,
        limit: i64,
    ) -> Result<Vec<QuarantineEntry>, WarehouseError> {
        let rows = sqlx::query(
            "SELECT id, source, stream, run_id, origin, line, reason, field, detail, payload_hash FROM quarantine \
             WHERE (?1 IS NULL OR source = ?1) AND (?2 IS NULL OR run_id = ?2) \
             AND (?2 IS NOT NULL OR replayed_by IS NULL) ORDER BY id LIMIT ?3",
        )
        .bind(source)
        .bind(run)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QuarantineEntry {
                    id: r.try_get("id")?,
                    source: r.try_get("source")?,
                    stream: r.try_get("stream")?,
                    run_id: r.try_get("run_id")?,
                    origin: r.try_get("origin")?,
                    line: r.try_get("line")?,
                    reason: r.try_get("reason")?,
                    field: r.try_get("field")?,
                    detail: r.try_get("detail")?,
                    payload_hash: r.try_get("payload_hash")?,
                })
            })
            .collect()
    }

    /// Rows per fact table and territory (the demo's summary).
    pub async fn territory_summary(&self) -> Result<Vec<(String, String, i64)>, WarehouseError> {
        let mut out = Vec::new();
        for kind in EntityKind::ALL {
            let table = schema::table(kind);
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT territory, count(*) AS n FROM {} GROUP BY territory",
                table.name
            )))
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                out.push((
                    r.try_get("territory")?,
                    table.name.to_string(),
                    r.try_get("n")?,
                ));
            }
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn run_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RunReport, WarehouseError> {
    let n = |c: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(RunReport {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        status: RunStatus::parse(&row.try_get::<String, _>("status")?),
        full_refresh: row.try_get("full_refresh")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        connector: row.try_get("connector")?,
        connector_version: row.try_get("connector_version")?,
        batches: n("batches")?,
        counts: Counts {
            read: n("read")?,
            inserted: n("inserted")?,
            updated: n("updated")?,
            unchanged: n("unchanged")?,
            quarantined: n("quarantined")?,
        },
        error_kind: row.try_get("error_kind")?,
        error: row.try_get("error")?,
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

async fn upsert_rows(
    tx: &mut Tx<'_>,
    prov: &Provenance,
    extracted_at: &str,
    kind: EntityKind,
    rows: Vec<Row>,
) -> Result<Counts, WarehouseError> {
    let table = schema::table(kind);
    let mut counts = Counts::default();
    // Within a batch the later record of a key wins; the earlier one counts as
    // updated (or unchanged when identical) so that read = stored + quarantined.
    let mut latest: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut superseded = vec![false; rows.len()];
    for (i, row) in rows.iter().enumerate() {
        if let Some(prev) = latest.insert(row.key.as_str(), i) {
            superseded[prev] = true;
            if rows[prev].hash == row.hash {
                counts.unchanged += 1;
            } else {
                counts.updated += 1;
            }
        }
    }
    let mut existing: HashMap<String, (i64, Option<String>)> = HashMap::with_capacity(rows.len());
    let keys: Vec<&str> = latest.keys().copied().collect();
    for chunk in pow2_chunks(&keys, 512) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT key, row_hash, origin FROM {} WHERE source = ? AND stream = ? AND key IN ({placeholders})",
            table.name
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(&prov.source)
            .bind(&prov.stream);
        for k in chunk {
            q = q.bind(*k);
        }
        for r in q.fetch_all(&mut **tx).await? {
            existing.insert(
                r.try_get("key")?,
                (r.try_get("row_hash")?, r.try_get("origin")?),
            );
        }
    }
    let mut to_write: Vec<&Row> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if superseded[i] {
            continue;
        }
        match existing.get(&row.key) {
            None => {
                counts.inserted += 1;
                to_write.push(row);
            }
            Some((h, origin)) if *h == row.hash => {
                counts.unchanged += 1;
                // Same values, but taken back from a replaced file (or moved to
                // another file): only the origin is rewritten.
                if *origin != row.origin {
                    to_write.push(row);
                }
            }
            Some(_) => {
                counts.updated += 1;
                to_write.push(row);
            }
        }
    }
    if to_write.is_empty() {
        return Ok(counts);
    }
    let ncols = schema::PROVENANCE.len() + table.columns.len();
    let per_stmt = (MAX_BINDS / ncols).clamp(1, MAX_ROWS_PER_INSERT);
    let columns: Vec<&str> = schema::PROVENANCE
        .iter()
        .chain(table.columns.iter())
        .copied()
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !matches!(**c, "source" | "stream" | "key"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let row_placeholder = format!("({})", vec!["?"; ncols].join(","));
    for chunk in pow2_chunks(&to_write, per_stmt) {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT(source, stream, key) DO UPDATE SET {}",
            table.name,
            columns.join(","),
            vec![row_placeholder.as_str(); chunk.len()].join(","),
            updates.join(",")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            q = q
                .bind(&prov.source)
                .bind(&prov.stream)
                .bind(&row.key)
                .bind(&prov.territory)
                .bind(&prov.network)
                .bind(prov.run_id)
                .bind(extracted_at)
                .bind(&prov.connector)
                .bind(&prov.connector_version)
                .bind(&row.origin)
                .bind(row.hash);
            for v in &row.values {
                q = match v {
                    Value::Null => q.bind(None::<i64>),
                    Value::Int(i) => q.bind(*i),
                    Value::Real(f) => q.bind(*f),
                    Value::Text(s) => q.bind(s.as_str()),
                    Value::Bool(b) => q.bind(*b),
                };
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(counts)
}

async fn insert_rejects(
    tx: &mut Tx<'_>,
    prov: &Provenance,
    at: &str,
    rejects: &[Reject],
) -> Result<(), WarehouseError> {
    for chunk in pow2_chunks(rejects, 256) {
        let sql = format!(
            "INSERT INTO quarantine (source, stream, run_id, key, origin, line, reason, field, detail, payload_hash, created_at) VALUES {}",
            vec!["(?,?,?,?,?,?,?,?,?,?,?)"; chunk.len()].join(",")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(&prov.source)
                .bind(&prov.stream)
                .bind(prov.run_id)
                .bind(&r.key)
                .bind(&r.origin)
                .bind(r.line.map(|l| l as i64))
                .bind(r.reason.as_str())
                .bind(&r.field)
                .bind(&r.detail)
                .bind(hex::encode(r.payload_hash))
                .bind(at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_logs(
    tx: &mut Tx<'_>,
    run_id: i64,
    logs: &[LogRecord],
) -> Result<(), WarehouseError> {
    if logs.is_empty() {
        return Ok(());
    }
    let next: i64 =
        sqlx::query_scalar("SELECT coalesce(max(seq), 0) + 1 FROM run_logs WHERE run_id = ?")
            .bind(run_id)
            .fetch_one(&mut **tx)
            .await?;
    for (chunk_start, chunk) in logs.chunks(500).enumerate() {
        let sql = format!(
            "INSERT INTO run_logs (run_id, seq, at, level, message) VALUES {}",
            vec!["(?,?,?,?,?)"; chunk.len()].join(",")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (i, l) in chunk.iter().enumerate() {
            q = q
                .bind(run_id)
                .bind(next + (chunk_start * 500 + i) as i64)
                .bind(&l.at)
                .bind(&l.level)
                .bind(&l.message);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Splits into runs whose lengths are powers of two (at most `max`): a
/// multi-row statement is prepared and cached per length, so a few lengths
/// keep the statement cache small however batch sizes vary.
fn pow2_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let cap = if max == 0 { 1 } else { 1usize << max.ilog2() };
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = cap.min(1usize << rest.len().ilog2());
        let (head, tail) = rest.split_at(len);
        rest = tail;
        Some(head)
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether the process that owns a `running` run may still be working on it.
fn owner_is_alive(pid: Option<i64>, host: Option<&str>, heartbeat: &str) -> bool {
    if let (Some(pid), Some(host)) = (pid, host)
        && host == hostname()
    {
        // Same machine: ask the kernel. kill(pid, 0) sends nothing.
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        return rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    }
    // Another machine: trust a heartbeat younger than ten minutes.
    time::OffsetDateTime::parse(heartbeat, &time::format_description::well_known::Rfc3339)
        .map(|t| time::OffsetDateTime::now_utc() - t < time::Duration::minutes(10))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow2_chunks_cover_everything_with_few_lengths() {
        let items: Vec<u32> = (0..1_000).collect();
        let chunks: Vec<&[u32]> = pow2_chunks(&items, 300).collect();
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 1_000);
        assert!(
            chunks
                .iter()
                .all(|c| c.len().is_power_of_two() && c.len() <= 256)
        );
        assert_eq!(chunks.concat(), items);
        assert_eq!(pow2_chunks(&items[..0], 8).count(), 0);
    }

    #[tokio::test]
    async fn schema_matches_the_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.sqlite").display());
        let w = Warehouse::open(&url).await.unwrap();
        for kind in EntityKind::ALL {
            let table = schema::table(kind);
            let cols: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{}')",
                table.name
            )))
            .fetch_all(w.pool())
            .await
            .unwrap();
            let expected: Vec<String> = schema::PROVENANCE
                .iter()
                .chain(table.columns.iter())
                .map(|s| s.to_string())
                .collect();
            assert_eq!(cols, expected, "table {}", table.name);
        }
    }

    #[tokio::test]
    async fn one_run_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.sqlite").display());
        let w = Warehouse::open(&url).await.unwrap();
        let a = w.start_run("s", false).await.unwrap();
        match w.start_run("s", false).await {
            Err(WarehouseError::AlreadyRunning { run_id, .. }) => assert_eq!(run_id, a),
            other => panic!("{other:?}"),
        }
        // Another source may run meanwhile.
        w.start_run("t", false).await.unwrap();
        w.finish_run(a, RunStatus::Succeeded, None, &[])
            .await
            .unwrap();
        let b = w.start_run("s", false).await.unwrap();
        assert!(b > a);
        // A run owned by a process that is gone is marked interrupted.
        sqlx::query("UPDATE runs SET owner_pid = 999999999 WHERE id = ?")
            .bind(b)
            .execute(w.pool())
            .await
            .unwrap();
        let c = w.start_run("s", false).await.unwrap();
        assert_eq!(w.run(b).await.unwrap().status, RunStatus::Interrupted);
        assert_eq!(w.run(c).await.unwrap().status, RunStatus::Running);
    }
}
