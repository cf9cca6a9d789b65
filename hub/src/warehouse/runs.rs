// Runs, their per-stream and HTTP figures and their logs: portable
// statements, compiled once per backend (included by `sqlite.rs` and
// `postgres.rs`).

use sqlx::{QueryBuilder, Row as _};
use time::OffsetDateTime;

use super::{DB, Pool};
use crate::warehouse::{
    Counts, HttpFigures, LogRecord, RunReport, RunStatus, SourcePause, StreamFigures,
    WarehouseError, hostname, node_id, now, owner_is_alive, rfc3339,
};

const RUN_COLUMNS: &str = "id, source, status, full_refresh, started_at, ended_at, connector, \
    connector_version, batches, read, inserted, updated, unchanged, quarantined, removed, error_kind, error, \
    trigger_kind, token_name, files_read, files_ignored";

/// `node`: the node that runs it now (`None`: queued for whichever node takes its job).
pub async fn start_run(
    pool: &Pool,
    source: &str,
    full_refresh: bool,
    node: Option<&str>,
) -> Result<i64, WarehouseError> {
    // The partial unique index `runs_one_running` admits one running run per
    // source: the insert is the lock. A loser looks at the winner and, if its
    // process is gone, closes its run and tries again.
    for _ in 0..3 {
        let at = now();
        let inserted = sqlx::query_scalar(
            "INSERT INTO runs (source, status, full_refresh, started_at, heartbeat_at, owner_pid, owner_host, node_id) \
             VALUES ($1, 'running', $2, $3, $3, $4, $5, $6) RETURNING id",
        )
        .bind(source)
        .bind(full_refresh)
        .bind(at)
        .bind(i64::from(std::process::id()))
        .bind(hostname())
        .bind(node)
        .fetch_one(pool)
        .await;
        let error = match inserted {
            Ok(id) => return Ok(id),
            Err(e) => WarehouseError::Database(e),
        };
        if !error.is_unique_violation() {
            return Err(error);
        }
        let Some(row) = sqlx::query(
            "SELECT id, owner_pid, owner_host, heartbeat_at FROM runs WHERE source = $1 AND status = 'running'",
        )
        .bind(source)
        .fetch_optional(pool)
        .await?
        else {
            // It ended in between: try again.
            continue;
        };
        let id: i64 = row.try_get("id")?;
        let pid: Option<i64> = row.try_get("owner_pid")?;
        let host: Option<String> = row.try_get("owner_host")?;
        let heartbeat: OffsetDateTime = row.try_get("heartbeat_at")?;
        if owner_is_alive(pid, host.as_deref(), heartbeat) {
            return Err(WarehouseError::AlreadyRunning {
                source_id: source.to_string(),
                run_id: id,
            });
        }
        // Its end is when its process last committed (its lease may have
        // been renewed since), not now. Only if its lease is as seen: a node
        // may have taken it over since.
        sqlx::query(
            "UPDATE runs SET status = 'interrupted', ended_at = coalesce(committed_at, started_at), \
             error_kind = 'interrupted', \
             error = 'the process running it stopped before it finished; the next run resumed from its last checkpoint' \
             WHERE id = $1 AND status = 'running' AND heartbeat_at = $2",
        )
        .bind(id)
        .bind(heartbeat)
        .execute(pool)
        .await?;
    }
    Err(WarehouseError::AlreadyRunning {
        source_id: source.to_string(),
        run_id: 0,
    })
}

