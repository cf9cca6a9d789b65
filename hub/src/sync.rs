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
use tracing::Instrument as _;

use crate::app::Hub;
use crate::model::{Batch, ConnectorError};
use crate::plugin_host::{Grants, HostError, LogLine};
use crate::warehouse::{
    BatchWrite, Counts, HttpFigures, LogRecord, Provenance, RunReport, RunStatus, StreamFigures,
    WarehouseError,
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
}

impl SyncOptions {
    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no source `{0}` in the configuration")]
    UnknownSource(String),
    #[error("source `{source_id}`: unknown territory `{territory}`")]
    UnknownTerritory {
        source_id: String,
        territory: String,
    },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
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
        .ok_or_else(|| SyncError::UnknownSource(source_id.to_string()))?;
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
            hub.warehouse
                .start_run(&source.id, options.full_refresh)
                .await?
        }
    };
    let log = RunLog::default();
    // Instrumented rather than entered: the sync future must stay `Send` for
    // the scheduler and the API to run it on their tasks.
    let span = tracing::info_span!("run", run = run_id, source = %source.id);
    span.in_scope(|| tracing::info!(run = run_id, source = %source.id, "sync started"));

    let outcome = run(hub, source, territory, run_id, options, &log)
        .instrument(span.clone())
        .await;
    let (status, error) = match &outcome {
        Ok(()) => (RunStatus::Succeeded, None),
        Err(f) if f.kind == FailureKind::Interrupted => {
            log.push("warn", f.message.clone());
            (
                RunStatus::Interrupted,
                Some((f.kind.as_str(), f.message.as_str())),
            )
        }
        Err(f) => {
            log.push("error", f.message.clone());
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

async fn run(
    hub: &Hub,
    source: &crate::config::Source,
    territory: &crate::config::Territory,
    run_id: i64,
    options: &SyncOptions,
    log: &RunLog,
) -> Result<(), Failure> {
    let secrets = source.resolve_secrets_with(&hub.vars)?;
    let redactor = crate::privacy::Redactor::new(secrets.values());
    let plugin_path = source.plugin_path(&hub.config.hub.plugins_dir);
    let plugin = hub.host.load(&plugin_path).await?;
    let grants = Grants {
        source: source.id.clone(),
        network: source.network.as_str().to_string(),
        allowed_hosts: source.allowed_hosts.clone(),
        inbox: source.inbox_dir(&hub.config.hub.data_dir),
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect(),
        request_budget: Some(hub.config.limits.http_request_budget),
        log: log.sink(redactor),
    };
    let mut instance = hub.host.instantiate(&plugin, grants).await?;
    instance.set_cancel(options.cancel.clone());
    let spec = instance.spec().await?;
    hub.warehouse
        .set_run_connector(run_id, &spec.name, &spec.version)
        .await?;
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
    let normaliser = normalise::Context {
        source: &source.id,
        network: source.network.as_str(),
        territory_epcis: &territory.epci,
        pseudonymiser: &hub.pseudonymiser,
        gazetteer: hub.gazetteer,
    };
    // The streams, then the run's HTTP figures whatever way the streams ended
    // (a failing partner's statuses are what `/metrics` must show).
    let outcome = sync_streams(
        hub,
        &mut instance,
        &normaliser,
        source,
        territory,
        run_id,
        &config_json,
        streams,
        options,
        log,
    )
    .await;
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
    options: &SyncOptions,
    log: &RunLog,
) -> Result<(), Failure> {
    for stream in streams {
        if options.cancelled() {
            return Err(Failure::interrupted());
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
        let (counts, batches, timings) = sync_stream(
            hub,
            instance,
            normaliser,
            &prov,
            config_json,
            state,
            options,
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
    options: &SyncOptions,
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
    loop {
        if options.cancelled() {
            // What was read is committed; the next run goes on from there.
            failure = Some(Failure::interrupted());
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
        if let Some(s) = &batch.state {
            state = Some(s.clone());
        }
        let started = std::time::Instant::now();
        let write = prepare(normaliser, batch, log);
        timings.normalise += started.elapsed();
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

/// Normalises a batch into what the warehouse commits.
fn prepare(normaliser: &normalise::Context<'_>, batch: Batch, log: &RunLog) -> BatchWrite {
    let read = (batch.items.len() + batch.rejects.len()) as u64;
    let mut rows = Vec::with_capacity(batch.items.len());
    // A plugin's own rejects carry its raw key: store its pseudonym only.
    let mut rejects: Vec<_> = batch
        .rejects
        .into_iter()
        .map(|mut r| {
            r.key = r.key.map(|k| normaliser.reject_key(&k));
            r
        })
        .collect();
    for item in batch.items {
        match normaliser.normalise(item) {
            Ok(row) => rows.push(row),
            Err(reject) => rejects.push(reject),
        }
    }
    BatchWrite {
        rows,
        rejects,
        state: batch.state.map(Some),
        replace_origins: batch.replace_origins,
        logs: log.drain(),
        read,
        batches: 1,
    }
}
