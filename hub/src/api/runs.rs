//! `/runs`, `/runs/{id}`, `/runs/{id}/log`.

use axum::Json;
use axum::extract::{Path, Query, State};

use super::views::{LogLine, RUNS_LIMIT_MAX, Run, RunLog, RunPage, RunsQuery};
use super::{ApiError, AppState, Caller};
use crate::warehouse::{RunReport, RunStatus};

/// Runs, newest first, filtered and paginated by cursor. Coordinators see
/// their territories' runs; evaluators see every run's status and counts.
#[utoipa::path(get, path = "/runs", tag = "runs", security(("bearer" = [])), params(RunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "Bad filter or cursor", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Source outside your territories", body = super::ErrorBody),
        (status = 404, description = "No such source", body = super::ErrorBody),
    ))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RunsQuery>,
) -> Result<Json<RunPage>, ApiError> {
    Ok(Json(runs_page(&state, &caller, &q).await?))
}

/// The page of runs `q` selects among those the caller may see (the API and
/// the console).
pub(crate) async fn runs_page(
    state: &AppState,
    caller: &Caller,
    q: &RunsQuery,
) -> Result<RunPage, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=RUNS_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {RUNS_LIMIT_MAX}"
        )));
    }
    let status = q.status.map(RunStatus::from);
    // What `next_cursor` gives: a run id, digits only.
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|_| (1..=18).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| ApiError::bad_request("`cursor` is not one this API gave"))?,
        ),
    };
    let sources: Option<Vec<String>> = match &q.source {
        Some(id) => {
            if caller.0.role != crate::auth::Role::Evaluator {
                state.source(&caller.0, id)?;
            }
            Some(vec![id.clone()])
        }
        None => state.visible_sources(&caller.0),
    };
    let runs = state
        .hub()
        .warehouse
        .runs_page(sources.as_deref(), status, before, limit + 1)
        .await?;
    let more = runs.len() as i64 > limit;
    let runs: Vec<Run> = runs
        .into_iter()
        .take(limit as usize)
        .map(|r| state.inner.paths.run_for(r.into(), &caller.0))
        .collect();
    let next_cursor = if more {
        runs.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(RunPage { runs, next_cursor })
}

/// The run, if the caller may see its source.
pub(crate) async fn visible_run(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<RunReport, ApiError> {
    let run = state.hub().warehouse.run(id).await?;
    match &caller.0.role {
        crate::auth::Role::Admin | crate::auth::Role::Evaluator => Ok(run),
        crate::auth::Role::Coordinator { .. } => {
            let territory = state
                .hub()
                .config
                .source(&run.source)
                .map(|s| s.territory.as_str());
            match territory {
                Some(t) if caller.0.can_act_on(t) => Ok(run),
                _ => Err(ApiError::forbidden(format!(
                    "run {id} is not of a source in your territories"
                ))),
            }
        }
    }
}

/// One run: status, timings, counts, error.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Run of a source outside your territories", body = super::ErrorBody),
        (status = 404, description = "No such run", body = super::ErrorBody),
    ))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Run>, ApiError> {
    let run = visible_run(&state, &caller, id).await?;
    let mut run = state.inner.paths.run_for(run.into(), &caller.0);
    run.streams = state
        .hub()
        .warehouse
        .run_streams(id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(run))
}

/// A run's log (not for evaluators).
#[utoipa::path(get, path = "/runs/{id}/log", tag = "runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run's log lines, in order", body = RunLog),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or a source outside your territories", body = super::ErrorBody),
        (status = 404, description = "No such run", body = super::ErrorBody),
    ))]
pub async fn run_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RunLog>, ApiError> {
    caller.forbid_evaluator("run logs")?;
    visible_run(&state, &caller, id).await?;
    let lines = state.hub().warehouse.run_logs(id).await?;
    Ok(Json(RunLog {
        run_id: id,
        lines: lines
            .into_iter()
            .map(|l| LogLine {
                message: state.inner.paths.scrub(&l.message),
                ..LogLine::from(l)
            })
            .collect(),
    }))
}

/// Cancels a running run (admins, and coordinators of its source's
/// territory): its process stops it within a second, between two batches or
/// in the middle of a plugin call, and marks it `cancelled`; what it
/// committed stays and the next run resumes from there. A run whose process
/// is gone is closed at once (200); otherwise 202 and the run as it stands.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run, closed `cancelled`", body = Run),
        (status = 202, description = "Cancel asked for; the run stops within a second", body = Run),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Evaluator, or a source outside your territories", body = super::ErrorBody),
        (status = 404, description = "No such run", body = super::ErrorBody),
        (status = 409, description = "The run is not running", body = super::ErrorBody),
    ))]
pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<(axum::http::StatusCode, Json<Run>), ApiError> {
    caller.forbid_evaluator("cancelling runs")?;
    visible_run(&state, &caller, id).await?;
    let warehouse = &state.hub().warehouse;
    let closed = match warehouse.request_cancel(id).await {
        Ok(closed) => closed,
        Err(crate::warehouse::WarehouseError::NotRunning { run_id, status }) => {
            return Err(ApiError::WrongState(format!(
                "run {run_id} is not running (it is {status}): nothing to cancel"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(run = id, by = %caller.0.name, closed, "run cancel asked for");
    let run: Run = warehouse.run(id).await?.into();
    let status = if closed {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::ACCEPTED
    };
    Ok((status, Json(run)))
}
