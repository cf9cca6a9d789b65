//! Connectors, sources, sync triggers, checkpoints, quarantine and uploads.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;

use super::views::{
    Accepted, Connector, HubPaths, InboxFile, QUARANTINE_LIMIT_MAX, QuarantineList,
    QuarantineQuery, QuarantineStatusQuery, Quarantined, Source, SourceState, Stream, StreamQuery,
    StreamState, SyncQuery, Upload, Uploaded,
};
use super::{ApiError, AppState, Caller};
use crate::auth::Role;
use crate::plugin_host::Grants;
use crate::scheduler::{SyncJob, Trigger};
use crate::warehouse::{EntryStatus, RunStatus};

/// The connectors the configured sources use: name, version, contract
/// version, streams and configuration schema (not for evaluators).
#[utoipa::path(get, path = "/connectors", tag = "sources", security(("bearer" = [])),
    responses(
        (status = 200, description = "Connectors in use", body = [Connector]),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator", body = super::ErrorBody),
    ))]
pub async fn connectors(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Connector>>, ApiError> {
    caller.forbid_evaluator("connectors")?;
    let all = {
        let mut cache = state.inner.connectors.lock().await;
        match &*cache {
            Some(c) => c.clone(),
            None => {
                let loaded = load_connectors(&state).await;
                *cache = Some(loaded.clone());
                loaded
            }
        }
    };
    let visible: Vec<&str> = state
        .hub()
        .config
        .sources
        .iter()
        .filter(|s| caller.0.can_act_on(&s.territory))
        .map(|s| s.id.as_str())
        .collect();
    Ok(Json(
        all.into_iter()
            .filter_map(|mut c| {
                c.sources.retain(|s| visible.contains(&s.as_str()));
                c.error = c.error.map(|e| state.inner.paths.scrub(&e));
                (!c.sources.is_empty()).then_some(c)
            })
            .collect(),
    ))
}

async fn load_connectors(state: &AppState) -> Vec<Connector> {
    let hub = state.hub();
    let mut by_plugin: BTreeMap<std::path::PathBuf, (String, Vec<String>)> = BTreeMap::new();
    for s in &hub.config.sources {
        by_plugin
            .entry(s.plugin_path(&hub.config.hub.plugins_dir))
            .or_insert_with(|| (s.connector.clone(), Vec::new()))
            .1
            .push(s.id.clone());
    }
    let mut out = Vec::new();
    for (path, (name, sources)) in by_plugin {
        let spec = async {
            let plugin = hub.host.load(&path).await?;
            let log: crate::plugin_host::LogSink = std::sync::Arc::new(|_| {});
            let mut instance = hub
                .host
                .instantiate(&plugin, Grants::none("connectors", log))
                .await?;
            instance.spec().await
        }
        .await;
        out.push(match spec {
            Ok(spec) => Connector {
                name: spec.name,
                version: Some(spec.version),
                wit_version: Some(spec.wit_version),
                description: Some(spec.description),
                streams: spec
                    .streams
                    .into_iter()
                    .map(|s| Stream {
                        name: s.name,
                        entity: s.entity.as_str().to_string(),
                        primary_key: s.primary_key,
                        cursor_field: s.cursor_field,
                        description: s.description,
                    })
                    .collect(),
                config_schema: Some(spec.config_schema),
                sources,
                error: None,
            },
            Err(e) => {
                tracing::warn!(connector = %name, error = %e, "connector plugin could not be read");
                Connector {
                    name,
                    version: None,
                    wit_version: None,
                    description: None,
                    streams: Vec::new(),
                    config_schema: None,
                    sources,
                    error: Some(e.to_string()),
                }
            }
        });
    }
    out
}

/// Keys whose values are masked in a source's configuration.
fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // `token_secret = "api_token"` names a secret; it is not one.
    if k.ends_with("_secret") {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
        "private",
    ]
    .iter()
    .any(|w| k.contains(w))
}

