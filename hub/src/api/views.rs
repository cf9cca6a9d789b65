//! What the API answers: its own types, so the JSON contract (and the OpenAPI
//! document) does not move when the warehouse's structs do.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::warehouse::{Checkpoint, LogRecord, QuarantineEntry, QuarantineRow, RunReport};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stream {
    pub name: String,
    /// The unified-model entity the stream yields (`distribution`, `household`, …).
    pub entity: String,
    pub primary_key: Vec<String>,
    pub cursor_field: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Connector {
    pub name: String,
    pub version: Option<String>,
    /// The connector contract the plugin was built against.
    pub wit_version: Option<String>,
    pub description: Option<String>,
    pub streams: Vec<Stream>,
    /// JSON Schema of the connector's configuration.
    #[schema(value_type = Object)]
    pub config_schema: Option<serde_json::Value>,
    /// Sources using it (those the caller may see).
    pub sources: Vec<String>,
    /// Set when the plugin could not be loaded.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Counts {
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Run {
    pub id: i64,
    pub source: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    pub full_refresh: bool,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub connector: Option<String>,
    pub connector_version: Option<String>,
    pub batches: u64,
    pub counts: Counts,
    /// Records removed because their file was re-sent without them.
    pub removed: u64,
    /// Figures per stream (in `GET /runs/{id}`; empty in lists).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamRun>,
    /// `partner_unavailable` (retried), `bad_config`, `auth_failed`, `bad_data`,
    /// `plugin`, `warehouse`, `interrupted`.
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// What started it (not shown to evaluators).
    #[schema(inline)]
    pub trigger: Option<RunTriggerView>,
    /// The API token that asked for it, by name (never the token; not shown
    /// to evaluators).
    pub token_name: Option<String>,
    /// The inbox files it read, by name (not shown to evaluators).
    pub files_read: Vec<String>,
    /// The inbox files no stream of its connector reads (a misnamed
    /// export), by name (not shown to evaluators).
    pub files_ignored: Vec<String>,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunTriggerView {
    Manual,
    Schedule,
    Replay,
    Resume,
}

/// One stream's figures in a run, as the sync engine recorded them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamRun {
    pub stream: String,
    pub batches: u64,
    pub counts: Counts,
    pub removed: u64,
    /// Time the connector plugin spent answering reads, milliseconds.
    pub plugin_read_ms: u64,
    /// Time spent committing (alongside the reads), milliseconds.
    pub commit_ms: u64,
}

impl From<crate::warehouse::StreamFigures> for StreamRun {
    fn from(f: crate::warehouse::StreamFigures) -> StreamRun {
        StreamRun {
            stream: f.stream,
            batches: f.batches,
            counts: Counts {
                read: f.counts.read,
                inserted: f.counts.inserted,
                updated: f.counts.updated,
                unchanged: f.counts.unchanged,
                quarantined: f.counts.quarantined,
            },
            removed: f.removed,
            plugin_read_ms: f.read_ms,
            commit_ms: f.commit_ms,
        }
    }
}

pub fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

impl From<RunReport> for Run {
    fn from(r: RunReport) -> Run {
        let duration_seconds = match (
            parse_time(&r.started_at),
            r.ended_at.as_deref().and_then(parse_time),
        ) {
            (Some(a), Some(b)) => Some((b - a).as_seconds_f64().max(0.0)),
            _ => None,
        };
        Run {
            id: r.id,
            source: r.source,
            status: r.status.as_str().to_string(),
            full_refresh: r.full_refresh,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_seconds,
            connector: r.connector,
            connector_version: r.connector_version,
            batches: r.batches,
            counts: Counts {
                read: r.counts.read,
                inserted: r.counts.inserted,
                updated: r.counts.updated,
                unchanged: r.counts.unchanged,
                quarantined: r.counts.quarantined,
            },
            removed: r.removed,
            streams: Vec::new(),
            error_kind: r.error_kind,
            error: r.error,
            trigger: r.trigger.as_deref().and_then(|t| match t {
                "manual" => Some(RunTriggerView::Manual),
                "schedule" => Some(RunTriggerView::Schedule),
                "replay" => Some(RunTriggerView::Replay),
                "resume" => Some(RunTriggerView::Resume),
                _ => None,
            }),
            token_name: r.token_name,
            files_read: r.files_read,
            files_ignored: r.files_ignored,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<Run>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogLine {
    pub at: String,
    pub level: String,
    pub message: String,
}

impl From<LogRecord> for LogLine {
    fn from(l: LogRecord) -> LogLine {
        LogLine {
            at: l.at,
            level: l.level,
            message: l.message,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunLog {
    pub run_id: i64,
    pub lines: Vec<LogLine>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Source {
    pub id: String,
    pub connector: String,
    pub network: String,
    pub territory: String,
    /// Cron expression (`sec min hour day month weekday`).
    pub schedule: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub has_inbox: bool,
    pub streams: Option<Vec<String>>,
    /// The connector configuration, with secret-looking values masked.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// The secrets the connector may ask for: names only, values are `***`.
    pub secrets: std::collections::BTreeMap<String, String>,
    pub last_run: Option<Run>,
    /// When it runs next: its schedule's next tick or a queued job, RFC 3339.
    pub next_run: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    /// The run started for this request; follow it at `/api/v1/runs/{run_id}`.
    pub run_id: i64,
    pub source: String,
    pub full_refresh: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamState {
    pub stream: String,
    /// The connector's opaque checkpoint.
    pub state: Option<String>,
    pub run_id: i64,
    pub updated_at: String,
}

impl From<Checkpoint> for StreamState {
    fn from(c: Checkpoint) -> StreamState {
        StreamState {
            stream: c.stream,
            state: c.state,
            run_id: c.run_id,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceState {
    pub source: String,
    pub streams: Vec<StreamState>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Quarantined {
    pub id: i64,
    pub source: String,
    pub stream: String,
    pub run_id: i64,
    /// The export file the record came from.
    pub origin: Option<String>,
    pub line: Option<i64>,
    /// The workbook cell at fault (`Commande!F12`).
    pub cell: Option<String>,
    pub reason: String,
    pub field: String,
    pub detail: String,
    /// SHA-256 of the refused payload (never the payload).
    pub payload_hash: String,
    /// The partner's record id (a subscription id), so that it can be found
    /// in the partner's tool: only when the connector declares the stream's
    /// keys non-personal.
    pub partner_key: Option<String>,
    /// `open` while the record is still refused (in the latest version of
    /// its file); `closed` otherwise.
    pub status: EntryState,
    /// When it closed, RFC 3339.
    pub closed_at: Option<String>,
    /// Why it closed.
    pub closed_reason: Option<ClosedReason>,
    /// The run that closed it.
    pub closed_by_run: Option<i64>,
}

/// Whether a quarantine entry is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    Open,
    Closed,
}

/// Why a quarantine entry closed: `resent` (its file came again without
/// refusing the record), `replayed` (a replay or full re-read no longer
/// refused it), `accepted` (the record was stored since).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClosedReason {
    Resent,
    Replayed,
    Accepted,
}

impl From<QuarantineEntry> for Quarantined {
    /// An entry listed as open (its state not read).
    fn from(entry: QuarantineEntry) -> Quarantined {
        Quarantined::from(QuarantineRow {
            entry,
            partner_key: None,
            closed_at: None,
            closed_reason: None,
            closed_by: None,
        })
    }
}

impl From<QuarantineRow> for Quarantined {
    fn from(row: QuarantineRow) -> Quarantined {
        let QuarantineRow {
            entry: q,
            partner_key,
            closed_at,
            closed_reason,
            closed_by,
        } = row;
        let closed_reason = closed_reason.as_deref().map(|r| match r {
            "resent" => ClosedReason::Resent,
            "accepted" => ClosedReason::Accepted,
            _ => ClosedReason::Replayed,
        });
        Quarantined {
            id: q.id,
            source: q.source,
            stream: q.stream,
            run_id: q.run_id,
            origin: q.origin,
            line: q.line,
            cell: q.cell,
            reason: q.reason,
            field: q.field,
            detail: q.detail,
            payload_hash: q.payload_hash,
            partner_key,
            status: if closed_at.is_some() {
                EntryState::Closed
            } else {
                EntryState::Open
            },
            closed_at,
            closed_reason,
            closed_by_run: closed_by,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuarantineList {
    pub entries: Vec<Quarantined>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxFile {
    /// `<seq>-<sha256>`
    pub id: String,
    /// Arrival order.
    pub seq: u64,
    pub sha256: String,
    /// The file's name as sent.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// When it was stored, RFC 3339.
    pub received: String,
    /// The run whose checkpoint records the file read (the earliest, when
    /// several streams read it); absent while no run has finished it.
    pub read_by_run: Option<i64>,
}

impl From<crate::inbox::InboxFile> for InboxFile {
    fn from(f: crate::inbox::InboxFile) -> InboxFile {
        InboxFile {
            id: f.id,
            seq: f.seq,
            sha256: f.sha256,
            name: f.name,
            size: f.size,
            received: f.received,
            read_by_run: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Uploaded {
    pub file: InboxFile,
    /// The same content was already in the inbox: nothing new was stored.
    pub duplicate: bool,
}

/// `multipart/form-data` with one part named `file`, and no other.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Upload {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A run's status, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatusFilter {
    Running,
    Succeeded,
    Failed,
    Interrupted,
    Cancelled,
}

impl From<RunStatusFilter> for crate::warehouse::RunStatus {
    fn from(s: RunStatusFilter) -> Self {
        use crate::warehouse::RunStatus;
        match s {
            RunStatusFilter::Running => RunStatus::Running,
            RunStatusFilter::Succeeded => RunStatus::Succeeded,
            RunStatusFilter::Failed => RunStatus::Failed,
            RunStatusFilter::Interrupted => RunStatus::Interrupted,
            RunStatusFilter::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// The largest page of `GET /runs`.
pub const RUNS_LIMIT_MAX: i64 = 500;
/// The most entries `GET /quarantine` gives at once.
pub const QUARANTINE_LIMIT_MAX: i64 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this source's runs.
    pub source: Option<String>,
    /// Only runs in this status.
    #[param(inline)]
    pub status: Option<RunStatusFilter>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// Ignore saved checkpoints and read everything again.
    pub full_refresh: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The stream whose checkpoint to forget.
    #[param(min_length = 1)]
    pub stream: String,
}

/// Which quarantine entries to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatusFilter {
    Open,
    Closed,
    All,
}

impl From<EntryStatusFilter> for crate::warehouse::EntryStatus {
    fn from(s: EntryStatusFilter) -> Self {
        use crate::warehouse::EntryStatus;
        match s {
            EntryStatusFilter::Open => EntryStatus::Open,
            EntryStatusFilter::Closed => EntryStatus::Closed,
            EntryStatusFilter::All => EntryStatus::All,
        }
    }
}

/// `GET /quarantine`'s status filter, beside [`QuarantineQuery`].
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineStatusQuery {
    /// `open`: records still refused (the default); `closed`: entries that
    /// closed, with why and when; `all`. With `run`, the default is `all`.
    #[param(inline)]
    pub status: Option<EntryStatusFilter>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineQuery {
    pub source: Option<String>,
    /// Entries of this run (closed ones included, unless `status` says).
    pub run: Option<i64>,
    /// At most this many entries (default 1000, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// The hub's own directories, as they may appear in messages the hub wrote
/// for its operator (a run's error, its log, a connector that does not
/// load): the API shows them by name, never as absolute paths of the
/// hub's machine.
#[derive(Debug, Clone, Default)]
pub struct HubPaths {
    /// (absolute path, what to show instead), longest first.
    roots: Vec<(String, String)>,
}

impl HubPaths {
    pub fn new(config: &crate::config::Config) -> HubPaths {
        use std::path::{Path, PathBuf};
        let cwd = std::env::current_dir().ok();
        let mut named: Vec<(PathBuf, String)> = vec![
            (config.hub.data_dir.clone(), "<data_dir>".into()),
            (config.hub.plugins_dir.clone(), "<plugins_dir>".into()),
        ];
        for s in &config.sources {
            if let Some(inbox) = s.inbox_dir(&config.hub.data_dir) {
                named.push((inbox, format!("<inbox of {}>", s.id)));
            }
            if let Some(plugin) = &s.plugin {
                named.push((plugin.clone(), format!("<plugin of {}>", s.id)));
            }
        }
        if let Some(cwd) = &cwd {
            named.push((cwd.clone(), ".".into()));
        }
        named.push((std::env::temp_dir(), "<tmp>".into()));
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            named.push((PathBuf::from(home), "~".into()));
        }
        let mut roots = Vec::new();
        for (path, label) in named {
            let absolute = match (&cwd, path.is_absolute()) {
                (Some(cwd), false) => cwd.join(&path),
                _ => path,
            };
            let canonical = std::fs::canonicalize(&absolute).ok();
            for p in [Some(absolute), canonical].into_iter().flatten() {
                let text = p.display().to_string();
                let text = text.trim_end_matches('/');
                // `/` itself would blank every slash.
                if Path::new(text).components().count() > 1 {
                    roots.push((text.to_string(), label.clone()));
                }
            }
        }
        roots.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        roots.dedup_by(|a, b| a.0 == b.0);
        HubPaths { roots }
    }

    /// `text` with each of the hub's directories replaced by its name.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (path, label) in &self.roots {
            out = replace_path(&out, path, label);
        }
        out
    }

    /// A run as `caller` may see it: evaluators get its status and counts
    /// only; nobody gets the hub's paths.
    pub fn run_for(&self, mut run: Run, caller: &crate::auth::Principal) -> Run {
        if caller.role == crate::auth::Role::Evaluator {
            run.error = None;
            run.error_kind = None;
            run.trigger = None;
            run.token_name = None;
            run.files_read = Vec::new();
            run.files_ignored = Vec::new();
        }
        run.error = run.error.map(|e| self.scrub(&e));
        run
    }
}

/// `text` with `path` replaced where it stands as a path of its own: not
/// inside a longer name (`/tmpfiles`) or a URL (`http://host/tmp/x`).
fn replace_path(text: &str, path: &str, label: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(path) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + path.len()..].chars().next();
        let starts = before.is_none_or(|c| !(c.is_alphanumeric() || "./_-~@%".contains(c)));
        let ends = after.is_none_or(|c| !(c.is_alphanumeric() || "._-~".contains(c)));
        out.push_str(&rest[..at]);
        out.push_str(if starts && ends { label } else { path });
        rest = &rest[at + path.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hubs_paths_are_named_not_shown() {
        let paths = HubPaths {
            roots: vec![
                ("/srv/vivres/data".into(), "<data_dir>".into()),
                ("/tmp".into(), "<tmp>".into()),
            ],
        };
        assert_eq!(
            paths.scrub("inbox /srv/vivres/data/inbox/x: no file (`/srv/vivres/data`)"),
            "inbox <data_dir>/inbox/x: no file (`<data_dir>`)"
        );
        // Not inside a URL or a longer name.
        for kept in [
            "http://partner:80/tmp/x",
            "/tmpfiles/a",
            "/srv/vivres/database",
        ] {
            assert_eq!(paths.scrub(kept), kept);
        }
        assert_eq!(paths.scrub("at /tmp/a.csv"), "at <tmp>/a.csv");
    }
}
