//! Several nodes on one warehouse: heartbeats, run leases and takeovers,
//! and each schedule tick queued by one node only.
//!
//! Every `vivres serve` process is a node (a row of `nodes`). A running run
//! is held by one node: its lease is the run's `heartbeat_at`, which the
//! node renews for all the runs it holds every third of `[limits]
//! lease_seconds`. A queued run (the API or a tick started it) is held by no
//! node until a worker takes its job and claims it. A node that stops
//! beating (killed, frozen, cut off from the database) has its runs taken
//! over by another node once their lease is older than `lease_seconds`:
//! one conditional UPDATE on the stale lease decides, so exactly one node
//! wins, and the winner resumes the run from its last committed checkpoints
//! under the same run id. The loser of a lease is fenced: its next commit
//! finds the run held by another node and is rolled back.
//!
//! apalis locks each job to one worker (`FOR UPDATE SKIP LOCKED`) and
//! queues a dead worker's jobs again after its own timeout; such a job finds
//! its run held or ended and is dropped. Cron fires on every node: the tick
//! is claimed in `schedule_ticks` (primary key (source, tick)) before it is
//! queued, so one node queues it.

use std::sync::Arc;
use std::time::Duration;

use super::{Context, Queue, SchedulerError, SyncJob, Trigger};
use crate::warehouse::{Claim, Warehouse, WarehouseError};

/// The lease of a run: how long without a heartbeat before a takeover.
pub fn lease(hub: &crate::app::Hub) -> Duration {
    Duration::from_secs(u64::from(hub.config.limits.lease_seconds.max(2)))
}

/// The instant before which a lease renewed then is stale.
pub fn stale_before(lease: Duration) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - lease
}

/// Beats and takes over stale runs until the scheduler stops.
pub(super) async fn run(ctx: Arc<Context>) -> Result<(), SchedulerError> {
    let lease = lease(&ctx.hub);
    let mut every = tokio::time::interval(lease / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Ok(()),
            _ = every.tick() => {}
        }
        // A database that does not answer for a moment is no reason to stop
        // the node: the leases say whether its runs are still its own.
        if let Err(e) = ctx.hub.warehouse.node_beat().await {
            tracing::warn!(error = %e, "node heartbeat failed");
            continue;
        }
        if let Err(e) = take_over_stale(&ctx, lease).await {
            tracing::warn!(error = %e, "looking for runs to take over failed");
        }
    }
}

/// Takes over the runs whose node's lease went stale, and resumes each.
async fn take_over_stale(ctx: &Arc<Context>, lease: Duration) -> Result<(), WarehouseError> {
    let warehouse = &ctx.hub.warehouse;
    let stale = stale_before(lease);
    for (run_id, from) in warehouse.stale_runs(stale).await? {
        if ctx.cancel.is_cancelled() {
            break;
        }
        if from == crate::warehouse::node_id() {
            // Ours: our own beat was late, the run is still working here.
            continue;
        }
        if !warehouse.take_over_run(run_id, &from, stale).await? {
            continue;
        }
        let report = warehouse.run(run_id).await?;
        tracing::warn!(
            run = run_id,
            source = %report.source,
            from = %from,
            lease_secs = lease.as_secs(),
            "took over a run whose node stopped renewing its lease; resuming it from its last checkpoint"
        );
        let job = SyncJob {
            run_id: Some(run_id),
            full_refresh: report.full_refresh,
            ..SyncJob::new(report.source, Trigger::Resume)
        };
        let ctx2 = ctx.clone();
        ctx.tracker.spawn(async move {
            if let Err(e) = super::run_job(ctx2, job, Some(run_id)).await {
                tracing::error!(run = run_id, error = %e, "resuming a taken-over run failed");
            }
        });
    }
    Ok(())
}

