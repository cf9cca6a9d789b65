//! The warehouse: the one door to the hub's database. Every SQL statement of
//! the hub lives under this module.
//!
//! Two backends sit behind [`Warehouse`], chosen from `database_url`
//! (`sqlite://…` or `postgres://…`):
//!
//! - `warehouse/sqlite.rs` and `warehouse/postgres.rs` hold what really
//!   differs: opening, write locking, bulk loading, the catalogue;
//! - the portable statements are written once, by concern, in
//!   `warehouse/{runs, batches, quarantine, reference, tokens, metrics,
//!   queue, exports, indicators}.rs`, and compiled once per backend (each dialect module
//!   `include!`s them with its own `DB` type), so placeholders and types are
//!   checked against each database's driver; `QueryBuilder::push_bind` emits
//!   each backend's placeholders.
//!
//! [`Warehouse`] dispatches each call to its backend's module, as
//! `plugin_host/bindings.rs` dispatches WIT versions: one enum, one arm per
//! backend.

pub mod migrations;
pub mod schema;
pub mod testing;

mod postgres;
mod sqlite;

use serde::Serialize;
use time::OffsetDateTime;

use crate::model::{EntityKind, Label, Reject};

pub use migrations::{MigrationLock, MigrationReport};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error(
        "the warehouse's disk is full ({0}): free space on it, then run again; a sync resumes from its last committed batch and loses nothing"
    )]
    DiskFull(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("source `{source_id}` already has a run in progress (run {run_id})")]
    AlreadyRunning { source_id: String, run_id: i64 },
    #[error("no run {0}")]
    NoSuchRun(i64),
    #[error("run {run_id} is not running (it is {status})")]
    NotRunning { run_id: i64, status: String },
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "unsupported database URL `{0}`: expected `sqlite://path/to/file.sqlite` or `postgres://user@host/database`"
    )]
    UnsupportedUrl(String),
    #[error(
        "cannot open the warehouse at {url} (`[hub] database_url`): {source}; check that the server runs, the database exists and the user may connect"
    )]
    Connect {
        /// The URL without its password.
        url: String,
        source: sqlx::Error,
    },
    #[error(
        "the warehouse at {url} has no schema yet: run `vivres migrate` (once, from any node) before this command"
    )]
    NotMigrated { url: String },
    #[error(
        "the warehouse's schema is at version {database}, older than this binary's (vivres {vivres}, schema version {binary}): run `vivres migrate` with this binary first"
    )]
    SchemaOlder {
        database: i64,
        binary: i64,
        vivres: &'static str,
    },
    #[error(
        "the warehouse's schema is at version {database}, newer than this binary knows (vivres {vivres}, schema version {binary}): a newer vivres migrated it; run that version (or newer) on this node, never an older one"
    )]
    SchemaNewer {
        database: i64,
        binary: i64,
        vivres: &'static str,
    },
    #[error(
        "migration {0} of the warehouse started and did not finish: restore the backup taken before the upgrade (deploy/README.md), then run `vivres migrate` again"
    )]
    SchemaDirty(i64),
    #[error("a token named `{0}` is already live")]
    NameTaken(String),
    #[error("the job queue: {0}")]
    Queue(String),
    #[error("the query ran longer than its time limit ({} s)", .0.as_secs_f64())]
    TimeLimit(std::time::Duration),
    #[error(
        "run {0} was taken over by another node (this node's lease on it went stale): this node stopped writing to it"
    )]
    LeaseLost(i64),
}

impl WarehouseError {
    /// Whether the statement broke a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, WarehouseError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// A column value of a fact row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Date(time::Date),
    Timestamp(OffsetDateTime),
    /// A 16-byte keyed hash (a reference to another record's key).
    Key([u8; 16]),
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

/// What an export selects: one exportable table (a fact or a fact's
/// child), rows of these territories and networks (empty: all), whose period
/// column lies in `from..=to`.
#[derive(Debug, Clone)]
pub struct ExportQuery {
    pub table: &'static schema::Table,
    pub territories: Vec<String>,
    pub networks: Vec<String>,
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
}

/// The columns of an export of `table`, in order: the row's source, stream,
/// pseudonymous key (hex), territory, network and run, then the table's own
/// columns. Keys and other bytes are exported as hex text.
pub fn export_columns(table: &schema::Table) -> Vec<(&'static str, schema::Type)> {
    use schema::Type;
    let mut out = vec![
        ("source", Type::Text),
        ("stream", Type::Text),
        ("key", Type::Bytes),
        ("territory", Type::Text),
        ("network", Type::Text),
        ("run_id", Type::Int),
    ];
    out.extend(
        table
            .columns
            .iter()
            .filter(|c| !c.provenance)
            .map(|c| (c.name, c.ty)),
    );
    out
}

/// One row of an indicator query (see `indicators.rs`): a territory and
/// period's value and the number of people it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCell {
    pub territory: String,
    pub period: String,
    /// The breakdown's value (a network, a channel…), `None` for the total.
    pub breakdown: Option<String>,
    pub value: Option<f64>,
    pub n: i64,
}