fn mask(value: serde_json::Value, key: Option<&str>, paths: &HubPaths) -> serde_json::Value {
    use serde_json::Value;
    if key.is_some_and(looks_secret) && !value.is_null() {
        return Value::String("***".into());
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = mask(v, Some(&k), paths);
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| mask(v, key, paths)).collect())
        }
        Value::String(s) => Value::String(paths.scrub(&mask_url_password(s))),
        other => other,
    }
}

/// `https://user:pw@host/…` → `https://user:***@host/…`.
fn mask_url_password(s: String) -> String {
    match url::Url::parse(&s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => s,
    }
}

pub(crate) async fn source_view(
    state: &AppState,
    caller: &crate::auth::Principal,
    s: &crate::config::Source,
) -> Result<Source, ApiError> {
    let hub = state.hub();
    let config = serde_json::to_value(&s.config).unwrap_or(serde_json::Value::Null);
    let last_run = hub
        .warehouse
        .runs(Some(&s.id), 1)
        .await?
        .into_iter()
        .next()
        .map(|r| state.inner.paths.run_for(r.into(), caller));
    let tick = state
        .inner
        .schedules
        .get(&s.id)
        .and_then(crate::scheduler::next_tick);
    let queued = match state.inner.queue.next_due(&s.id).await {
        Ok(Some(ts)) => time::OffsetDateTime::from_unix_timestamp(ts)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "queued jobs could not be read");
            None
        }
    };
    // RFC 3339 in UTC sorts as text.
    let next_run = match (tick, queued) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(Source {
        id: s.id.clone(),
        connector: s.connector.clone(),
        network: s.network.as_str().to_string(),
        territory: s.territory.clone(),
        schedule: s.schedule.clone(),
        allowed_hosts: s.allowed_hosts.clone(),
        has_inbox: s.inbox_dir(&hub.config.hub.data_dir).is_some(),
        streams: s.streams.clone(),
        config: mask(config, None, &state.inner.paths),
        secrets: s
            .secrets
            .keys()
            .map(|k| (k.clone(), "***".to_string()))
            .collect(),
        last_run,
        next_run,
    })
}

/// The sources the caller may act on (not for evaluators).
#[utoipa::path(get, path = "/sources", tag = "sources", security(("bearer" = [])),
    responses(
        (status = 200, description = "Sources, secrets masked", body = [Source]),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator", body = super::ErrorBody),
    ))]
pub async fn list_sources(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Source>>, ApiError> {
    Ok(Json(visible_source_views(&state, &caller).await?))
}

/// The sources the caller may act on, as the API shows them (the API and
/// the console).
pub(crate) async fn visible_source_views(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<Source>, ApiError> {
    caller.forbid_evaluator("sources")?;
    let mut out = Vec::new();
    for s in &state.hub().config.sources {
        if caller.0.can_act_on(&s.territory) {
            out.push(source_view(state, &caller.0, s).await?);
        }
    }
    Ok(out)
}

/// One source: configuration (secrets masked), schedule, last and next run.
#[utoipa::path(get, path = "/sources/{id}", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "The source", body = Source),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
    ))]
pub async fn get_source(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Source>, ApiError> {
    let source = state.source(&caller.0, &id)?;
    Ok(Json(source_view(&state, &caller.0, source).await?))
}

/// Starts a run now and queues it: answers 202 with the run's id, or 409
/// with the id of the run already in progress.
async fn start(
    state: &AppState,
    caller: &Caller,
    source: &str,
    trigger: Trigger,
    full_refresh: bool,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let run_id = start_run(state, source, trigger, full_refresh, &caller.0.name).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("{}/runs/{run_id}", super::BASE))],
        Json(Accepted {
            run_id,
            source: source.to_string(),
            full_refresh,
        }),
    ))
}

/// Starts a run of a source the caller may act on and queues it: its id,
/// or `Conflict` naming the run already in progress (the API and the console).
/// The run records what started it and which token holder asked (the
/// token's name, never the token).
pub(crate) async fn start_run(
    state: &AppState,
    source: &str,
    trigger: Trigger,
    full_refresh: bool,
    asked_by: &str,
) -> Result<i64, ApiError> {
    let warehouse = &state.hub().warehouse;
    let run_id = warehouse.queue_run(source, full_refresh).await?;
    warehouse
        .set_run_trigger(
            run_id,
            crate::sync::RunTrigger::from(trigger).as_str(),
            Some(asked_by),
        )
        .await?;
    let job = SyncJob {
        run_id: Some(run_id),
        full_refresh,
        ..SyncJob::new(source, trigger)
    };
    state.inner.queue.push_started(job, None).await?;
    tracing::info!(run = run_id, source, ?trigger, full_refresh, "sync queued");
    Ok(run_id)
}

