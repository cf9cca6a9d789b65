//! `/health`, `/metrics` (Prometheus text) and `/openapi.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::views::Health;
use super::{ApiError, AppState, Caller};
use crate::plugin_host::no_response;

/// Upper bounds of the run-duration histogram, seconds.
const RUN_BUCKETS: [f64; 9] = [1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0];
/// Upper bounds of the API-latency histogram, seconds.
const HTTP_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0];

/// Requests the API served since the hub started.
#[derive(Default)]
pub struct HttpMetrics {
    // A std mutex: held for a counter update, never across an await.
    by_route: Mutex<BTreeMap<(String, String, u16), RouteStats>>,
}

#[derive(Default, Clone)]
struct RouteStats {
    count: u64,
    sum: f64,
    buckets: [u64; HTTP_BUCKETS.len()],
}

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut map) = self.by_route.lock() {
            let stats = map
                .entry((method.to_string(), route.to_string(), status))
                .or_default();
            stats.count += 1;
            stats.sum += secs;
            for (i, bound) in HTTP_BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    stats.buckets[i] += 1;
                }
            }
        }
    }
}

/// Whether the hub is up. No token needed.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "The hub is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The API's OpenAPI 3.1 document (any role).
#[utoipa::path(get, path = "/openapi.json", tag = "ops", security(("bearer" = [])),
    responses(
        (status = 200, description = "OpenAPI 3.1 document", body = Object),
        (status = 401, description = "No valid token", body = super::ErrorBody),
    ))]
pub async fn openapi_json(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<serde_json::Value> {
    Json(
        state
            .inner
            .openapi
            .get()
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    )
}

/// Prometheus metrics: runs by status, records by outcome, run durations,
/// partner HTTP responses by status, plugin read time, queued jobs, API
/// requests (admin).
#[utoipa::path(get, path = "/metrics", tag = "ops", security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Not an admin", body = super::ErrorBody),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let text = render(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

async fn render(state: &AppState) -> Result<String, ApiError> {
    let warehouse = &state.hub().warehouse;
    let db = |e: crate::warehouse::WarehouseError| ApiError::Internal(e.to_string());
    let mut out = String::new();

    out.push_str("# HELP vivres_runs Runs in the warehouse by source and status.\n# TYPE vivres_runs gauge\n");
    for (source, status, n) in warehouse.run_status_counts().await.map_err(db)? {
        let _ = writeln!(
            out,
            "vivres_runs{{source=\"{}\",status=\"{}\"}} {n}",
            esc(&source),
            esc(&status)
        );
    }

    let totals = warehouse.source_totals().await.map_err(db)?;
    out.push_str("# HELP vivres_records_total Records read by sources, by outcome.\n# TYPE vivres_records_total counter\n");
    for t in &totals {
        let c = &t.counts;
        for (outcome, n) in [
            ("read", c.read),
            ("inserted", c.inserted),
            ("updated", c.updated),
            ("unchanged", c.unchanged),
            ("quarantined", c.quarantined),
        ] {
            let _ = writeln!(
                out,
                "vivres_records_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(&t.source)
            );
        }
    }

    out.push_str("# HELP vivres_run_duration_seconds Duration of finished runs.\n# TYPE vivres_run_duration_seconds histogram\n");
    let mut by_source: BTreeMap<String, (u64, f64, [u64; RUN_BUCKETS.len()])> = BTreeMap::new();
    for d in warehouse.run_durations().await.map_err(db)? {
        let e = by_source
            .entry(d.source)
            .or_insert((0, 0.0, [0; RUN_BUCKETS.len()]));
        e.0 += 1;
        e.1 += d.seconds;
        for (i, bound) in RUN_BUCKETS.iter().enumerate() {
            if d.seconds <= *bound {
                e.2[i] += 1;
            }
        }
    }
    for (source, (count, sum, buckets)) in &by_source {
        let s = esc(source);
        for (i, bound) in RUN_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "vivres_run_duration_seconds_bucket{{source=\"{s}\",le=\"{bound}\"}} {}",
                buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "vivres_run_duration_seconds_bucket{{source=\"{s}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "vivres_run_duration_seconds_sum{{source=\"{s}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "vivres_run_duration_seconds_count{{source=\"{s}\"}} {count}"
        );
    }

    // Read from `run_http`: the run's figures as columns, not its log.
    let http = warehouse.http_responses().await.map_err(db)?;
    out.push_str("# HELP vivres_partner_http_responses_total Responses partners sent to plugins, by source and status (404s and 5xx included, retries counted each).\n# TYPE vivres_partner_http_responses_total counter\n");
    for (source, status, n) in http.iter().filter(|(_, status, _)| *status >= 100) {
        let _ = writeln!(
            out,
            "vivres_partner_http_responses_total{{source=\"{}\",status=\"{status}\"}} {n}",
            esc(source)
        );
    }
    out.push_str("# HELP vivres_partner_http_failures_total Requests to partners that got no response, by source and reason (timeout, connect, transport).\n# TYPE vivres_partner_http_failures_total counter\n");
    for (source, code, n) in &http {
        if let Some(reason) = no_response::reason(*code) {
            let _ = writeln!(
                out,
                "vivres_partner_http_failures_total{{source=\"{}\",reason=\"{reason}\"}} {n}",
                esc(source)
            );
        }
    }

    out.push_str("# HELP vivres_plugin_read_seconds_total Time connector plugins spent answering reads.\n# TYPE vivres_plugin_read_seconds_total counter\n");
    for t in &totals {
        let _ = writeln!(
            out,
            "vivres_plugin_read_seconds_total{{source=\"{}\"}} {}",
            esc(&t.source),
            t.plugin_read_seconds
        );
    }

    out.push_str("# HELP vivres_jobs Scheduler jobs by status.\n# TYPE vivres_jobs gauge\n");
    for (status, n) in state.inner.queue.counts().await? {
        let _ = writeln!(out, "vivres_jobs{{status=\"{}\"}} {n}", esc(&status));
    }

    out.push_str("# HELP vivres_api_request_duration_seconds API requests served since start, by method, route and status (route `unmatched`: no route).\n# TYPE vivres_api_request_duration_seconds histogram\n");
    let snapshot = state
        .inner
        .metrics
        .by_route
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    for ((method, route, status), stats) in &snapshot {
        let labels = format!(
            "method=\"{}\",route=\"{}\",status=\"{status}\"",
            esc(method),
            esc(route)
        );
        for (i, bound) in HTTP_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "vivres_api_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                stats.buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "vivres_api_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            stats.count
        );
        let _ = writeln!(
            out,
            "vivres_api_request_duration_seconds_sum{{{labels}}} {}",
            stats.sum
        );
        let _ = writeln!(
            out,
            "vivres_api_request_duration_seconds_count{{{labels}}} {}",
            stats.count
        );
    }
    Ok(out)
}

/// Escapes a Prometheus label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
