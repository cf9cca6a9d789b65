//! `/health`, `/metrics` (Prometheus text) and `/openapi.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sqlx::Row as _;

use super::views::{Health, parse_time};
use super::{ApiError, AppState, Caller};

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
    let pool = state.hub().warehouse.pool();
    let db = |e: sqlx::Error| ApiError::Internal(e.to_string());
    let mut out = String::new();

    out.push_str("# HELP vivres_runs Runs in the warehouse by source and status.\n# TYPE vivres_runs gauge\n");
    let rows = sqlx::query("SELECT source, status, count(*) AS n FROM runs GROUP BY source, status ORDER BY source, status")
        .fetch_all(pool)
        .await
        .map_err(db)?;
    for r in &rows {
        let source: String = r.try_get("source").map_err(db)?;
        let status: String = r.try_get("status").map_err(db)?;
        let n: i64 = r.try_get("n").map_err(db)?;
        let _ = writeln!(
            out,
            "vivres_runs{{source=\"{}\",status=\"{}\"}} {n}",
            esc(&source),
            esc(&status)
        );
    }

    out.push_str("# HELP vivres_records_total Records read by sources, by outcome.\n# TYPE vivres_records_total counter\n");
    let rows = sqlx::query(
        "SELECT source, sum(read) AS read, sum(inserted) AS inserted, sum(updated) AS updated, \
         sum(unchanged) AS unchanged, sum(quarantined) AS quarantined FROM runs GROUP BY source ORDER BY source",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    for r in &rows {
        let source: String = r.try_get("source").map_err(db)?;
        for outcome in ["read", "inserted", "updated", "unchanged", "quarantined"] {
            let n: i64 = r.try_get(outcome).map_err(db)?;
            let _ = writeln!(
                out,
                "vivres_records_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(&source)
            );
        }
    }

    out.push_str("# HELP vivres_run_duration_seconds Duration of finished runs.\n# TYPE vivres_run_duration_seconds histogram\n");
    let rows =
        sqlx::query("SELECT source, started_at, ended_at FROM runs WHERE ended_at IS NOT NULL")
            .fetch_all(pool)
            .await
            .map_err(db)?;
    let mut by_source: BTreeMap<String, (u64, f64, [u64; RUN_BUCKETS.len()])> = BTreeMap::new();
    for r in &rows {
        let source: String = r.try_get("source").map_err(db)?;
        let started: String = r.try_get("started_at").map_err(db)?;
        let ended: String = r.try_get("ended_at").map_err(db)?;
        let (Some(a), Some(b)) = (parse_time(&started), parse_time(&ended)) else {
            continue;
        };
        let secs = (b - a).as_seconds_f64().max(0.0);
        let e = by_source
            .entry(source)
            .or_insert((0, 0.0, [0; RUN_BUCKETS.len()]));
        e.0 += 1;
        e.1 += secs;
        for (i, bound) in RUN_BUCKETS.iter().enumerate() {
            if secs <= *bound {
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

    // The plugin host writes one summary line per run into the run's log:
    // "http: N requests, statuses {200: 12, 429: 1}, …".
    out.push_str("# HELP vivres_partner_http_responses_total Responses partners sent to plugins, by status.\n# TYPE vivres_partner_http_responses_total counter\n");
    let rows = sqlx::query(
        "SELECT r.source AS source, l.message AS message FROM run_logs l JOIN runs r ON r.id = l.run_id \
         WHERE l.message LIKE 'http: %'",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut http: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &rows {
        let source: String = r.try_get("source").map_err(db)?;
        let message: String = r.try_get("message").map_err(db)?;
        for (status, n) in http_statuses(&message) {
            *http.entry((source.clone(), status)).or_default() += n;
        }
    }
    for ((source, status), n) in &http {
        let _ = writeln!(
            out,
            "vivres_partner_http_responses_total{{source=\"{}\",status=\"{}\"}} {n}",
            esc(source),
            esc(status)
        );
    }

    // And per stream: "stream S: plugin reads 1.20s, normalising …".
    out.push_str("# HELP vivres_plugin_read_seconds_total Time connector plugins spent answering reads.\n# TYPE vivres_plugin_read_seconds_total counter\n");
    let rows = sqlx::query(
        "SELECT r.source AS source, l.message AS message FROM run_logs l JOIN runs r ON r.id = l.run_id \
         WHERE l.message LIKE 'stream %: plugin reads %'",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut plugin: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        let source: String = r.try_get("source").map_err(db)?;
        let message: String = r.try_get("message").map_err(db)?;
        if let Some(secs) = plugin_read_seconds(&message) {
            *plugin.entry(source).or_default() += secs;
        }
    }
    for (source, secs) in &plugin {
        let _ = writeln!(
            out,
            "vivres_plugin_read_seconds_total{{source=\"{}\"}} {secs}",
            esc(source)
        );
    }

    out.push_str("# HELP vivres_jobs Scheduler jobs by status.\n# TYPE vivres_jobs gauge\n");
    for (status, n) in state.inner.queue.counts().await? {
        let _ = writeln!(out, "vivres_jobs{{status=\"{}\"}} {n}", esc(&status));
    }

    out.push_str("# HELP vivres_api_request_duration_seconds API requests served since start, by route and status.\n# TYPE vivres_api_request_duration_seconds histogram\n");
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

/// `statuses {200: 12, 429: 1}` → [("200", 12), ("429", 1)].
fn http_statuses(message: &str) -> Vec<(String, u64)> {
    let Some(start) = message.find("statuses {") else {
        return Vec::new();
    };
    let rest = &message[start + "statuses {".len()..];
    let Some(end) = rest.find('}') else {
        return Vec::new();
    };
    rest[..end]
        .split(',')
        .filter_map(|pair| {
            let (status, n) = pair.split_once(':')?;
            Some((status.trim().to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

/// `stream s: plugin reads 1.25s, …` → 1.25 (a `Duration` printed with `{:.2?}`).
fn plugin_read_seconds(message: &str) -> Option<f64> {
    let rest = &message[message.find("plugin reads ")? + "plugin reads ".len()..];
    let value = rest.split([',', ' ']).next()?;
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = value.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = value.strip_suffix("ns") {
        (n, 1e-9)
    } else {
        (value.strip_suffix('s')?, 1.0)
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Escapes a Prometheus label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_summary_lines_are_parsed() {
        let m = "http: 14 requests, statuses {200: 12, 429: 2}, 2 retries, waited 1.0s, 0 denied, 0 failed";
        assert_eq!(
            super::http_statuses(m),
            vec![("200".to_string(), 12), ("429".to_string(), 2)]
        );
        assert!(super::http_statuses("http: 0 requests").is_empty());
        let line = "stream deliveries: plugin reads 1.25s, normalising 3.00ms, commits 2.00s";
        assert_eq!(super::plugin_read_seconds(line), Some(1.25));
        let line = "stream x: plugin reads 850.00ms, normalising 1.00ms";
        assert!((super::plugin_read_seconds(line).unwrap() - 0.85).abs() < 1e-9);
    }
}