/// Syncs a source now (`?full_refresh=true` to ignore checkpoints).
#[utoipa::path(post, path = "/sources/{id}/sync", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id"), SyncQuery),
    responses(
        (status = 202, description = "Run started; follow it at /runs/{run_id}", body = Accepted),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
        (status = 409, description = "A run is in progress (`run_id`)", body = super::ErrorBody),
    ))]
pub async fn trigger_sync(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<SyncQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let source = state.source(&caller.0, &id)?.id.clone();
    start(
        &state,
        &caller,
        &source,
        Trigger::Manual,
        q.full_refresh.unwrap_or(false),
    )
    .await
}

/// Re-reads the source in full: records now valid are stored, the others are
/// quarantined again, and the earlier entries close.
#[utoipa::path(post, path = "/sources/{id}/quarantine/replay", tag = "quarantine", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 202, description = "Replay run started", body = Accepted),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
        (status = 409, description = "A run is in progress (`run_id`)", body = super::ErrorBody),
    ))]
pub async fn replay_quarantine(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let source = state.source(&caller.0, &id)?.id.clone();
    start(&state, &caller, &source, Trigger::Replay, true).await
}

/// The source's checkpoints, one per stream (admins: a connector's state is
/// opaque and may hold what only admins should see).
#[utoipa::path(get, path = "/sources/{id}/state", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "Saved checkpoints", body = SourceState),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Not an admin", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
    ))]
pub async fn get_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SourceState>, ApiError> {
    caller.require_admin()?;
    let source = state.source(&caller.0, &id)?;
    let streams = state.hub().warehouse.checkpoints(&source.id).await?;
    Ok(Json(SourceState {
        source: source.id.clone(),
        streams: streams.into_iter().map(StreamState::from).collect(),
    }))
}

/// Forgets one stream's checkpoint: its next run reads it from the start (admins).
#[utoipa::path(delete, path = "/sources/{id}/state", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id"), StreamQuery),
    responses(
        (status = 204, description = "Checkpoint removed"),
        (status = 400, description = "`stream` missing", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Not an admin", body = super::ErrorBody),
        (status = 404, description = "No such source or no checkpoint for the stream", body = super::ErrorBody),
        (status = 409, description = "A run is in progress (`run_id`)", body = super::ErrorBody),
    ))]
pub async fn reset_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<StreamQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let source = state.source(&caller.0, &id)?;
    let stream = Some(q.stream).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request("`stream` is required: the stream whose checkpoint to reset")
    })?;
    let warehouse = &state.hub().warehouse;
    let running = warehouse
        .runs_page(
            Some(std::slice::from_ref(&source.id)),
            Some(RunStatus::Running),
            None,
            1,
        )
        .await?;
    if let Some(run) = running.first() {
        return Err(ApiError::Conflict {
            message: format!(
                "source `{}` is syncing (run {}): reset its state once it ends",
                source.id, run.id
            ),
            run_id: Some(run.id),
        });
    }
    if warehouse.delete_checkpoint(&source.id, &stream).await? {
        tracing::info!(source = %source.id, stream, "checkpoint reset");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "source `{}` has no checkpoint for stream `{stream}`",
            source.id
        )))
    }
}

/// Quarantined records: file, line, reason, field, and the partner's record
/// id where it is not personal; never a personal value (not for
/// evaluators). Open entries by default (records still refused in the
/// latest version of their file); `status=closed` or `all` shows the closed
/// ones with why and when they closed.
#[utoipa::path(get, path = "/quarantine", tag = "quarantine", security(("bearer" = [])),
    params(QuarantineQuery, QuarantineStatusQuery),
    responses(
        (status = 200, description = "Quarantine entries", body = QuarantineList),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source or run", body = super::ErrorBody),
    ))]
