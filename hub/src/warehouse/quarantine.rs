// The quarantine: portable statements, compiled once per backend (included
// by `sqlite.rs` and `postgres.rs`).

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Pool};
use crate::warehouse::{QuarantineEntry, WarehouseError};

/// Entries of a source or a run; without a run, only the open ones.
pub async fn list(
    pool: &Pool,
    source: Option<&str>,
    run: Option<i64>,
    limit: i64,
) -> Result<Vec<QuarantineEntry>, WarehouseError> {
    let mut q: QueryBuilder<DB> = QueryBuilder::new(
        "SELECT id, source, stream, run_id, origin, line, cell, reason, field, detail, payload_hash \
         FROM quarantine WHERE 1 = 1",
    );
    if let Some(source) = source {
        q.push(" AND source = ").push_bind(source);
    }
    match run {
        Some(run) => {
            q.push(" AND run_id = ").push_bind(run);
        }
        None => {
            q.push(" AND replayed_by IS NULL");
        }
    }
    q.push(" ORDER BY id LIMIT ").push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(QuarantineEntry {
                id: r.try_get("id")?,
                source: r.try_get("source")?,
                stream: r.try_get("stream")?,
                run_id: r.try_get("run_id")?,
                origin: r.try_get("origin")?,
                line: r.try_get("line")?,
                cell: r.try_get("cell")?,
                reason: r.try_get("reason")?,
                field: r.try_get("field")?,
                detail: r.try_get("detail")?,
                payload_hash: r.try_get("payload_hash")?,
            })
        })
        .collect()
}

pub async fn mark_replayed(pool: &Pool, source: &str, run_id: i64) -> Result<u64, WarehouseError> {
    Ok(sqlx::query(
        "UPDATE quarantine SET replayed_by = $1 WHERE source = $2 AND run_id < $1 AND replayed_by IS NULL",
    )
    .bind(run_id)
    .bind(source)
    .execute(pool)
    .await?
    .rows_affected())
}
