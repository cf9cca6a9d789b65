//! Runs a source: pulls batches from its connector, normalises them and
//! commits each batch with its rejects and checkpoint in one transaction.
//!
//! The next `read` is pulled while the previous batch commits (the read only
//! needs the previous batch's state), so the plugin and the database work side
//! by side. A crash at any point loses nothing: the next run starts from the
//! last committed checkpoint, and upserts make re-read records unchanged.

pub mod normalise;

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::app::Hub;
use crate::model::{Batch, ConnectorError};
use crate::plugin_host::{Grants, HostError, LogLine};
use crate::warehouse::{
    BatchWrite, ClosedReason, Counts, HttpFigures, LogRecord, Provenance, RunReport, RunStatus,
    StreamFigures, WarehouseError,
};

#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Ignore saved checkpoints and read everything again (upserts keep it exact).
    pub full_refresh: bool,
    /// Only these streams (default: the source's configured streams, or all).
    pub streams: Option<Vec<String>>,
    /// A run already started with `Warehouse::start_run` (the admin API answers
    /// with its id before the scheduler picks the job up); `None` starts one.
    pub run_id: Option<i64>,
    /// Cancelled on shutdown: the batch being committed finishes, the next is
    /// not read, and the run ends `interrupted` (the next run resumes).
    pub cancel: Option<tokio_util::sync::CancellationToken>,
    /// Cancelled by the scheduler when another source waits for the slot
    /// this run holds past its fair share: the run stops between two
    /// batches (or in a plugin call), ends `interrupted` (`yielded`) and is
    /// queued again behind the sources that waited.
    pub yield_slot: Option<tokio_util::sync::CancellationToken>,
    /// What started the run, recorded with it when this starts it (a run
    /// the API started was recorded there).
    pub trigger: RunTrigger,
    /// The API token that asked for it, by name (never the token).
    pub token_name: Option<String>,
}

/// What started a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// By hand: `vivres sync`, `POST /sources/{id}/sync`, the console.
    #[default]
    Manual,
    /// The source's cron schedule.
    Schedule,
    /// A quarantine replay.
    Replay,
    /// Carrying on after the hub stopped.
    Resume,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Manual => "manual",
            RunTrigger::Schedule => "schedule",
            RunTrigger::Replay => "replay",
            RunTrigger::Resume => "resume",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no source `{id}` in the configuration (known: {known})")]
    UnknownSource { id: String, known: String },
    #[error("source `{source_id}`: unknown territory `{territory}`")]
    UnknownTerritory {
        source_id: String,
        territory: String,
    },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl SyncError {
    /// No source `id`: the error names the sources the configuration has.
    pub fn unknown_source(config: &crate::config::Config, id: &str) -> SyncError {
        let known: Vec<&str> = config.sources.iter().map(|s| s.id.as_str()).collect();
        SyncError::UnknownSource {
            id: id.to_string(),
            known: if known.is_empty() {
                "none: add a [[sources]] section to the configuration".into()
            } else {
                known.join(", ")
            },
        }
    }
}

/// Why a run failed, as the run report and the scheduler see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    BadConfig,
    AuthFailed,
    /// Retryable: try again later.
    PartnerUnavailable,
    BadData,
    Plugin,
    Warehouse,
    /// The hub was shutting down: the run stopped between two batches.
    Interrupted,
    /// Cancelled on request (`POST /runs/{id}/cancel`, `vivres run cancel`).
    Cancelled,
    /// Past `limits.run_deadline_seconds`.
    DeadlineExceeded,
    /// More batches than `limits.max_run_batches`.
    TooManyBatches,
    /// More records than `limits.max_run_records`.
    TooManyRecords,
    /// More rejects than `limits.max_run_quarantine`.
    TooManyRejects,
    /// `more = true` with no record and the same state, again and again.
    Stalled,
    /// Interrupted `limits.max_interrupted_runs` times in a row without
    /// committing a batch: not resumed again.
    InterruptedRepeatedly,
    /// Gave its scheduler slot to a source that was waiting (the run is
    /// `interrupted` and queued again).
    Yielded,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::BadConfig => "bad_config",
            FailureKind::AuthFailed => "auth_failed",
            FailureKind::PartnerUnavailable => "partner_unavailable",
            FailureKind::BadData => "bad_data",
            FailureKind::Plugin => "plugin",
            FailureKind::Warehouse => "warehouse",
            FailureKind::Interrupted => "interrupted",
            FailureKind::Cancelled => "cancelled",
            FailureKind::DeadlineExceeded => "deadline_exceeded",
            FailureKind::TooManyBatches => "too_many_batches",
            FailureKind::TooManyRecords => "too_many_records",
            FailureKind::TooManyRejects => "too_many_rejects",
            FailureKind::Stalled => "stalled",
            FailureKind::InterruptedRepeatedly => "interrupted_repeatedly",
            FailureKind::Yielded => "yielded",
        }
    }
}

struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    fn interrupted() -> Failure {
        Failure {
            kind: FailureKind::Interrupted,
            message: "interrupted: the hub is shutting down; the next run resumes from the last committed batch".into(),
        }
    }

    fn new(kind: FailureKind, message: String) -> Failure {
        Failure { kind, message }
    }
}

/// Why the hub stopped a run from outside the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Shutdown,
    Yielded,
    Cancelled,
    Deadline(std::time::Duration),
}

/// Watches a run from beside it: the hub shutting down, its deadline, a
/// cancel asked for in the warehouse (by this process's API, another
/// node's, or `vivres run cancel`). Any of them cancels `token`, which stops
/// the plugin call in flight and the next read.
struct Watch {
    token: CancellationToken,
    why: Arc<std::sync::OnceLock<Stop>>,
    task: tokio::task::JoinHandle<()>,
}

/// How often a run looks for a cancel request.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl Watch {
    fn start(
        hub: &Hub,
        run_id: i64,
        options: &SyncOptions,
        deadline: std::time::Duration,
    ) -> Watch {
        let token = CancellationToken::new();
        let why = Arc::new(std::sync::OnceLock::new());
        let shutdown = options.cancel.clone().unwrap_or_default();
        let yield_slot = options.yield_slot.clone().unwrap_or_default();
        let warehouse = hub.warehouse.clone();
        let (t, w) = (token.clone(), why.clone());
        let task = tokio::spawn(async move {
            let ends = tokio::time::sleep(deadline);
            tokio::pin!(ends);
            let mut poll = tokio::time::interval(CANCEL_POLL);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let stop = loop {
                tokio::select! {
                    () = shutdown.cancelled() => break Stop::Shutdown,
                    () = yield_slot.cancelled() => break Stop::Yielded,
                    () = &mut ends => break Stop::Deadline(deadline),
                    _ = poll.tick() => {
                        // A warehouse error is no cancel: the run's own commits say it.
                        if warehouse.cancel_requested(run_id).await.unwrap_or(false) {
                            break Stop::Cancelled;
                        }
                    }
                }
            };
            let _ = w.set(stop);
            t.cancel();
        });
        Watch { token, why, task }
    }

    fn stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why the run stopped, as its failure (`None`: it was not stopped).
    fn failure(&self) -> Option<Failure> {
        Some(match self.why.get()? {
            Stop::Shutdown => Failure::interrupted(),
            Stop::Yielded => Failure::new(
                FailureKind::Yielded,
                "gave its worker slot to a source that was waiting (limits.run_fair_share_seconds): what was \
                 read is committed; queued again, it resumes from there"
                    .into(),
            ),
            Stop::Cancelled => Failure::new(
                FailureKind::Cancelled,
                "cancelled on request: what was read before is committed; the next run resumes from there".into(),
            ),
            Stop::Deadline(d) => Failure::new(
                FailureKind::DeadlineExceeded,
                format!(
                    "the run went past its deadline of {} s (limits.run_deadline_seconds): stopped; what was read \
                     is committed and the next run resumes from there",
                    d.as_secs()
                ),
            ),
        })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a run has taken so far, all streams together, against its limits.
struct Tally {
    limits: crate::config::RunLimits,
    batches: u64,
    records: u64,
    rejects: u64,
}

impl Tally {
    /// Refuses the next read once the run read all the batches it may.
    fn before_read(&self) -> Result<(), Failure> {
        let max = u64::from(self.limits.max_run_batches);
        if self.batches >= max {
            return Err(Failure::new(
                FailureKind::TooManyBatches,
                format!(
                    "the run read {max} batches, the most one run may (limits.max_run_batches): stopped; what was \
                     read is committed and the next run goes on from there (a source that needs more can raise \
                     max_run_batches in its [sources.limits])"
                ),
            ));
        }
        Ok(())
    }

    /// Counts a batch read, refusing it (uncommitted) when it takes the run
    /// over its records or rejects.
    fn take(&mut self, write: &BatchWrite) -> Result<(), Failure> {
        self.batches += 1;
        let records = self.records + write.read;
        let max = u64::from(self.limits.max_run_records);
        if records > max {
            return Err(Failure::new(
                FailureKind::TooManyRecords,
                format!(
                    "the run read more than {max} records, the most one run may (limits.max_run_records): \
                     stopped before committing the batch that went over; the next run goes on from there"
                ),
            ));
        }
        let rejects = self.rejects + write.rejects.len() as u64;
        let max = u64::from(self.limits.max_run_quarantine);
        if rejects > max {
            return Err(Failure::new(
                FailureKind::TooManyRejects,
                format!(
                    "the run refused more than {max} records, the most one run may quarantine \
                     (limits.max_run_quarantine): stopped before committing the batch that went over; look at \
                     the quarantine (GET /api/v1/quarantine) for what the source sends wrong"
                ),
            ));
        }
        self.records = records;
        self.rejects = rejects;
        Ok(())
    }
}

/// Longest reject field, origin and detail kept; longer ones are cut.
const REJECT_FIELD_BYTES: usize = 128;
const REJECT_ORIGIN_BYTES: usize = 256;
const REJECT_DETAIL_BYTES: usize = 1024;

/// `text` redacted, then cut to `max` bytes (redacting first: no cut leaves
/// half a secret).
fn redact_cut(redactor: &crate::privacy::Redactor, text: &str, max: usize) -> String {
    let mut out = redactor.redact(text);
    if out.len() > max {
        let mut end = max;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(" …[cut]");
    }
    out
}

impl From<ConnectorError> for Failure {
    fn from(e: ConnectorError) -> Self {
        let kind = match &e {
            ConnectorError::BadConfig(_) => FailureKind::BadConfig,
            ConnectorError::AuthFailed(_) => FailureKind::AuthFailed,
            ConnectorError::PartnerUnavailable { .. } => FailureKind::PartnerUnavailable,
            ConnectorError::BadData(_) => FailureKind::BadData,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        Failure {
            kind: if matches!(e, HostError::Interrupted) {
                FailureKind::Interrupted
            } else {
                FailureKind::Plugin
            },
            message: e.to_string(),
        }
    }
}

impl From<WarehouseError> for Failure {
    fn from(e: WarehouseError) -> Self {
        Failure {
            kind: FailureKind::Warehouse,
            message: e.to_string(),
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Failure {
            kind: FailureKind::BadConfig,
            message: e.to_string(),
        }
    }
}

/// The log lines of a run, shared with the plugin's log sink and flushed
/// into the warehouse with each batch.
#[derive(Clone, Default)]
struct RunLog {
    lines: Arc<Mutex<Vec<LogRecord>>>,
}

impl RunLog {
    fn push(&self, level: &str, message: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(LogRecord {
                at: crate::warehouse::now_rfc3339(),
                level: level.to_string(),
                message,
            });
        }
    }
    fn drain(&self) -> Vec<LogRecord> {
        self.lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
    fn sink(&self, redactor: crate::privacy::Redactor) -> crate::plugin_host::LogSink {
        let log = self.clone();
        Arc::new(move |line: LogLine| {
            log.push(line.level.as_str(), redactor.redact(&line.message));
        })
    }
}

/// Syncs one source and returns its run report. A failing partner or plugin
/// gives a report with status `failed`; only an unknown source, a run already
/// in progress or an unusable warehouse are errors.
pub async fn sync_source(
    hub: &Hub,
    source_id: &str,
    options: &SyncOptions,
) -> Result<RunReport, SyncError> {
    let source = hub
        .config
        .source(source_id)
        .ok_or_else(|| SyncError::unknown_source(&hub.config, source_id))?;
    let territory =
        hub.config
            .territory(&source.territory)
            .ok_or_else(|| SyncError::UnknownTerritory {
                source_id: source.id.clone(),
                territory: source.territory.clone(),
            })?;
    let run_id = match options.run_id {
        Some(id) => id,
        None => {
            let id = hub
                .warehouse
                .start_run(&source.id, options.full_refresh)
                .await?;
            hub.warehouse
                .set_run_trigger(id, options.trigger.as_str(), options.token_name.as_deref())
                .await?;
            id
        }
    };
    let log = RunLog::default();
    // Instrumented rather than entered: the sync future must stay `Send` for
    // the scheduler and the API to run it on their tasks.
    let span = tracing::info_span!("run", run = run_id, source = %source.id);
    span.in_scope(|| tracing::info!(run = run_id, source = %source.id, "sync started"));

    let limits = hub.config.run_limits(source);
    let deadline = std::time::Duration::from_secs(u64::from(limits.run_deadline_seconds));
    let watch = Watch::start(hub, run_id, options, deadline);
    let outcome = run(
        hub, source, territory, run_id, options, limits, &watch, &log,
    )
    .instrument(span.clone())
    .await;
    // A plugin call the watch stopped says only "interrupted": say why.
    let outcome = match outcome {
        Err(f) if f.kind == FailureKind::Interrupted => Err(watch.failure().unwrap_or(f)),
        other => other,
    };
    let outcome = match outcome {
        Err(f) if matches!(f.kind, FailureKind::Interrupted | FailureKind::Yielded) => {
            // Best effort: a warehouse error here leaves the run interrupted.
            let again = interrupted_again(hub, &source.id, run_id).await;
            Err(again.ok().flatten().unwrap_or(f))
        }
        other => other,
    };
    let (status, error) = match &outcome {
        Ok(()) => (RunStatus::Succeeded, None),
        Err(f) if matches!(f.kind, FailureKind::Interrupted | FailureKind::Yielded) => {
            log.push("warn", f.message.clone());
            (
                RunStatus::Interrupted,
                Some((f.kind.as_str(), f.message.as_str())),
            )
        }
        Err(f) if f.kind == FailureKind::Cancelled => {
            log.push("warn", f.message.clone());
            (
                RunStatus::Cancelled,
                Some((f.kind.as_str(), f.message.as_str())),
            )
        }
        Err(f) => {
            log.push("error", f.message.clone());
            if f.kind != FailureKind::PartnerUnavailable
                && let Err(e) = pause_if_failing(hub, &source.id, run_id, f, &log).await
            {
                // The run must still be closed: the pause waits for the next failure.
                tracing::error!(source = %source.id, error = %e, "could not pause the source");
            }
            (
                RunStatus::Failed,
                Some((f.kind.as_str(), f.message.as_str())),
            )
        }
    };
    hub.warehouse
        .finish_run(run_id, status, error, &log.drain())
        .await?;
    let report = hub.warehouse.run(run_id).await?;
    span.in_scope(|| {
        tracing::info!(
            run = run_id,
            source = %source.id,
            status = status.as_str(),
            read = report.counts.read,
            inserted = report.counts.inserted,
            updated = report.counts.updated,
            quarantined = report.counts.quarantined,
            "sync finished"
        )
    });
    Ok(report)
}

/// The failure of a run interrupted (a shutdown, a slot given up) without
/// committing a batch when the runs before it were too
/// (`limits.max_interrupted_runs` in all): a source that never gets anywhere
/// before it is stopped must not resume for ever.
async fn interrupted_again(
    hub: &Hub,
    source: &str,
    run_id: i64,
) -> Result<Option<Failure>, SyncError> {
    let k = hub.config.limits.max_interrupted_runs.max(1);
    // The newest first: this run (still running), then those before it.
    let runs = hub.warehouse.runs(Some(source), i64::from(k)).await?;
    let idle = |r: &RunReport| r.batches == 0;
    let this_one = runs.first().is_some_and(|r| r.id == run_id && idle(r));
    let before = runs
        .iter()
        .skip(1)
        .filter(|r| r.status == RunStatus::Interrupted && idle(r))
        .count();
    if !this_one || before + 1 < k as usize {
        return Ok(None);
    }
    Ok(Some(Failure::new(
        FailureKind::InterruptedRepeatedly,
        format!(
            "interrupted {k} times in a row without committing a batch (limits.max_interrupted_runs): not resumed \
             again; find why the connector gets nowhere before the hub stops, then sync the source by hand"
        ),
    )))
}

/// What watches over a run as it reads: why it was stopped, what it took,
/// and the source's secrets to redact from what the plugin hands back.
struct Guard<'w> {
    watch: &'w Watch,
    tally: Tally,
    redactor: crate::privacy::Redactor,
}

impl Guard<'_> {
    /// The failure of a stopped run (shutdown, cancel, deadline).
    fn stopped(&self) -> Option<Failure> {
        if self.watch.stopped() {
            Some(self.watch.failure().unwrap_or_else(Failure::interrupted))
        } else {
            None
        }
    }
}

/// The inbox files no stream of the connector took: neither read by this run
/// nor recorded done by a stream's standard file checkpoint (`done`: file
/// ids). Empty for a connector that keeps another checkpoint.
async fn files_ignored(
    hub: &Hub,
    source: &str,
    dir: &std::path::Path,
    read: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct FileCheckpoint {
        done: Vec<String>,
    }
    let Ok(listed) = crate::inbox::list(dir) else {
        return Vec::new();
    };
    let mut done = std::collections::HashSet::new();
    let mut standard = false;
    for c in hub.warehouse.checkpoints(source).await.unwrap_or_default() {
        if let Some(cp) = c
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str::<FileCheckpoint>(s).ok())
        {
            standard = true;
            done.extend(cp.done);
        }
    }
    if !standard {
        return Vec::new();
    }
    let mut ignored: Vec<String> = listed
        .into_iter()
        .filter(|f| !done.contains(&f.id) && !read.contains(&f.name))
        .map(|f| f.name)
        .collect();
    ignored.sort();
    ignored.dedup();
    ignored
}