pub async fn list_quarantine(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<QuarantineQuery>,
    Query(status): Query<QuarantineStatusQuery>,
) -> Result<Json<QuarantineList>, ApiError> {
    let status = match (status.status, q.run) {
        (Some(s), _) => s.into(),
        (None, Some(_)) => EntryStatus::All,
        (None, None) => EntryStatus::Open,
    };
    let entries = entries_by_status(&state, &caller, &q, status).await?;
    Ok(Json(QuarantineList {
        entries: entries
            .into_iter()
            .map(|e| {
                let mut e = Quarantined::from(e);
                e.detail = state.inner.paths.scrub(&e.detail);
                e.origin = e.origin.map(|o| state.inner.paths.scrub(&o));
                e
            })
            .collect(),
    }))
}

/// The quarantine entries `q` selects that the caller may see (the API and
/// the console).
/// Without a run, the open ones; with a run, all of them.
pub(crate) async fn quarantine_entries(
    state: &AppState,
    caller: &Caller,
    q: &QuarantineQuery,
) -> Result<Vec<crate::warehouse::QuarantineEntry>, ApiError> {
    let status = if q.run.is_some() {
        EntryStatus::All
    } else {
        EntryStatus::Open
    };
    Ok(entries_by_status(state, caller, q, status)
        .await?
        .into_iter()
        .map(|r| r.entry)
        .collect())
}

async fn entries_by_status(
    state: &AppState,
    caller: &Caller,
    q: &QuarantineQuery,
    status: EntryStatus,
) -> Result<Vec<crate::warehouse::QuarantineRow>, ApiError> {
    caller.forbid_evaluator("quarantine")?;
    let limit = q.limit.unwrap_or(1000);
    if !(1..=QUARANTINE_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {QUARANTINE_LIMIT_MAX}"
        )));
    }
    let warehouse = &state.hub().warehouse;
    let mut source = q.source.clone();
    if let Some(id) = &q.source {
        state.source(&caller.0, id)?;
    }
    if let Some(run) = q.run {
        let report = warehouse.run(run).await?;
        match &source {
            Some(s) if *s != report.source => {
                return Ok(Vec::new());
            }
            _ => {}
        }
        if caller.0.role != Role::Admin {
            state.source(&caller.0, &report.source)?;
        }
        source = Some(report.source);
    }
    let entries = match (&source, state.visible_sources(&caller.0)) {
        (Some(s), _) => {
            warehouse
                .quarantine_by_status(Some(s), q.run, status, limit)
                .await?
        }
        (None, None) => {
            warehouse
                .quarantine_by_status(None, q.run, status, limit)
                .await?
        }
        (None, Some(ids)) => {
            let mut all = Vec::new();
            for id in ids {
                all.extend(
                    warehouse
                        .quarantine_by_status(Some(&id), None, status, limit)
                        .await?,
                );
            }
            all.sort_by_key(|e| e.entry.id);
            all.truncate(limit as usize);
            all
        }
    };
    Ok(entries)
}

/// The inbox of a source the caller may act on: 404 for a source without one.
fn inbox_of(state: &AppState, caller: &Caller, id: &str) -> Result<std::path::PathBuf, ApiError> {
    let source = state.source(&caller.0, id)?;
    source
        .inbox_dir(&state.hub().config.hub.data_dir)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "source `{id}` has no inbox: it reads its partner's API (set `inbox = true` in its configuration for export files)"
            ))
        })
}

/// The files of a source's inbox, in arrival order: name, size, SHA-256,
/// when it was received, and whether the source's runs have read it.
#[utoipa::path(get, path = "/sources/{id}/files", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "The inbox, oldest first", body = [InboxFile]),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source, or a source without inbox", body = super::ErrorBody),
    ))]
