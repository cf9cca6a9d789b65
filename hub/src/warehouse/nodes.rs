// Hub nodes, run leases and schedule ticks: portable statements, compiled
// once per backend (included by `sqlite.rs` and `postgres.rs`).
//
// A running run's lease is its (`node_id`, `heartbeat_at`): the node renews
// it with its own heartbeat; every change of hands is one conditional UPDATE
// whose WHERE states what the changer saw, so of two nodes racing for a run
// exactly one sees a row updated.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::Pool;
use crate::warehouse::{
    Claim, NodeRow, NodeRun, WarehouseError, hostname, node_id, now, rfc3339,
};

/// Registers this process as a node (again, if a test serves twice from
/// one process).
pub async fn register(pool: &Pool, version: &str) -> Result<(), WarehouseError> {
    let at = now();
    sqlx::query(
        "INSERT INTO nodes (id, host, pid, version, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, \
         heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
    )
    .bind(node_id())
    .bind(hostname())
    .bind(i64::from(std::process::id()))
    .bind(version)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Renews this node's heartbeat and the leases of the runs it holds, in one
/// transaction; returns the runs it still holds.
pub async fn beat(pool: &Pool) -> Result<Vec<i64>, WarehouseError> {
    let at = now();
    let mut tx = super::begin_write(pool).await?;
    sqlx::query("UPDATE nodes SET heartbeat_at = $1 WHERE id = $2")
        .bind(at)
        .bind(node_id())
        .execute(&mut *tx)
        .await?;
    let held: Vec<i64> = sqlx::query_scalar(
        "UPDATE runs SET heartbeat_at = $1 WHERE node_id = $2 AND status = 'running' RETURNING id",
    )
    .bind(at)
    .bind(node_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(held)
}

/// Marks this node stopped (a clean shutdown).
pub async fn stop(pool: &Pool) -> Result<(), WarehouseError> {
    sqlx::query("UPDATE nodes SET stopped_at = $1, heartbeat_at = $1 WHERE id = $2")
        .bind(now())
        .bind(node_id())
        .execute(pool)
        .await?;
    Ok(())
}

/// Nodes not stopped whose heartbeat is at or after `since`, with the runs
/// each holds, oldest node first.
pub async fn live(pool: &Pool, since: OffsetDateTime) -> Result<Vec<NodeRow>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT n.id, n.host, n.pid, n.version, n.started_at, n.heartbeat_at, r.id AS run_id, r.source \
         FROM nodes n LEFT JOIN runs r ON r.node_id = n.id AND r.status = 'running' \
         WHERE n.stopped_at IS NULL AND n.heartbeat_at >= $1 ORDER BY n.started_at, n.id, r.id",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<NodeRow> = Vec::new();
    for r in &rows {
        let id: String = r.try_get("id")?;
        if out.last().is_none_or(|n| n.id != id) {
            out.push(NodeRow {
                id,
                host: r.try_get("host")?,
                pid: r.try_get("pid")?,
                version: r.try_get("version")?,
                started_at: rfc3339(r.try_get("started_at")?),
                heartbeat_at: rfc3339(r.try_get("heartbeat_at")?),
                runs: Vec::new(),
            });
        }
        if let (Some(run_id), Some(source)) = (
            r.try_get::<Option<i64>, _>("run_id")?,
            r.try_get::<Option<String>, _>("source")?,
        ) && let Some(node) = out.last_mut()
        {
            node.runs.push(NodeRun { run_id, source });
        }
    }
    Ok(out)
}

/// Takes a queued run (no node yet) for this node. A run some node already
/// holds, or one that ended, is left alone.
pub async fn claim(pool: &Pool, run_id: i64) -> Result<Claim, WarehouseError> {
    let taken = sqlx::query(
        "UPDATE runs SET node_id = $1, heartbeat_at = $2, owner_pid = $3, owner_host = $4 \
         WHERE id = $5 AND status = 'running' AND node_id IS NULL",
    )
    .bind(node_id())
    .bind(now())
    .bind(i64::from(std::process::id()))
    .bind(hostname())
    .bind(run_id)
    .execute(pool)
    .await?
    .rows_affected();
    if taken == 1 {
        return Ok(Claim::Ours);
    }
    let row = sqlx::query("SELECT status, node_id, takeovers FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(pool)
        .await?
        .ok_or(WarehouseError::NoSuchRun(run_id))?;
    let status: String = row.try_get("status")?;
    let node: Option<String> = row.try_get("node_id")?;
    let takeovers: i64 = row.try_get("takeovers")?;
    Ok(if status == "running" {
        Claim::Held(node.unwrap_or_default())
    } else {
        Claim::Ended {
            taken_over: takeovers > 0,
        }
    })
}

/// Running runs held by a node (a `vivres serve` process) whose lease is
/// older than `stale`: (run, node).
pub async fn stale(
    pool: &Pool,
    stale: OffsetDateTime,
) -> Result<Vec<(i64, String)>, WarehouseError> {
    Ok(sqlx::query_as(
        "SELECT r.id, r.node_id FROM runs r JOIN nodes n ON n.id = r.node_id \
         WHERE r.status = 'running' AND r.heartbeat_at < $1 ORDER BY r.id",
    )
    .bind(stale)
    .fetch_all(pool)
    .await?)
}

/// Takes over run `run_id` from `from`, whose lease went stale before
/// `stale`: true for the one node whose UPDATE found it so.
pub async fn take_over(
    pool: &Pool,
    run_id: i64,
    from: &str,
    stale: OffsetDateTime,
) -> Result<bool, WarehouseError> {
    let done = sqlx::query(
        "UPDATE runs SET node_id = $1, heartbeat_at = $2, owner_pid = $3, owner_host = $4, \
         takeovers = takeovers + 1 \
         WHERE id = $5 AND status = 'running' AND node_id = $6 AND heartbeat_at < $7",
    )
    .bind(node_id())
    .bind(now())
    .bind(i64::from(std::process::id()))
    .bind(hostname())
    .bind(run_id)
    .bind(from)
    .bind(stale)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims a tick of a source's schedule for this node: true for the one
/// node that queues it.
pub async fn claim_tick(pool: &Pool, source: &str, tick: i64) -> Result<bool, WarehouseError> {
    let done = sqlx::query(
        "INSERT INTO schedule_ticks (source, tick_at, node_id, claimed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (source, tick_at) DO NOTHING",
    )
    .bind(source)
    .bind(tick)
    .bind(node_id())
    .bind(now())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the run queued for a claimed tick.
pub async fn set_tick_run(
    pool: &Pool,
    source: &str,
    tick: i64,
    run_id: i64,
) -> Result<(), WarehouseError> {
    sqlx::query("UPDATE schedule_ticks SET run_id = $1 WHERE source = $2 AND tick_at = $3")
        .bind(run_id)
        .bind(source)
        .bind(tick)
        .execute(pool)
        .await?;
    Ok(())
}

/// The latest claimed tick of a source (seconds since 1970).
pub async fn last_tick(pool: &Pool, source: &str) -> Result<Option<i64>, WarehouseError> {
    Ok(
        sqlx::query_scalar("SELECT max(tick_at) FROM schedule_ticks WHERE source = $1")
            .bind(source)
            .fetch_one(pool)
            .await?,
    )
}
