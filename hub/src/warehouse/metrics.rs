// What `/metrics` reads: columns of `runs`, `run_streams` and `run_http`,
// never log lines. Portable statements, compiled once per backend (included
// by `sqlite.rs` and `postgres.rs`).

use sqlx::Row as _;
use time::OffsetDateTime;

use super::Pool;
use crate::warehouse::{Counts, RunDuration, SourceTotals, WarehouseError};

pub async fn run_status_counts(pool: &Pool) -> Result<Vec<(String, String, i64)>, WarehouseError> {
    Ok(sqlx::query_as(
        "SELECT source, status, count(*) FROM runs GROUP BY source, status ORDER BY source, status",
    )
    .fetch_all(pool)
    .await?)
}

pub async fn source_totals(pool: &Pool) -> Result<Vec<SourceTotals>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT r.source AS source, CAST(sum(r.read) AS BIGINT) AS read, \
         CAST(sum(r.inserted) AS BIGINT) AS inserted, CAST(sum(r.updated) AS BIGINT) AS updated, \
         CAST(sum(r.unchanged) AS BIGINT) AS unchanged, CAST(sum(r.quarantined) AS BIGINT) AS quarantined, \
         CAST(coalesce(sum(s.read_ms), 0) AS BIGINT) AS read_ms \
         FROM runs r LEFT JOIN (SELECT run_id, CAST(sum(read_ms) AS BIGINT) AS read_ms FROM run_streams GROUP BY run_id) s \
         ON s.run_id = r.id GROUP BY r.source ORDER BY r.source",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let n = |c: &str| -> Result<u64, sqlx::Error> {
                Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0).max(0) as u64)
            };
            Ok(SourceTotals {
                source: r.try_get("source")?,
                counts: Counts {
                    read: n("read")?,
                    inserted: n("inserted")?,
                    updated: n("updated")?,
                    unchanged: n("unchanged")?,
                    quarantined: n("quarantined")?,
                },
                plugin_read_seconds: n("read_ms")? as f64 / 1000.0,
            })
        })
        .collect()
}

pub async fn run_durations(pool: &Pool) -> Result<Vec<RunDuration>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT source, started_at, ended_at FROM runs WHERE ended_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let a: OffsetDateTime = r.try_get("started_at")?;
            let b: OffsetDateTime = r.try_get("ended_at")?;
            Ok(RunDuration {
                source: r.try_get("source")?,
                seconds: (b - a).as_seconds_f64().max(0.0),
            })
        })
        .collect()
}

/// (source, status, count) summed over runs: statuses of responses, and
/// below 100 the attempts without response by reason (the plugin host's
/// `no_response` codes); 0, the runs' total of failures, is left out.
pub async fn http_responses(pool: &Pool) -> Result<Vec<(String, u16, i64)>, WarehouseError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT r.source, h.status, CAST(sum(h.responses) AS BIGINT) FROM run_http h \
         JOIN runs r ON r.id = h.run_id WHERE h.status > 0 GROUP BY r.source, h.status \
         ORDER BY r.source, h.status",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, status, n)| (s, u16::try_from(status).unwrap_or(0), n))
        .collect())
}