pub async fn list_files(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<InboxFile>>, ApiError> {
    let dir = inbox_of(&state, &caller, &id)?;
    let files = tokio::task::spawn_blocking(move || crate::inbox::list(&dir))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let read = files_read(&state, &id).await?;
    Ok(Json(
        files
            .into_iter()
            .map(|f| {
                let read_by_run = read.get(&f.id).copied();
                InboxFile {
                    read_by_run,
                    ..InboxFile::from(f)
                }
            })
            .collect(),
    ))
}

/// File id → the run whose checkpoint records it read, for every stream of
/// the source that keeps the standard file checkpoint (`done`: file ids).
async fn files_read(state: &AppState, source: &str) -> Result<BTreeMap<String, i64>, ApiError> {
    #[derive(serde::Deserialize)]
    struct FileCheckpoint {
        #[serde(default)]
        done: Vec<String>,
    }
    let mut read = BTreeMap::new();
    for c in state.hub().warehouse.checkpoints(source).await? {
        let Some(done) = c
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str::<FileCheckpoint>(s).ok())
        else {
            continue;
        };
        for id in done.done {
            // The earliest run among the streams that read it.
            let run = read.entry(id).or_insert(c.run_id);
            *run = (*run).min(c.run_id);
        }
    }
    Ok(read)
}

/// Hands an export file to a file-based source's inbox (`multipart/form-data`,
/// part `file`). The same content twice is stored once. The next sync reads it.
/// A body announced (`Content-Length`) above the limit is refused unread.
#[utoipa::path(post, path = "/sources/{id}/files", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    request_body(content = Upload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = Uploaded),
        (status = 200, description = "Already in the inbox: nothing stored", body = Uploaded),
        (status = 400, description = "No `file` part, a part without file name, a bad name, or a malformed form", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source, or a source without inbox", body = super::ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = super::ErrorBody),
        (status = 415, description = "Not `multipart/form-data`", body = super::ErrorBody),
    ))]
pub async fn upload_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let source = state.source(&caller.0, &id)?;
    inbox_of(&state, &caller, &id)?;
    // Refused before a byte of the body is read.
    let limit = state.inner.settings.upload_limit_bytes;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > upload_body_bytes(limit) as u64) {
        return Err(too_large(&state));
    }
    let mut multipart = multipart.map_err(|e| {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        let message = format!(
            "send the file as `multipart/form-data` with a part named `file` ({})",
            e.body_text()
        );
        if is_form {
            ApiError::bad_request(message)
        } else {
            ApiError::UnsupportedMediaType(message)
        }
    })?;
    // The whole form is read before anything is stored: a part besides
    // `file` refuses it.
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&state, e))?
    {
        if field.name() != Some("file") || file.is_some() {
            return Err(ApiError::bad_request(format!(
                "unexpected part `{}`: the form has one part, `file`",
                field.name().unwrap_or_default()
            )));
        }
        file = Some(read_file_part(&state, field).await?);
    }
    let (name, data) = file.ok_or_else(|| ApiError::bad_request("no `file` part in the form"))?;
    let added = store_file(&state, source, name, data).await?;
    let status = if added.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Uploaded {
            file: added.file.into(),
            duplicate: added.duplicate,
        }),
    ))
}

/// What a malformed or too large multipart body is.
pub(crate) fn multipart_error(
    state: &AppState,
    e: axum::extract::multipart::MultipartError,
) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(state)
    } else {
        ApiError::bad_request(format!("bad multipart body: {}", e.body_text()))
    }
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "files are limited to {} bytes",
        state.inner.settings.upload_limit_bytes
    ))
}

/// Reads the `file` part of an upload: its name and bytes, within the limit.
async fn read_file_part(
    state: &AppState,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<(String, Vec<u8>), ApiError> {
    let limit = state.inner.settings.upload_limit_bytes;
    let name = field
        .file_name()
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("the `file` part has no file name"))?;
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(state, e))? {
        if data.len() + chunk.len() > limit {
            return Err(too_large(state));
        }
        data.extend_from_slice(&chunk);
    }
    Ok((name, data))
}