/// A normalised fact row: the entity's columns by name; provenance comes
/// from the batch, except a `territory` the row names last (a site filed
/// under the territory of its own commune, see `sync::normalise`). Children
/// are rows of the entity's child table (`diagnostic_scores`,
/// `survey_answers`), replaced with their parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: EntityKind,
    /// Keyed hash of the partner's key.
    pub key: [u8; 16],
    /// The export file it came from (a file name, never a path).
    pub origin: Option<String>,
    pub values: Vec<(&'static str, Value)>,
    pub children: Vec<Child>,
    pub hash: i64,
}

impl Row {
    /// The value of column number `i` of its table, named `column`: the
    /// normaliser lists columns in the table's order, so this is one
    /// comparison per value on the write path; a row in another order is
    /// looked up by name.
    pub fn column(&self, i: usize, column: &str) -> &Value {
        match self.values.get(i) {
            Some((name, v)) if *name == column => v,
            _ => self.get(column),
        }
    }

    /// The territory the row is filed under: the one it names last, else
    /// the batch's (one comparison per row on the write path).
    pub fn territory<'a>(&'a self, prov: &'a Provenance) -> &'a str {
        match self.values.last() {
            Some(("territory", Value::Text(t))) => t,
            _ => &prov.territory,
        }
    }

    /// The value of a column (`Null` when the row does not name it).
    pub fn get(&self, column: &str) -> &Value {
        self.values
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v)
            .unwrap_or(&Value::Null)
    }
}

/// A row of a child table: its columns after the parent's (stream_id, key).
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub table: &'static str,
    pub values: Vec<(&'static str, Value)>,
}

/// Provenance shared by every row of a batch.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub source: String,
    pub stream: String,
    pub territory: String,
    pub network: String,
    pub run_id: i64,
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
    /// Batches merged into this write.
    pub batches: u64,
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
        self.batches += later.batches;
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

/// One stream's figures in a run: what the run report, `/runs/{id}` and
/// `/metrics` read (columns of `run_streams`, never log lines).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamFigures {
    pub stream: String,
    pub batches: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Records of re-sent files that their new version no longer holds.
    pub removed: u64,
    pub read_ms: u64,
    pub normalise_ms: u64,
    pub commit_ms: u64,
}

/// A run's partner HTTP figures (columns of `runs` and rows of `run_http`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpFigures {
    pub requests: u64,
    pub retries: u64,
    pub denied: u64,
    pub failures: u64,
    pub waited_ms: u64,
    /// Responses by status code.
    pub by_status: Vec<(u16, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Interrupted,
    /// Stopped on request (`POST /runs/{id}/cancel`, `vivres run cancel`).
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Cancelled => "cancelled",
        }
    }
    /// The status named `s` (anything unknown reads as failed).
    pub fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "interrupted" => RunStatus::Interrupted,
            "cancelled" => RunStatus::Cancelled,
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
    /// Records removed because their file was re-sent without them.
    pub removed: u64,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// What started it: `manual`, `schedule`, `replay` or `resume`.
    pub trigger: Option<String>,
    /// The API token that asked for it, by name (never the token).
    pub token_name: Option<String>,
    /// The inbox files it read, by name.
    pub files_read: Vec<String>,
    /// The inbox files no stream of its connector reads, by name.
    pub files_ignored: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub source: String,
    pub stream: String,
    pub run_id: i64,
    pub origin: Option<String>,
    pub line: Option<i64>,
    /// The workbook cell at fault (`Commande!F12`).
    pub cell: Option<String>,
    pub reason: String,
    pub field: String,
    pub detail: String,
    pub payload_hash: String,
}

/// A quarantine entry and its state: open while the record is still
/// refused (in the latest version of its file), or closed with why and when.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineRow {
    #[serde(flatten)]
    pub entry: QuarantineEntry,
    /// The partner's record id, when its connector declares the stream's
    /// keys non-personal.
    pub partner_key: Option<String>,
    /// When it closed (`None`: open, the record is still refused).
    pub closed_at: Option<String>,
    /// Why it closed: [`ClosedReason`]'s words.
    pub closed_reason: Option<String>,
    /// The run that closed it.
    pub closed_by: Option<i64>,
}