/// A job that carries the run it was queued for: this node claims it.
/// `Ok(Some(run))` to run it (`None`: start a new run), `Ok(None)` to drop
/// the job (another node holds its run, or took it over and finished it).
pub(super) async fn claim(
    warehouse: &Warehouse,
    run_id: i64,
) -> Result<Option<Option<i64>>, SchedulerError> {
    match warehouse.claim_run(run_id).await {
        Ok(Claim::Ours) => Ok(Some(Some(run_id))),
        Ok(Claim::Held(node)) => {
            tracing::info!(run = run_id, node = %node, "skipped: another node holds this run");
            Ok(None)
        }
        Ok(Claim::Ended { taken_over: true }) => {
            tracing::info!(
                run = run_id,
                "skipped: this run was taken over by another node and has ended"
            );
            Ok(None)
        }
        // It ended otherwise (closed by a restart, or a panic): a new run.
        Ok(Claim::Ended { taken_over: false }) | Err(WarehouseError::NoSuchRun(_)) => {
            Ok(Some(None))
        }
        Err(e) => Err(e.into()),
    }
}

/// Queues a tick of a source's schedule, once whatever the number of nodes
/// whose cron fired it: the tick is claimed, its run started (so that a job
/// queued again after its node died finds it) and its job queued.
pub(super) async fn queue_tick(
    warehouse: &Warehouse,
    queue: &Queue,
    source: &str,
    tick: i64,
) -> Result<(), SchedulerError> {
    if !warehouse.claim_tick(source, tick).await? {
        tracing::debug!(source, tick, "another node queued this tick");
        return Ok(());
    }
    let run_id = match warehouse.queue_run(source, false).await {
        Ok(id) => id,
        Err(WarehouseError::AlreadyRunning { run_id, .. }) => {
            tracing::info!(
                source,
                running = run_id,
                "tick skipped: the source is already syncing"
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    warehouse.set_tick_run(source, tick, run_id).await?;
    let job = SyncJob {
        run_id: Some(run_id),
        ..SyncJob::new(source, Trigger::Schedule)
    };
    queue
        .push_started(job, Some(format!("schedule:{source}:{tick}")))
        .await
}

/// On SQLite, the one node a warehouse file takes: an exclusive lock on a
/// file beside it, held while `vivres serve` runs (the kernel drops it when
/// the process dies, however it dies).
pub struct SqliteNodeLock {
    _file: Option<std::fs::File>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "another `vivres serve` already runs on this SQLite warehouse{holder}: SQLite takes one node; stop that one first, or move the warehouse to PostgreSQL to run several nodes (README: the scaling path)"
    )]
    SecondSqliteNode { holder: String },
    #[error("cannot take the node lock {path}: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl SqliteNodeLock {
    /// Takes the node lock of the SQLite warehouse `url` names (nothing to
    /// take on PostgreSQL or in memory), or says which node holds it.
    pub async fn acquire(
        url: &str,
        warehouse: &Warehouse,
        lease: Duration,
    ) -> Result<SqliteNodeLock, NodeError> {
        let Some(db) = crate::warehouse::migrations::sqlite_path(url) else {
            return Ok(SqliteNodeLock { _file: None });
        };
        let mut name = db.into_os_string();
        name.push(".node-lock");
        let path = std::path::PathBuf::from(name);
        // The message names the file, never the machine's path to it.
        let shown = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| NodeError::Lock {
                path: shown.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(SqliteNodeLock { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let live = warehouse
                    .live_nodes(stale_before(lease))
                    .await
                    .unwrap_or_default();
                let holder = live
                    .iter()
                    .find(|n| n.id != crate::warehouse::node_id())
                    .map(|n| {
                        format!(
                            " (node {} on {}, pid {}, vivres {}, started {}, last heartbeat {})",
                            n.id, n.host, n.pid, n.version, n.started_at, n.heartbeat_at
                        )
                    })
                    .unwrap_or_default();
                Err(NodeError::SecondSqliteNode { holder })
            }
            Err(std::fs::TryLockError::Error(source)) => Err(NodeError::Lock {
                path: shown,
                source,
            }),
        }
    }
}