/// Stores a received file in the source's inbox: the same content twice is
/// stored once (the inbox's lock makes concurrent uploads agree).
async fn store_file(
    state: &AppState,
    source: &crate::config::Source,
    name: String,
    data: Vec<u8>,
) -> Result<crate::inbox::Added, ApiError> {
    let Some(dir) = source.inbox_dir(&state.hub().config.hub.data_dir) else {
        return Err(ApiError::not_found(format!(
            "source `{}` has no inbox: it reads its partner's API (set `inbox = true` in its configuration for export files)",
            source.id
        )));
    };
    let added = tokio::task::spawn_blocking(move || {
        crate::inbox::add_reader(&dir, &name, &mut std::io::Cursor::new(data))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    tracing::info!(source = %source.id, file = %added.file.name, sha256 = %added.file.sha256, duplicate = added.duplicate, "file uploaded");
    Ok(added)
}

/// Stores the `file` part of an upload in the source's inbox (the console).
pub(crate) async fn receive_file(
    state: &AppState,
    source: &crate::config::Source,
    field: axum::extract::multipart::Field<'_>,
) -> Result<crate::inbox::Added, ApiError> {
    let (name, data) = read_file_part(state, field).await?;
    store_file(state, source, name, data).await
}

/// The largest body the upload route reads: the file plus room for the form.
fn upload_body_bytes(file_limit: usize) -> usize {
    file_limit.saturating_add(64 * 1024)
}

/// The body limit of the upload route.
pub fn upload_body_limit(file_limit: usize) -> DefaultBodyLimit {
    DefaultBodyLimit::max(upload_body_bytes(file_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_values_are_masked() {
        let v = serde_json::json!({
            "base_url": "https://u:pw@partner.example.org/x",
            "token_secret": "api_token",
            "api_key": "abc",
            "nested": {"password": "p", "page_size": 5}
        });
        let m = mask(v, None, &HubPaths::default());
        let s = m.to_string();
        assert!(
            !s.contains("pw@") && !s.contains("\"abc\"") && !s.contains("\"p\""),
            "{s}"
        );
        assert_eq!(m["token_secret"], "api_token");
        assert_eq!(m["nested"]["page_size"], 5);
    }
}

/// A source paused after repeated failed runs (`limits.pause_after_failures`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Pause {
    pub source: String,
    /// Whether the source is paused now: its scheduled runs are skipped.
    pub paused: bool,
    pub paused_at: Option<String>,
    /// The failed run that paused it.
    pub run_id: Option<i64>,
    /// Failed runs in a row then.
    pub failures: Option<u64>,
    pub reason: Option<String>,
}

impl Pause {
    fn of(source: &str, pause: Option<crate::warehouse::SourcePause>) -> Pause {
        Pause {
            source: source.to_string(),
            paused: pause.is_some(),
            paused_at: pause.as_ref().map(|p| p.paused_at.clone()),
            run_id: pause.as_ref().map(|p| p.run_id),
            failures: pause.as_ref().map(|p| p.failures),
            reason: pause.map(|p| p.reason),
        }
    }
}

/// Whether the source is paused, and why (not for evaluators).
#[utoipa::path(get, path = "/sources/{id}/pause", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "The source's pause, if any", body = Pause),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
    ))]
pub async fn get_pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Pause>, ApiError> {
    let source = state.source(&caller.0, &id)?;
    let pause = state.hub().warehouse.source_pause(&source.id).await?;
    Ok(Json(Pause::of(&source.id, pause)))
}

/// Resumes a source paused after repeated failed runs (admins, and
/// coordinators of its territory): its scheduled runs run again, and its
/// failures are counted afresh.
#[utoipa::path(post, path = "/sources/{id}/resume", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "Resumed: the pause it lifted (`paused` is now false)", body = Pause),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or another territory", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
        (status = 409, description = "The source is not paused", body = super::ErrorBody),
    ))]
pub async fn resume_source(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Pause>, ApiError> {
    let source = state.source(&caller.0, &id)?;
    let lifted = state
        .hub()
        .warehouse
        .resume_source(&source.id, &caller.0.name)
        .await?
        .ok_or_else(|| ApiError::WrongState(format!("source `{}` is not paused", source.id)))?;
    tracing::info!(source = %source.id, by = %caller.0.name, "source resumed");
    Ok(Json(Pause {
        paused: false,
        ..Pause::of(&source.id, Some(lifted))
    }))
}