/// Which quarantine entries to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryStatus {
    /// Records still refused (the default).
    #[default]
    Open,
    Closed,
    All,
}

/// Why a quarantine entry closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    /// Its file came again (a new version) without refusing the record.
    Resent,
    /// A replay or a full re-read no longer refused it.
    Replayed,
    /// The record was stored since (the partner corrected it).
    Accepted,
}

impl ClosedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedReason::Resent => "resent",
            ClosedReason::Replayed => "replayed",
            ClosedReason::Accepted => "accepted",
        }
    }
}

/// A source paused after repeated failed runs: its scheduled runs are
/// skipped until a coordinator resumes it.
#[derive(Debug, Clone, Serialize)]
pub struct SourcePause {
    pub source: String,
    pub paused_at: String,
    /// The failed run that paused it.
    pub run_id: i64,
    /// Failed runs in a row then.
    pub failures: u64,
    pub reason: String,
}

/// A hub node (a `vivres serve` process) as `GET /nodes` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// The runs it holds the lease of.
    pub runs: Vec<NodeRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeRun {
    pub run_id: i64,
    pub source: String,
}

/// What became of a node's claim on a queued run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node holds it now.
    Ours,
    /// Another node holds it (its id).
    Held(String),
    /// It ended; `taken_over`: after a node took it over from another.
    Ended { taken_over: bool },
}

/// A stream's saved position: the connector's opaque state.
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    pub stream: String,
    pub state: Option<String>,
    pub run_id: i64,
    pub updated_at: String,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    pub territories: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A source's figures summed over its runs (`/metrics`).
#[derive(Debug, Clone, Default)]
pub struct SourceTotals {
    pub source: String,
    pub counts: Counts,
    pub plugin_read_seconds: f64,
}

/// A finished run's duration (`/metrics`).
#[derive(Debug, Clone)]
pub struct RunDuration {
    pub source: String,
    pub seconds: f64,
}

pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// An instant as RFC 3339, in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Now, truncated to the microsecond (what both backends keep).
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// The 16 bytes of a hex-encoded keyed hash; anything else (a raw key a
/// plugin handed back) is hashed, never stored as such.
fn key_bytes(hex_key: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    if hex_key.len() == 32 && hex::decode_to_slice(hex_key, &mut out).is_ok() {
        return out;
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(hex_key.as_bytes());
    out.copy_from_slice(&digest[..16]);
    out
}

/// What a quarantine entry of a file's row is about, hashed: the file (by
/// name: every version of it), the line and cell, the reason and field. The
/// line refused again, in this version or the next, keeps its entry.
fn row_identity(r: &crate::model::Reject) -> String {
    use sha2::Digest as _;
    let line = r.line.map(|l| l.to_string()).unwrap_or_default();
    let mut h = sha2::Sha256::new();
    for part in [
        r.origin.as_deref().unwrap_or(""),
        &line,
        r.cell.as_deref().unwrap_or(""),
        r.reason.as_str(),
        r.field.as_str(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("row-{}", hex::encode(&h.finalize()[..16]))
}

/// What a quarantine entry of a partner's record is about, hashed: the
/// record (its key's pseudonym; without a key, its file and content) and why
/// (reason, field). A reject with the same identity replaces the entry. (A
/// file's rows, with a line, follow `quarantine::upsert`'s rule instead.)
fn reject_identity(r: &crate::model::Reject) -> String {
    use sha2::Digest as _;
    let line = r.line.map(|l| l.to_string()).unwrap_or_default();
    let payload = match r.key {
        Some(_) => String::new(),
        None => hex::encode(r.payload_hash),
    };
    let mut h = sha2::Sha256::new();
    for part in [
        r.key.as_deref().unwrap_or(""),
        r.origin.as_deref().unwrap_or(""),
        &line,
        &payload,
        r.reason.as_str(),
        r.field.as_str(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// A database URL fit for a message: its password, if any, replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

#[derive(Clone)]
pub struct Warehouse {
    db: Db,
}

/// Calls the same portable function on whichever backend the warehouse has.
macro_rules! dispatch {
    ($self:expr, $module:ident :: $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.db {
            Db::Sqlite(pool) => sqlite::$module::$f(pool, $($arg),*).await,
            Db::Postgres(pool) => postgres::$module::$f(pool, $($arg),*).await,
        }
    };
}

impl From<sqlx::Error> for WarehouseError {
    fn from(e: sqlx::Error) -> WarehouseError {
        // SQLITE_FULL (13, and its extended codes) and PostgreSQL's
        // disk_full (53100): said plainly, since the operator can fix it.
        let full = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code == "13" || code == "53100");
        if full {
            WarehouseError::DiskFull(e.to_string())
        } else {
            WarehouseError::Database(e)
        }
    }
}

impl Warehouse {
    /// Opens the warehouse, whose schema must be exactly this binary's:
    /// otherwise the error says what to run (see `warehouse/migrations.rs`).
    /// Never changes the schema, and never creates a SQLite file.
    pub async fn open(url: &str) -> Result<Warehouse, WarehouseError> {
        if Backend::of_url(url) == Some(Backend::Sqlite)
            && migrations::sqlite_path(url).is_some_and(|p| !p.exists())
        {
            return Err(WarehouseError::NotMigrated {
                url: redact_url(url),
            });
        }
        let db = Self::connect(url).await?;
        if let Err(e) = migrations::check(&db, url).await {
            db.close().await;
            return Err(e);
        }
        Ok(Warehouse { db })
    }

    /// Opens (creating if needed) and migrates the warehouse: takes the
    /// migration lock (waiting while another node migrates), refuses a
    /// schema newer than this binary's, applies what is pending.
    pub async fn migrate(url: &str) -> Result<(Warehouse, MigrationReport), WarehouseError> {
        let lock = MigrationLock::acquire(url).await?;
        let db = Self::connect(url).await?;
        let report = migrations::apply(&db, lock.waited).await;
        lock.release().await;
        match report {
            Ok(report) => Ok((Warehouse { db }, report)),
            Err(e) => {
                db.close().await;
                Err(e)
            }
        }
    }

    async fn connect(url: &str) -> Result<Db, WarehouseError> {
        Ok(match Backend::of_url(url) {
            Some(Backend::Sqlite) => Db::Sqlite(sqlite::open(url).await?),
            Some(Backend::Postgres) => Db::Postgres(postgres::open(url).await?),
            None => return Err(WarehouseError::UnsupportedUrl(url.to_string())),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    // Reference data.

    /// Loads territories, networks, sources, EPCIs and communes (idempotent).
    pub async fn seed_reference(
        &self,
        config: &crate::config::Config,
        gazetteer: &crate::geo::Gazetteer,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, reference::seed(config, gazetteer))
    }

    /// Rows per fact table and territory (the demo's summary).
    pub async fn territory_summary(&self) -> Result<Vec<(String, String, i64)>, WarehouseError> {
        dispatch!(self, reference::territory_summary())
    }

    // Runs.

    /// Starts a run, refusing if the source already has a live one (a partial
    /// unique index on running runs decides). A run left `running` by a
    /// process that no longer exists is marked interrupted.
    pub async fn start_run(&self, source: &str, full_refresh: bool) -> Result<i64, WarehouseError> {
        dispatch!(self, runs::start_run(source, full_refresh, Some(node_id())))
    }

    /// Starts a run that waits in the queue: the node whose worker takes
    /// its job claims it ([`Warehouse::claim_run`]).
    pub async fn queue_run(&self, source: &str, full_refresh: bool) -> Result<i64, WarehouseError> {
        dispatch!(self, runs::start_run(source, full_refresh, None))
    }

    /// Records what started a run and which token holder asked for it.
    pub async fn set_run_trigger(
        &self,
        run_id: i64,
        trigger: &str,
        token_name: Option<&str>,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, runs::set_trigger(run_id, trigger, token_name))
    }

    /// Records the inbox files a run read and those it left aside.
    pub async fn set_run_files(
        &self,
        run_id: i64,
        read: &[String],
        ignored: &[String],
    ) -> Result<(), WarehouseError> {
        dispatch!(self, runs::set_files(run_id, read, ignored))
    }

    pub async fn set_run_connector(
        &self,
        run_id: i64,
        name: &str,
        version: &str,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, runs::set_connector(run_id, name, version))
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        error: Option<(&str, &str)>,
        logs: &[LogRecord],
    ) -> Result<(), WarehouseError> {
        dispatch!(self, runs::finish_run(run_id, status, error, logs))
    }

    /// Records a stream's figures for the run (after its pass).
    pub async fn record_stream(
        &self,
        run_id: i64,
        figures: &StreamFigures,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, runs::record_stream(run_id, figures))
    }

    /// Records the run's partner HTTP figures.
    pub async fn record_http(&self, run_id: i64, http: &HttpFigures) -> Result<(), WarehouseError> {
        dispatch!(self, runs::record_http(run_id, http))
    }

    pub async fn run(&self, run_id: i64) -> Result<RunReport, WarehouseError> {
        dispatch!(self, runs::run(run_id))
    }

    /// Asks a running run to stop (see `runs::request_cancel`); `true` if
    /// it was closed at once (its process had stopped).
    pub async fn request_cancel(&self, run_id: i64) -> Result<bool, WarehouseError> {
        dispatch!(self, runs::request_cancel(run_id))
    }

    /// Whether a cancel was asked for this run.
    pub async fn cancel_requested(&self, run_id: i64) -> Result<bool, WarehouseError> {
        dispatch!(self, runs::cancel_requested(run_id))
    }

    /// Failed runs of a source since its last success or resume.
    pub async fn failures_in_a_row(&self, source: &str) -> Result<u64, WarehouseError> {
        dispatch!(self, runs::failures_in_a_row(source))
    }

    /// Pauses a source (after `failures` failed runs, the last `run_id`).
    pub async fn pause_source(
        &self,
        source: &str,
        run_id: i64,
        failures: u64,
        reason: &str,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, runs::pause_source(source, run_id, failures, reason))
    }

    /// The pause of a source, if it is paused.
    pub async fn source_pause(&self, source: &str) -> Result<Option<SourcePause>, WarehouseError> {
        Ok(dispatch!(self, runs::pauses(Some(source)))?
            .into_iter()
            .next())
    }

    /// Every paused source.
    pub async fn source_pauses(&self) -> Result<Vec<SourcePause>, WarehouseError> {
        dispatch!(self, runs::pauses(None))
    }

    /// Lifts a source's pause (`by`: who); `None` if it was not paused.
    pub async fn resume_source(
        &self,
        source: &str,
        by: &str,
    ) -> Result<Option<SourcePause>, WarehouseError> {
        dispatch!(self, runs::resume_source(source, by))
    }

    /// A run's figures per stream.
    pub async fn run_streams(&self, run_id: i64) -> Result<Vec<StreamFigures>, WarehouseError> {
        dispatch!(self, runs::run_streams(run_id))
    }

    /// A run's partner HTTP figures.
    pub async fn run_http(&self, run_id: i64) -> Result<HttpFigures, WarehouseError> {
        dispatch!(self, runs::run_http(run_id))
    }

    pub async fn runs(
        &self,
        source: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunReport>, WarehouseError> {
        let sources = source.map(|s| vec![s.to_string()]);
        self.runs_page(sources.as_deref(), None, None, limit).await
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
        if sources.is_some_and(|s| s.is_empty()) {
            return Ok(Vec::new());
        }
        dispatch!(self, runs::runs_page(sources, status, before, limit))
    }

    pub async fn run_logs(&self, run_id: i64) -> Result<Vec<LogRecord>, WarehouseError> {
        dispatch!(self, runs::run_logs(run_id))
    }

    // Nodes, leases and schedule ticks (`warehouse/nodes.rs`).

    /// Registers this process as a node (`vivres serve`).
    pub async fn register_node(&self, version: &str) -> Result<(), WarehouseError> {
        dispatch!(self, nodes::register(version))
    }

    /// Renews this node's heartbeat and its runs' leases; returns the runs
    /// it holds.
    pub async fn node_beat(&self) -> Result<Vec<i64>, WarehouseError> {
        dispatch!(self, nodes::beat())
    }

    /// Marks this node stopped.
    pub async fn stop_node(&self) -> Result<(), WarehouseError> {
        dispatch!(self, nodes::stop())
    }

    /// Nodes not stopped whose heartbeat is at or after `since`.
    pub async fn live_nodes(&self, since: OffsetDateTime) -> Result<Vec<NodeRow>, WarehouseError> {
        dispatch!(self, nodes::live(since))
    }

    /// Takes a queued run for this node (see [`Claim`]).
    pub async fn claim_run(&self, run_id: i64) -> Result<Claim, WarehouseError> {
        dispatch!(self, nodes::claim(run_id))
    }

    /// Runs held by a node whose lease is older than `stale`: (run, node).
    pub async fn stale_runs(
        &self,
        stale: OffsetDateTime,
    ) -> Result<Vec<(i64, String)>, WarehouseError> {
        dispatch!(self, nodes::stale(stale))
    }

    /// Takes run `run_id` over from node `from` if its lease is still older
    /// than `stale`: one conditional UPDATE, true for exactly one taker.
    pub async fn take_over_run(
        &self,
        run_id: i64,
        from: &str,
        stale: OffsetDateTime,
    ) -> Result<bool, WarehouseError> {
        dispatch!(self, nodes::take_over(run_id, from, stale))
    }

    /// Claims a tick of a source's schedule: true for the one node that queues it.
    pub async fn claim_tick(&self, source: &str, tick: i64) -> Result<bool, WarehouseError> {
        dispatch!(self, nodes::claim_tick(source, tick))
    }

    /// Records the run queued for a claimed tick.
    pub async fn set_tick_run(
        &self,
        source: &str,
        tick: i64,
        run_id: i64,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, nodes::set_tick_run(source, tick, run_id))
    }

    /// The latest claimed tick of a source's schedule (seconds since 1970).
    pub async fn last_tick(&self, source: &str) -> Result<Option<i64>, WarehouseError> {
        dispatch!(self, nodes::last_tick(source))
    }

    // Batches and checkpoints.

    pub async fn checkpoint(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<Option<String>, WarehouseError> {
        dispatch!(self, batches::checkpoint(source, stream))
    }

    /// The saved checkpoint of each stream of a source.
    pub async fn checkpoints(&self, source: &str) -> Result<Vec<Checkpoint>, WarehouseError> {
        dispatch!(self, batches::checkpoints(source))
    }

    /// Forgets one stream's checkpoint: its next run reads it from the start.
    /// Returns whether there was one.
    pub async fn delete_checkpoint(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<bool, WarehouseError> {
        dispatch!(self, batches::delete_checkpoint(source, stream))
    }

    /// Commits one batch: rows, rejects, checkpoint, logs and counters, in one
    /// transaction. Returns what happened to the rows.
    pub async fn commit_batch(
        &self,
        prov: &Provenance,
        batch: BatchWrite,
    ) -> Result<Counts, WarehouseError> {
        dispatch!(self, batches::commit_batch(prov, batch))
    }

    /// Ends a stream's pass: rows of a re-sent file that its new version no
    /// longer holds are removed. Returns how many. Costs nothing when no file
    /// was re-sent.
    pub async fn finish_stream(&self, source: &str, stream: &str) -> Result<u64, WarehouseError> {
        dispatch!(self, batches::finish_stream(source, stream))
    }

    // Quarantine.

    /// A source's (or every source's) open entries; a run's entries, open
    /// and closed.
    pub async fn quarantine(
        &self,
        source: Option<&str>,
        run: Option<i64>,
        limit: i64,
    ) -> Result<Vec<QuarantineEntry>, WarehouseError> {
        let status = if run.is_some() {
            EntryStatus::All
        } else {
            EntryStatus::Open
        };
        let rows = dispatch!(self, quarantine::list(source, run, status, limit))?;
        Ok(rows.into_iter().map(|r| r.entry).collect())
    }

    /// Entries of a source (or every source) or a run, by status.
    pub async fn quarantine_by_status(
        &self,
        source: Option<&str>,
        run: Option<i64>,
        status: EntryStatus,
        limit: i64,
    ) -> Result<Vec<QuarantineRow>, WarehouseError> {
        dispatch!(self, quarantine::list(source, run, status, limit))
    }

    /// Closes (`replayed`) a source's open quarantine entries that the replay
    /// `run_id` did not refuse again.
    pub async fn mark_replayed(&self, source: &str, run_id: i64) -> Result<u64, WarehouseError> {
        dispatch!(self, quarantine::mark_replayed(source, run_id))
    }

    /// Closes the entries of a stream whose file its run read again without
    /// refusing their record (call when the stream's pass ends). Returns how many.
    pub async fn close_stale_entries(
        &self,
        source: &str,
        stream: &str,
        run_id: i64,
        reason: ClosedReason,
    ) -> Result<u64, WarehouseError> {
        dispatch!(
            self,
            quarantine::close_stale(source, stream, run_id, reason)
        )
    }

    // API tokens.

    /// Stores a token's hash; a live token of the same name is refused.
    pub async fn create_token(
        &self,
        name: &str,
        role: &str,
        territories: &str,
        token_sha256: &str,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, tokens::create(name, role, territories, token_sha256))
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>, WarehouseError> {
        dispatch!(self, tokens::list())
    }

    /// Revokes the live token of that name; returns whether there was one.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, WarehouseError> {
        dispatch!(self, tokens::revoke(name))
    }

    /// The live token with that hash: (name, role, territories).
    pub async fn live_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(String, String, String)>, WarehouseError> {
        dispatch!(self, tokens::live(token_sha256))
    }

    // Console sessions and one-time sign-in links (hashes only).

    /// Stores a console session for the token with that hash, until
    /// `expires_at` (unix seconds).
    pub async fn create_session(
        &self,
        id_sha256: &str,
        token_sha256: &str,
        expires_at: i64,
    ) -> Result<(), WarehouseError> {
        dispatch!(self, sessions::create(id_sha256, token_sha256, expires_at))
    }

    /// The live token of a live session: (name, role, territories).
    pub async fn session_token(
        &self,
        id_sha256: &str,
    ) -> Result<Option<(String, String, String)>, WarehouseError> {
        dispatch!(self, sessions::principal(id_sha256))
    }

    /// Ends a session; returns whether there was one.
    pub async fn end_session(&self, id_sha256: &str) -> Result<bool, WarehouseError> {
        dispatch!(self, sessions::end(id_sha256))
    }

    pub async fn create_sign_in_link(
        &self,
        code_sha256: &str,
        token_sha256: &str,
        expires_at: i64,
    ) -> Result<(), WarehouseError> {
        dispatch!(
            self,
            sessions::create_link(code_sha256, token_sha256, expires_at)
        )
    }

    /// Uses up a sign-in link: the token hash it stands for, once.
    pub async fn redeem_sign_in_link(
        &self,
        code_sha256: &str,
    ) -> Result<Option<String>, WarehouseError> {
        dispatch!(self, sessions::redeem_link(code_sha256))
    }

    // Metrics.

    /// Runs by source and status.
    pub async fn run_status_counts(&self) -> Result<Vec<(String, String, i64)>, WarehouseError> {
        dispatch!(self, metrics::run_status_counts())
    }

    /// Records and plugin read time per source, summed over runs.
    pub async fn source_totals(&self) -> Result<Vec<SourceTotals>, WarehouseError> {
        dispatch!(self, metrics::source_totals())
    }

    pub async fn run_durations(&self) -> Result<Vec<RunDuration>, WarehouseError> {
        dispatch!(self, metrics::run_durations())
    }

    /// Partner HTTP responses by source and status, summed over runs.
    pub async fn http_responses(&self) -> Result<Vec<(String, u16, i64)>, WarehouseError> {
        dispatch!(self, metrics::http_responses())
    }

    // Exports.

    /// Streams the rows an export selects into `tx`, a page at a time, in
    /// the columns of [`export_columns`]; returns how many. Memory stays
    /// that of a few pages whatever the table's size.
    pub async fn export(
        &self,
        q: &ExportQuery,
        tx: &tokio::sync::mpsc::Sender<Vec<Vec<Value>>>,
    ) -> Result<u64, WarehouseError> {
        dispatch!(self, exports::stream(q, tx))
    }

    // Indicators.

    /// Runs indicator queries, each `(sql, has a breakdown column)`, in one
    /// read-only session (one snapshot), each stopped after `limit`.
    pub async fn indicator_cells(
        &self,
        queries: &[(String, bool)],
        limit: std::time::Duration,
    ) -> Result<Vec<Vec<QueryCell>>, WarehouseError> {
        dispatch!(self, indicators::run(queries, limit))
    }

    // Job queue (the scheduler's apalis tables).

    /// The job queue on this database, for jobs of type `J` in queue `name`.
    pub async fn job_store<J>(&self, name: &str) -> Result<JobStore<J>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::job_store(p, name).await.map(JobStore::Sqlite),
            Db::Postgres(p) => postgres::job_store(p, name).await.map(JobStore::Postgres),
        }
    }

    /// Jobs of a queue by status.
    pub async fn job_counts(&self, queue: &str) -> Result<Vec<(String, i64)>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::job_counts(p, queue).await,
            Db::Postgres(p) => postgres::job_counts(p, queue).await,
        }
    }

    /// When the next pending job of a source is due (unix seconds).
    pub async fn job_next_due(
        &self,
        queue: &str,
        source: &str,
    ) -> Result<Option<i64>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::job_next_due(p, queue, source).await,
            Db::Postgres(p) => postgres::job_next_due(p, queue, source).await,
        }
    }

    /// Idempotency keys of a queue's jobs starting with `prefix`, with how
    /// many jobs carry each.
    pub async fn job_keys(
        &self,
        queue: &str,
        prefix: &str,
    ) -> Result<Vec<(String, i64)>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::job_keys(p, queue, prefix).await,
            Db::Postgres(p) => postgres::job_keys(p, queue, prefix).await,
        }
    }

    /// The physical ceiling of the bench: `kind`'s rows appended again,
    /// through the backend's bulk path, into an unindexed table: (rows, seconds).
    pub async fn bench_ceiling(&self, kind: EntityKind) -> Result<(u64, f64), WarehouseError> {
        dispatch!(self, bench::ceiling(kind))
    }

    /// `(key, row_hash)` of every row of a fact table, in key order (the
    /// crash campaign's comparison).
    pub async fn fingerprint(
        &self,
        table: &'static schema::Table,
    ) -> Result<Vec<(Vec<u8>, i64)>, WarehouseError> {
        dispatch!(self, bench::fingerprint(table))
    }

    /// A source's open quarantine entries as sorted
    /// `(stream, key, reason, field, payload_hash)` tuples.
    pub async fn quarantine_fingerprint(
        &self,
        source: &str,
    ) -> Result<Vec<(String, Option<Vec<u8>>, String, String, String)>, WarehouseError> {
        dispatch!(self, bench::quarantine_fingerprint(source))
    }

    /// Pretends a run's process is `pid` (tests of the dead-owner rule).
    #[cfg(test)]
    async fn set_owner_for_tests(&self, run_id: i64, pid: i64) {
        let done = match &self.db {
            Db::Sqlite(p) => sqlx::query("UPDATE runs SET owner_pid = $1 WHERE id = $2")
                .bind(pid)
                .bind(run_id)
                .execute(p)
                .await
                .map(|_| ()),
            Db::Postgres(p) => sqlx::query("UPDATE runs SET owner_pid = $1 WHERE id = $2")
                .bind(pid)
                .bind(run_id)
                .execute(p)
                .await
                .map(|_| ()),
        };
        if let Err(e) = done {
            panic!("{e}");
        }
    }

    /// Pretends run `run_id` is held by node `node` (registered, alive
    /// `age` ago), its lease renewed then (tests of takeovers).
    #[cfg(test)]
    async fn lease_for_tests(&self, run_id: i64, node: &str, age: time::Duration) {
        let at = now() - age;
        macro_rules! on {
            ($p:expr) => {{
                sqlx::query(
                    "INSERT INTO nodes (id, host, pid, version, started_at, heartbeat_at) \
                     VALUES ($1, 'elsewhere', 1, '0', $2, $2)",
                )
                .bind(node)
                .bind(at)
                .execute($p)
                .await
                .and(
                    sqlx::query("UPDATE runs SET node_id = $1, heartbeat_at = $2 WHERE id = $3")
                        .bind(node)
                        .bind(at)
                        .bind(run_id)
                        .execute($p)
                        .await,
                )
            }};
        }
        let done = match &self.db {
            Db::Sqlite(p) => on!(p).map(|_| ()),
            Db::Postgres(p) => on!(p).map(|_| ()),
        };
        if let Err(e) = done {
            panic!("{e}");
        }
    }

    // Inspection.

    /// Runs a read-only query and renders every cell as text (NULL as
    /// `None`, bytes as hex, booleans as `true`/`false`): for tests, the
    /// bench and operators' checks, never for the hub's own logic.
    pub async fn inspect(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::inspect(p, sql, None).await,
            Db::Postgres(p) => postgres::inspect(p, sql, None).await,
        }
    }

    /// [`Warehouse::inspect`] with `$1` bound to a 16-byte key.
    pub async fn inspect_key(
        &self,
        sql: &str,
        key: [u8; 16],
    ) -> Result<Vec<Vec<Option<String>>>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::inspect(p, sql, Some(key)).await,
            Db::Postgres(p) => postgres::inspect(p, sql, Some(key)).await,
        }
    }

    /// The columns of a table as the database's catalogue reports them:
    /// (name, declared type, nullable), in order.
    pub async fn catalogue(
        &self,
        table: &str,
    ) -> Result<Vec<(String, String, bool)>, WarehouseError> {
        match &self.db {
            Db::Sqlite(p) => sqlite::catalogue(p, table).await,
            Db::Postgres(p) => postgres::catalogue(p, table).await,
        }
    }
}

/// The scheduler's queue storage on the warehouse's database.
pub enum JobStore<J> {
    Sqlite(apalis_sqlite::SqliteStorage<J>),
    Postgres(apalis_postgres::PostgresStorage<J>),
}

/// This process's id as a node: the host, the process and a random part
/// (a restarted process on the same host and pid is another node).
pub fn node_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{}-{}-{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether the process that owns a `running` run may still be working on it.
fn owner_is_alive(pid: Option<i64>, host: Option<&str>, heartbeat: OffsetDateTime) -> bool {
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
    OffsetDateTime::now_utc() - heartbeat < time::Duration::minutes(10)
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

#[cfg(test)]
mod tests;