pub async fn set_trigger(
    pool: &Pool,
    run_id: i64,
    trigger: &str,
    token_name: Option<&str>,
) -> Result<(), WarehouseError> {
    sqlx::query("UPDATE runs SET trigger_kind = $1, token_name = $2 WHERE id = $3")
        .bind(trigger)
        .bind(token_name)
        .bind(run_id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn set_files(
    pool: &Pool,
    run_id: i64,
    read: &[String],
    ignored: &[String],
) -> Result<(), WarehouseError> {
    let json = |names: &[String]| serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
    sqlx::query("UPDATE runs SET files_read = $1, files_ignored = $2 WHERE id = $3")
        .bind(json(read))
        .bind(json(ignored))
        .bind(run_id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn set_connector(
    pool: &Pool,
    run_id: i64,
    name: &str,
    version: &str,
) -> Result<(), WarehouseError> {
    sqlx::query("UPDATE runs SET connector = $1, connector_version = $2 WHERE id = $3")
        .bind(name)
        .bind(version)
        .bind(run_id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn finish_run(
    pool: &Pool,
    run_id: i64,
    status: RunStatus,
    error: Option<(&str, &str)>,
    logs: &[LogRecord],
) -> Result<(), WarehouseError> {
    let mut tx = super::begin_write(pool).await?;
    // A run another node holds now (it took it over) is not this one's to
    // end, nor to log into.
    let ended = sqlx::query(
        "UPDATE runs SET status = $1, ended_at = $2, error_kind = $3, error = $4 WHERE id = $5 \
         AND (node_id IS NULL OR node_id = $6)",
    )
    .bind(status.as_str())
    .bind(now())
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| e.1))
    .bind(run_id)
    .bind(node_id())
    .execute(&mut *tx)
    .await?;
    if ended.rows_affected() == 1 {
        super::batches::insert_logs(&mut tx, run_id, logs).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn record_stream(
    pool: &Pool,
    run_id: i64,
    f: &StreamFigures,
) -> Result<(), WarehouseError> {
    let mut tx = super::begin_write(pool).await?;
    sqlx::query(
        "INSERT INTO run_streams (run_id, stream, batches, read, inserted, updated, unchanged, quarantined, \
         removed, read_ms, normalise_ms, commit_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (run_id, stream) DO UPDATE SET batches = excluded.batches, read = excluded.read, \
         inserted = excluded.inserted, updated = excluded.updated, unchanged = excluded.unchanged, \
         quarantined = excluded.quarantined, removed = excluded.removed, read_ms = excluded.read_ms, \
         normalise_ms = excluded.normalise_ms, commit_ms = excluded.commit_ms",
    )
    .bind(run_id)
    .bind(&f.stream)
    .bind(f.batches as i64)
    .bind(f.counts.read as i64)
    .bind(f.counts.inserted as i64)
    .bind(f.counts.updated as i64)
    .bind(f.counts.unchanged as i64)
    .bind(f.counts.quarantined as i64)
    .bind(f.removed as i64)
    .bind(f.read_ms as i64)
    .bind(f.normalise_ms as i64)
    .bind(f.commit_ms as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE runs SET removed = removed + $1 WHERE id = $2")
        .bind(f.removed as i64)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn record_http(pool: &Pool, run_id: i64, h: &HttpFigures) -> Result<(), WarehouseError> {
    let mut tx = super::begin_write(pool).await?;
    sqlx::query(
        "UPDATE runs SET http_requests = $1, http_retries = $2, http_denied = $3, http_failures = $4, \
         http_waited_ms = $5 WHERE id = $6",
    )
    .bind(h.requests as i64)
    .bind(h.retries as i64)
    .bind(h.denied as i64)
    .bind(h.failures as i64)
    .bind(h.waited_ms as i64)
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    let mut by_status = h.by_status.clone();
    if h.failures > 0 {
        by_status.push((0, h.failures));
    }
    if !by_status.is_empty() {
        let mut q: QueryBuilder<DB> =
            QueryBuilder::new("INSERT INTO run_http (run_id, status, responses) ");
        q.push_values(&by_status, |mut b, (status, n)| {
            b.push_bind(run_id)
                .push_bind(i64::from(*status))
                .push_bind(*n as i64);
        });
        q.push(" ON CONFLICT (run_id, status) DO UPDATE SET responses = excluded.responses");
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn report(row: &<DB as sqlx::Database>::Row) -> Result<RunReport, WarehouseError> {
    let n = |c: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(RunReport {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        status: RunStatus::parse(&row.try_get::<String, _>("status")?),
        full_refresh: row.try_get("full_refresh")?,
        started_at: rfc3339(row.try_get("started_at")?),
        ended_at: row
            .try_get::<Option<OffsetDateTime>, _>("ended_at")?
            .map(rfc3339),
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
        removed: n("removed")?,
        error_kind: row.try_get("error_kind")?,
        error: row.try_get("error")?,
        trigger: row.try_get("trigger_kind")?,
        token_name: row.try_get("token_name")?,
        files_read: names(row.try_get("files_read")?),
        files_ignored: names(row.try_get("files_ignored")?),
    })
}

/// A JSON array of file names, as stored (nothing for anything else).
fn names(json: Option<String>) -> Vec<String> {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

pub async fn run(pool: &Pool, run_id: i64) -> Result<RunReport, WarehouseError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"
    )))
    .bind(run_id)
    .fetch_optional(pool)
    .await?
    .ok_or(WarehouseError::NoSuchRun(run_id))?;
    report(&row)
}

pub async fn runs_page(
    pool: &Pool,
    sources: Option<&[String]>,
    status: Option<RunStatus>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<RunReport>, WarehouseError> {
    let mut q: QueryBuilder<DB> =
        QueryBuilder::new(format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1"));
    if let Some(sources) = sources {
        q.push(" AND source IN (");
        let mut list = q.separated(", ");
        for s in sources {
            list.push_bind(s.as_str());
        }
        list.push_unseparated(")");
    }
    if let Some(status) = status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(before) = before {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(report).collect()
}

pub async fn run_streams(pool: &Pool, run_id: i64) -> Result<Vec<StreamFigures>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT stream, batches, read, inserted, updated, unchanged, quarantined, removed, read_ms, \
         normalise_ms, commit_ms FROM run_streams WHERE run_id = $1 ORDER BY stream",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let n = |c: &str| -> Result<u64, sqlx::Error> {
                Ok(r.try_get::<i64, _>(c)?.max(0) as u64)
            };
            Ok(StreamFigures {
                stream: r.try_get("stream")?,
                batches: n("batches")?,
                counts: Counts {
                    read: n("read")?,
                    inserted: n("inserted")?,
                    updated: n("updated")?,
                    unchanged: n("unchanged")?,
                    quarantined: n("quarantined")?,
                },
                removed: n("removed")?,
                read_ms: n("read_ms")?,
                normalise_ms: n("normalise_ms")?,
                commit_ms: n("commit_ms")?,
            })
        })
        .collect()
}

pub async fn run_http(pool: &Pool, run_id: i64) -> Result<HttpFigures, WarehouseError> {
    let row = sqlx::query(
        "SELECT http_requests, http_retries, http_denied, http_failures, http_waited_ms FROM runs WHERE id = $1",
    )
    .bind(run_id)
    .fetch_optional(pool)
    .await?
    .ok_or(WarehouseError::NoSuchRun(run_id))?;
    let n = |c: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    let by_status: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT status, responses FROM run_http WHERE run_id = $1 AND status > 0 ORDER BY status",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    Ok(HttpFigures {
        requests: n("http_requests")?,
        retries: n("http_retries")?,
        denied: n("http_denied")?,
        failures: n("http_failures")?,
        waited_ms: n("http_waited_ms")?,
        by_status: by_status
            .into_iter()
            .map(|(s, c)| (u16::try_from(s).unwrap_or(0), c.max(0) as u64))
            .collect(),
    })
}

pub async fn run_logs(pool: &Pool, run_id: i64) -> Result<Vec<LogRecord>, WarehouseError> {
    let rows = sqlx::query("SELECT at, level, message FROM run_logs WHERE run_id = $1 ORDER BY seq")
        .bind(run_id)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(LogRecord {
                at: rfc3339(r.try_get("at")?),
                level: r.try_get("level")?,
                message: r.try_get("message")?,
            })
        })
        .collect()
}

/// Asks a running run to stop: its process sees the request within a
/// second ([`cancel_requested`]) and ends it `cancelled`. A run whose
/// process is gone is closed `cancelled` here. Returns whether it was closed
/// here (`false`: its process will); a run that is not running is refused.
pub async fn request_cancel(pool: &Pool, run_id: i64) -> Result<bool, WarehouseError> {
    let row = sqlx::query("SELECT status, owner_pid, owner_host, heartbeat_at FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(pool)
        .await?
        .ok_or(WarehouseError::NoSuchRun(run_id))?;
    let status: String = row.try_get("status")?;
    if status != "running" {
        return Err(WarehouseError::NotRunning { run_id, status });
    }
    let pid: Option<i64> = row.try_get("owner_pid")?;
    let host: Option<String> = row.try_get("owner_host")?;
    let heartbeat: OffsetDateTime = row.try_get("heartbeat_at")?;
    sqlx::query(
        "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, $1) WHERE id = $2",
    )
    .bind(now())
    .bind(run_id)
    .execute(pool)
    .await?;
    if owner_is_alive(pid, host.as_deref(), heartbeat) {
        return Ok(false);
    }
    let closed = sqlx::query(
        "UPDATE runs SET status = 'cancelled', ended_at = coalesce(committed_at, started_at), \
         error_kind = 'cancelled', error = 'cancelled; the process running it had already stopped' \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(run_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(closed > 0)
}

/// Whether a cancel was asked for this run.
pub async fn cancel_requested(pool: &Pool, run_id: i64) -> Result<bool, WarehouseError> {
    let at: Option<Option<OffsetDateTime>> =
        sqlx::query_scalar("SELECT cancel_requested_at FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
    Ok(at.flatten().is_some())
}

/// Failed runs of a source since its last success and since it was last
/// paused (a resume starts the count again). A partner that is unavailable
/// is retried with backoff and does not count: the source is not at fault.
pub async fn failures_in_a_row(pool: &Pool, source: &str) -> Result<u64, WarehouseError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM runs WHERE source = $1 AND status = 'failed' \
         AND coalesce(error_kind, '') <> 'partner_unavailable' \
         AND id > coalesce((SELECT max(id) FROM runs WHERE source = $1 AND status = 'succeeded'), 0) \
         AND id > coalesce((SELECT run_id FROM source_pauses WHERE source = $1), 0)",
    )
    .bind(source)
    .fetch_one(pool)
    .await?;
    Ok(n.max(0) as u64)
}

pub async fn pause_source(
    pool: &Pool,
    source: &str,
    run_id: i64,
    failures: u64,
    reason: &str,
) -> Result<(), WarehouseError> {
    sqlx::query(
        "INSERT INTO source_pauses (source, paused_at, run_id, failures, reason) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (source) DO UPDATE SET paused_at = excluded.paused_at, run_id = excluded.run_id, \
         failures = excluded.failures, reason = excluded.reason, resumed_at = NULL, resumed_by = NULL",
    )
    .bind(source)
    .bind(now())
    .bind(run_id)
    .bind(failures as i64)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

fn pause(row: &<DB as sqlx::Database>::Row) -> Result<SourcePause, WarehouseError> {
    Ok(SourcePause {
        source: row.try_get("source")?,
        paused_at: rfc3339(row.try_get("paused_at")?),
        run_id: row.try_get("run_id")?,
        failures: row.try_get::<i64, _>("failures")?.max(0) as u64,
        reason: row.try_get("reason")?,
    })
}

/// The sources paused now (one, or all).
pub async fn pauses(pool: &Pool, source: Option<&str>) -> Result<Vec<SourcePause>, WarehouseError> {
    let mut q: QueryBuilder<DB> = QueryBuilder::new(
        "SELECT source, paused_at, run_id, failures, reason FROM source_pauses WHERE resumed_at IS NULL",
    );
    if let Some(source) = source {
        q.push(" AND source = ").push_bind(source);
    }
    q.push(" ORDER BY source");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(pause).collect()
}

/// Lifts a source's pause; `None` if it was not paused.
pub async fn resume_source(
    pool: &Pool,
    source: &str,
    by: &str,
) -> Result<Option<SourcePause>, WarehouseError> {
    let row = sqlx::query(
        "UPDATE source_pauses SET resumed_at = $1, resumed_by = $2 WHERE source = $3 AND resumed_at IS NULL \
         RETURNING source, paused_at, run_id, failures, reason",
    )
    .bind(now())
    .bind(by)
    .bind(source)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(pause).transpose()
}