/// Whether a source's inbox holds no file yet (or does not exist yet).
fn inbox_is_empty(dir: &std::path::Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(entries) => !entries
            .flatten()
            .any(|e| !e.file_name().to_string_lossy().starts_with('.')),
        Err(_) => true,
    }
}

/// Pauses the source when this failed run makes `limits.pause_after_failures`
/// in a row: its scheduled runs are skipped until a coordinator resumes it.
async fn pause_if_failing(
    hub: &Hub,
    source: &str,
    run_id: i64,
    failure: &Failure,
    log: &RunLog,
) -> Result<(), SyncError> {
    let n = hub.config.limits.pause_after_failures;
    if n == 0 || hub.warehouse.source_pause(source).await?.is_some() {
        return Ok(());
    }
    // This run is still `running`: it is the one more.
    let failures = hub.warehouse.failures_in_a_row(source).await? + 1;
    if failures < u64::from(n) {
        return Ok(());
    }
    let reason = format!(
        "{failures} failed runs in a row (limits.pause_after_failures), the last: {}",
        failure.message
    );
    hub.warehouse
        .pause_source(source, run_id, failures, &reason)
        .await?;
    tracing::warn!(source, run = run_id, failures, "source paused");
    log.push(
        "warn",
        format!(
            "source paused after {failures} failed runs in a row: its scheduled runs are skipped until a \
             coordinator resumes it (POST /api/v1/sources/{source}/resume, or `vivres source resume {source}`)"
        ),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    hub: &Hub,
    source: &crate::config::Source,
    territory: &crate::config::Territory,
    run_id: i64,
    options: &SyncOptions,
    limits: crate::config::RunLimits,
    watch: &Watch,
    log: &RunLog,
) -> Result<(), Failure> {
    let secrets = source.resolve_secrets_with(&hub.vars)?;
    let redactor = crate::privacy::Redactor::new(secrets.values());
    let mut guard = Guard {
        watch,
        tally: Tally {
            limits,
            batches: 0,
            records: 0,
            rejects: 0,
        },
        redactor: redactor.clone(),
    };
    let inbox = source.inbox_dir(&hub.config.hub.data_dir);
    if let Some(dir) = &inbox
        && inbox_is_empty(dir)
    {
        // Nothing sent yet (a schedule may fire before the first file): a
        // run that reads nothing, not a failure naming the hub's paths.
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(
                FailureKind::BadConfig,
                format!(
                    "cannot create the inbox of source `{}` in the hub's data_dir ({}): check that \
                     the hub may write there",
                    source.id,
                    e.kind()
                ),
            )
        })?;
        log.push(
            "info",
            format!(
                "no file received yet (aucun fichier reçu pour l'instant): the inbox of source `{id}` is \
                 empty; add the partner's export files with `vivres inbox add {id} FILE`, \
                 POST /api/v1/sources/{id}/files or the console",
                id = source.id
            ),
        );
    }
    let plugin_path = source.plugin_path(&hub.config.hub.plugins_dir);
    let plugin = hub.host.load(&plugin_path).await?;
    let grants = Grants {
        source: source.id.clone(),
        network: source.network.as_str().to_string(),
        allowed_hosts: source.allowed_hosts.clone(),
        inbox: inbox.clone(),
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect(),
        request_budget: Some(hub.config.limits.http_request_budget),
        log: log.sink(redactor),
    };
    let mut instance = hub.host.instantiate(&plugin, grants).await?;
    instance.set_cancel(Some(watch.token.clone()));
    let spec = instance.spec().await?;
    hub.warehouse
        .set_run_connector(run_id, &spec.name, &spec.version)
        .await?;
    let non_personal = non_personal_key_streams(&spec.config_schema);
    let config_json = source.config_json();
    let streams: Vec<String> = match options.streams.as_ref().or(source.streams.as_ref()) {
        Some(s) => s.clone(),
        None => instance
            .discover(&config_json)
            .await??
            .into_iter()
            .map(|s| s.name)
            .collect(),
    };
    let site_territories = hub.config.site_territories(source);
    let normaliser = normalise::Context {
        source: &source.id,
        network: source.network.as_str(),
        territory_epcis: &territory.epci,
        site_territories: &site_territories,
        pseudonymiser: &hub.pseudonymiser,
        gazetteer: hub.gazetteer,
    };
    // The streams, then the run's HTTP figures whatever way the streams ended
    // (a failing partner's statuses are what `/metrics` must show).
    let mut files = std::collections::BTreeSet::new();
    let outcome = sync_streams(
        hub,
        &mut instance,
        &normaliser,
        source,
        territory,
        run_id,
        &config_json,
        streams,
        &non_personal,
        &mut files,
        options,
        &mut guard,
        log,
    )
    .await;
    if let Some(dir) = &inbox
        && outcome.is_ok()
    {
        let read: Vec<String> = files.iter().cloned().collect();
        let ignored = files_ignored(hub, &source.id, dir, &files).await;
        if !read.is_empty() {
            log.push("info", format!("files read: {}", read.join(", ")));
        }
        if !ignored.is_empty() {
            log.push(
                "warn",
                format!(
                    "files ignored (no stream of the connector reads them: check their names against the \
                     connector's documentation): {}",
                    ignored.join(", ")
                ),
            );
        }
        hub.warehouse.set_run_files(run_id, &read, &ignored).await?;
    }
    let stats = instance.http_stats();
    hub.warehouse
        .record_http(
            run_id,
            &HttpFigures {
                requests: u64::from(stats.requests),
                retries: u64::from(stats.retries),
                denied: u64::from(stats.denied),
                failures: u64::from(stats.failures),
                waited_ms: stats.waited.as_millis().min(u128::from(u64::MAX)) as u64,
                by_status: stats
                    .by_status
                    .iter()
                    .map(|(s, n)| (*s, u64::from(*n)))
                    .collect(),
            },
        )
        .await?;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn sync_streams(
    hub: &Hub,
    instance: &mut crate::plugin_host::Instance,
    normaliser: &normalise::Context<'_>,
    source: &crate::config::Source,
    territory: &crate::config::Territory,
    run_id: i64,
    config_json: &str,
    streams: Vec<String>,
    non_personal: &[String],
    files: &mut std::collections::BTreeSet<String>,
    options: &SyncOptions,
    guard: &mut Guard<'_>,
    log: &RunLog,
) -> Result<(), Failure> {
    for stream in streams {
        if let Some(f) = guard.stopped() {
            return Err(f);
        }
        let prov = Provenance {
            source: source.id.clone(),
            stream: stream.clone(),
            territory: territory.id.clone(),
            network: source.network.as_str().to_string(),
            run_id,
        };
        let state = if options.full_refresh {
            log.push("info", format!("stream {stream}: full refresh"));
            None
        } else {
            hub.warehouse.checkpoint(&source.id, &stream).await?
        };
        if state.is_some() && !options.full_refresh {
            log.push(
                "info",
                format!("stream {stream}: resuming from the saved checkpoint"),
            );
        }
        let keys_public = non_personal.iter().any(|s| *s == stream);
        let (counts, batches, timings) = sync_stream(
            hub,
            instance,
            normaliser,
            &prov,
            config_json,
            state,
            keys_public,
            files,
            guard,
            log,
        )
        .await?;
        let removed = hub.warehouse.finish_stream(&source.id, &stream).await?;
        if removed > 0 {
            log.push(
                "info",
                format!("stream {stream}: {removed} records removed: their file was re-sent without them"),
            );
        }
        // A file read again closes the entries of the lines it no longer refuses.
        let why = if options.full_refresh {
            ClosedReason::Replayed
        } else {
            ClosedReason::Resent
        };
        let closed = hub
            .warehouse
            .close_stale_entries(&source.id, &stream, run_id, why)
            .await?;
        if closed > 0 {
            log.push(
                "info",
                format!(
                    "stream {stream}: {closed} quarantine entries closed ({}): their file, read again, no longer refuses their line",
                    why.as_str()
                ),
            );
        }
        log.push(
            "info",
            format!(
                "stream {stream}: read {}, inserted {}, updated {}, unchanged {}, quarantined {}",
                counts.read, counts.inserted, counts.updated, counts.unchanged, counts.quarantined
            ),
        );
        let ms = |d: std::time::Duration| d.as_millis().min(u128::from(u64::MAX)) as u64;
        hub.warehouse
            .record_stream(
                run_id,
                &StreamFigures {
                    stream: stream.clone(),
                    batches,
                    counts,
                    removed,
                    read_ms: ms(timings.read),
                    normalise_ms: ms(timings.normalise),
                    commit_ms: ms(timings.commit),
                },
            )
            .await?;
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Timings {
    read: std::time::Duration,
    normalise: std::time::Duration,
    commit: std::time::Duration,
}

/// Pulls a stream's batches and commits them. Reading (and normalising) and
/// committing run side by side: the reader hands prepared batches to a
/// committer task through a short queue; the committer merges what is queued
/// into one transaction (never across the start of a re-sent file, whose
/// rows must be set aside before its new rows land).
#[allow(clippy::too_many_arguments)]
async fn sync_stream(
    hub: &Hub,
    instance: &mut crate::plugin_host::Instance,
    normaliser: &normalise::Context<'_>,
    prov: &Provenance,
    config_json: &str,
    mut state: Option<String>,
    keys_public: bool,
    files: &mut std::collections::BTreeSet<String>,
    guard: &mut Guard<'_>,
    log: &RunLog,
) -> Result<(Counts, u64, Timings), Failure> {
    // Batches are merged up to `commit_records` per transaction: fewer, larger
    // transactions, each still with the checkpoint of its last batch. The
    // queue has room for about one transaction of typical (500-record) batches.
    let commit_records = hub.config.limits.commit_records.max(1) as usize;
    let (queue, mut queued) =
        tokio::sync::mpsc::channel::<BatchWrite>((commit_records / 500).clamp(16, 256));
    let warehouse = hub.warehouse.clone();
    let committer_prov = prov.clone();
    let committer = tokio::spawn(async move {
        let mut counts = Counts::default();
        let mut batches = 0u64;
        let mut busy = std::time::Duration::ZERO;
        let mut carry: Option<BatchWrite> = None;
        loop {
            let mut write = match carry.take() {
                Some(w) => w,
                None => match queued.recv().await {
                    Some(w) => w,
                    None => break,
                },
            };
            while write.rows.len() + write.rejects.len() < commit_records {
                match queued.try_recv() {
                    Ok(next) if next.replace_origins.is_empty() => write.absorb(next),
                    Ok(next) => {
                        carry = Some(next);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let started = std::time::Instant::now();
            batches += write.batches;
            counts += warehouse.commit_batch(&committer_prov, write).await?;
            busy += started.elapsed();
        }
        Ok::<_, WarehouseError>((counts, batches, busy))
    });

    let mut timings = Timings::default();
    let mut failure: Option<Failure> = None;
    // Batches in a row with more to come, the same state, and no record or
    // the previous batch's records again.
    let mut idle = 0u32;
    let mut last_page: Option<u64> = None;
    loop {
        // What was read is committed; the next run goes on from there.
        if let Some(f) = guard.stopped() {
            failure = Some(f);
            break;
        }
        if let Err(f) = guard.tally.before_read() {
            failure = Some(f);
            break;
        }
        let started = std::time::Instant::now();
        let batch = match instance
            .read(config_json, &prov.stream, state.as_deref())
            .await
        {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => {
                failure = Some(e.into());
                break;
            }
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        };
        timings.read += started.elapsed();
        let more = batch.more;
        // Stored redacted, so handed back redacted: the same within a run as
        // after a restart.
        let next_state = batch.state.as_deref().map(|s| guard.redactor.redact(s));
        // A batch advances when its state moves on, or when it brings
        // records other than the previous batch's: the same page again under
        // the same state (a partner repeating its cursor) is going round in
        // circles, not advancing.
        let page = page_fingerprint(&batch);
        let state_moved = next_state
            .as_ref()
            .is_some_and(|s| state.as_ref() != Some(s));
        let repeated = page.is_some() && page == last_page;
        let advanced = state_moved || (page.is_some() && !repeated);
        last_page = page;
        idle = if more && !advanced { idle + 1 } else { 0 };
        if next_state.is_some() {
            state = next_state;
        }
        let started = std::time::Instant::now();
        let write = prepare(normaliser, batch, keys_public, &guard.redactor, log);
        let origins = write
            .rows
            .iter()
            .filter_map(|r| r.origin.as_ref())
            .chain(write.rejects.iter().filter_map(|r| r.origin.as_ref()))
            .chain(write.replace_origins.iter());
        for origin in origins {
            if !files.contains(origin) {
                files.insert(origin.clone());
            }
        }
        timings.normalise += started.elapsed();
        if let Err(f) = guard.tally.take(&write) {
            failure = Some(f);
            break;
        }
        let max_idle = guard.tally.limits.max_idle_batches;
        if idle >= max_idle {
            failure = Some(Failure::new(
                FailureKind::Stalled,
                format!(
                    "the connector returned {idle} batches in a row with more to come, the same state and no \
                     new record (none, or the previous batch's again) (limits.max_idle_batches): it is not \
                     advancing (a connector bug, or a partner returning the same page); stopped"
                ),
            ));
            break;
        }
        if queue.send(write).await.is_err() || !more {
            // A closed queue means the committer failed: its error says why.
            break;
        }
    }
    drop(queue);
    let committed = committer.await.map_err(|e| Failure {
        kind: FailureKind::Warehouse,
        message: format!("the commit task stopped: {e}"),
    })?;
    let (counts, batches, commit) = committed?;
    timings.commit = commit;
    match failure {
        Some(f) => Err(f),
        None => Ok((counts, batches, timings)),
    }
}

/// The streams whose records' keys the connector declares non-personal (a
/// subscription id, not a dossier number), so that a quarantine entry may
/// name the partner's record: the `x-vivres-non-personal-keys` list of
/// stream names in its configuration's JSON Schema. Contract 0.1 and 0.2
/// have no field for it; a connector that says nothing gets pseudonyms only.
pub fn non_personal_key_streams(config_schema: &serde_json::Value) -> Vec<String> {
    config_schema
        .get("x-vivres-non-personal-keys")
        .and_then(|v| v.as_array())
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Longest partner record id kept in a quarantine entry.
const PARTNER_KEY_BYTES: usize = 128;

/// A fingerprint of a batch's records (their keys, in order), `None` for a
/// batch without any: two equal fingerprints in a row are the same page.
fn page_fingerprint(batch: &Batch) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    if batch.items.is_empty() && batch.rejects.is_empty() {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for item in &batch.items {
        item.key.hash(&mut h);
    }
    for reject in &batch.rejects {
        reject.key.hash(&mut h);
        reject.line.hash(&mut h);
    }
    Some(h.finish())
}

/// Normalises a batch into what the warehouse commits. What the plugin
/// wrote freely (its state, its rejects' file, field and detail) is
/// redacted of the source's secrets and cut to length, as log lines are.
/// `keys_public`: the connector declares the stream's keys non-personal;
/// a reject then names the partner's record id beside its pseudonym.
fn prepare(
    normaliser: &normalise::Context<'_>,
    batch: Batch,
    keys_public: bool,
    redactor: &crate::privacy::Redactor,
    log: &RunLog,
) -> BatchWrite {
    let read = (batch.items.len() + batch.rejects.len()) as u64;
    let mut rows = Vec::with_capacity(batch.items.len());
    let public = |key: &str| {
        (keys_public && !key.trim().is_empty())
            .then(|| redact_cut(redactor, key, PARTNER_KEY_BYTES))
    };
    // A plugin's own rejects carry its raw key: store its pseudonym only
    // (and the key itself when the connector declares it non-personal).
    let mut rejects: Vec<_> = batch
        .rejects
        .into_iter()
        .map(|mut r| {
            r.partner_key = r.key.as_deref().and_then(public);
            r.key = r.key.map(|k| normaliser.reject_key(&k));
            r
        })
        .collect();
    for item in batch.items {
        let partner_key = if keys_public { public(&item.key) } else { None };
        match normaliser.normalise(item) {
            Ok(row) => rows.push(row),
            Err(mut reject) => {
                reject.partner_key = partner_key;
                rejects.push(reject);
            }
        }
    }
    for r in &mut rejects {
        r.origin = r
            .origin
            .as_deref()
            .map(|o| redact_cut(redactor, o, REJECT_ORIGIN_BYTES));
        r.field = redact_cut(redactor, &r.field, REJECT_FIELD_BYTES);
        r.detail = redact_cut(redactor, &r.detail, REJECT_DETAIL_BYTES);
    }
    BatchWrite {
        rows,
        rejects,
        state: batch.state.map(|s| Some(redactor.redact(&s))),
        replace_origins: batch.replace_origins,
        logs: log.drain(),
        read,
        batches: 1,
    }
}
