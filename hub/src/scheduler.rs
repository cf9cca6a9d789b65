//! The scheduler: apalis workers on the warehouse's own database.
//!
//! One queue of [`SyncJob`]s (`scheduler/queue.rs`: `apalis_sqlite` or
//! `apalis_postgres`, whichever the warehouse is on, migrated with their own
//! history table so the warehouse's migrations stay ours). Sources with a `schedule` get an `apalis_cron` worker whose ticks
//! enqueue a job, keyed by (source, tick) so a tick is never queued twice.
//! Manual triggers and quarantine replays are jobs too.
//!
//! A job that fails because the partner is unavailable is queued again with
//! exponential backoff (persisted, so a retry survives a restart); any other
//! failure is not retried. At most one run per source: the warehouse refuses a
//! second one and the job is skipped. A source paused after repeated failed
//! runs (`limits.pause_after_failures`) has its scheduled, resumed and retried
//! jobs skipped until a coordinator resumes it; every run has a deadline
//! (`limits.run_deadline_seconds`), so a looping source holds its slot for
//! that long at most. On shutdown the running syncs stop after
//! their current batch, their runs are marked interrupted, and a job is queued
//! to resume them on the next start.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::Hub;
use crate::sync::{SyncError, SyncOptions, sync_source};
use crate::warehouse::{RunStatus, WarehouseError};

mod fair;
pub mod nodes;
mod queue;
pub use queue::{QUEUE, Queue};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("scheduler database: {0}")]
    Warehouse(#[from] crate::warehouse::WarehouseError),
    #[error("cannot queue a job: {0}")]
    Queue(String),
    #[error("source `{source_id}`: schedule `{schedule}`: {reason}")]
    BadSchedule {
        source_id: String,
        schedule: String,
        reason: String,
    },
    #[error("worker `{worker}` stopped: {reason}")]
    Worker { worker: String, reason: String },
}

/// Why a job was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The source's cron schedule.
    Schedule,
    /// `POST /sources/{id}/sync`.
    Manual,
    /// `POST /sources/{id}/quarantine/replay`: a full re-read that closes the
    /// earlier quarantine entries when it succeeds.
    Replay,
    /// The hub stopped while the source was syncing: carry on from its checkpoint.
    Resume,
}

impl From<Trigger> for crate::sync::RunTrigger {
    fn from(t: Trigger) -> Self {
        use crate::sync::RunTrigger;
        match t {
            Trigger::Schedule => RunTrigger::Schedule,
            Trigger::Manual => RunTrigger::Manual,
            Trigger::Replay => RunTrigger::Replay,
            Trigger::Resume => RunTrigger::Resume,
        }
    }
}

/// One sync of one source, as stored in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub source: String,
    pub trigger: Trigger,
    #[serde(default)]
    pub full_refresh: bool,
    /// The run the API already started and answered with.
    #[serde(default)]
    pub run_id: Option<i64>,
    /// 1 for the first attempt; retries of an unavailable partner count up.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

impl SyncJob {
    pub fn new(source: impl Into<String>, trigger: Trigger) -> SyncJob {
        SyncJob {
            source: source.into(),
            trigger,
            full_refresh: trigger == Trigger::Replay,
            run_id: None,
            attempt: 1,
        }
    }
}

/// Knobs of the scheduler; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// How often the queue is polled for due jobs.
    pub poll_interval: Duration,
    /// Delay before the first retry of an unavailable partner; doubles each time.
    pub retry_base: Duration,
    /// Longest delay between two retries.
    pub retry_max: Duration,
    /// Attempts in all (the first included) before giving up until the next trigger.
    pub max_attempts: u32,
    /// Syncs running at once (of different sources).
    pub concurrency: usize,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            poll_interval: Duration::from_secs(1),
            retry_base: Duration::from_secs(60),
            retry_max: Duration::from_secs(3600),
            max_attempts: 6,
            concurrency: 4,
        }
    }
}

impl SchedulerSettings {
    /// Delay before attempt `next` (2, 3, …): base × 2^(next−2), capped.
    pub fn backoff(&self, next: u32) -> Duration {
        let exp = next.saturating_sub(2).min(30);
        self.retry_base
            .saturating_mul(1u32 << exp)
            .min(self.retry_max)
    }
}

/// Parses a source's `schedule` (`sec min hour day month weekday [year]`; a
/// five-field expression runs at second 0).
pub fn parse_schedule(source_id: &str, schedule: &str) -> Result<cron::Schedule, SchedulerError> {
    let expr = if schedule.split_whitespace().count() == 5 {
        format!("0 {schedule}")
    } else {
        schedule.to_string()
    };
    expr.parse::<cron::Schedule>()
        .map_err(|e| SchedulerError::BadSchedule {
            source_id: source_id.to_string(),
            schedule: schedule.to_string(),
            reason: e.to_string(),
        })
}

/// The next time a source's schedule fires, RFC 3339.
pub fn next_tick(schedule: &cron::Schedule) -> Option<String> {
    schedule
        .upcoming(chrono::Utc)
        .next()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Wakes the queue's worker every `period` so that due jobs are fetched.
///
/// apalis 1.0's `IntervalStrategy` re-arms its timer without polling it, so
/// after the first tick the worker only wakes on its heartbeat (30 s); this
/// strategy keeps its timer registered with the waker.
#[derive(Debug)]
pub(crate) struct Ticker {
    period: Duration,
    interval: Option<tokio::time::Interval>,
}

impl Ticker {
    fn new(period: Duration) -> Ticker {
        Ticker {
            period: period.max(Duration::from_millis(10)),
            interval: None,
        }
    }
}

impl Clone for Ticker {
    fn clone(&self) -> Self {
        Ticker::new(self.period)
    }
}

impl PollStrategy for Ticker {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let period = self.period;
        let interval = self.interval.get_or_insert_with(|| {
            let mut i = tokio::time::interval(period);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let mut fired = false;
        // Poll until pending: the waker is then registered for the next tick.
        while interval.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

pub(crate) struct Context {
    hub: Arc<Hub>,
    queue: Queue,
    settings: SchedulerSettings,
    cancel: CancellationToken,
    /// Syncs in flight: shutdown waits for them to mark their runs.
    tracker: TaskTracker,
    /// The worker slots and who holds them (`scheduler/fair.rs`).
    slots: fair::Slots,
}

/// Runs the scheduler until `cancel` is cancelled, then waits for the syncs
/// in flight to stop at a batch boundary.
pub async fn run(
    hub: Arc<Hub>,
    queue: Queue,
    settings: SchedulerSettings,
    cancel: CancellationToken,
) -> Result<(), SchedulerError> {
    let mut schedules = Vec::new();
    for source in &hub.config.sources {
        if let Some(expr) = &source.schedule {
            schedules.push((source.id.clone(), parse_schedule(&source.id, expr)?));
        }
    }
    for (source, schedule) in &schedules {
        catch_up(&hub.warehouse, &queue, source, schedule).await?;
    }
    let tracker = TaskTracker::new();
    let ctx = Arc::new(Context {
        hub,
        queue: queue.clone(),
        settings: settings.clone(),
        cancel: cancel.clone(),
        tracker: tracker.clone(),
        slots: fair::Slots::default(),
    });
    let fairness = {
        let ctx = ctx.clone();
        let sources: Vec<String> = ctx
            .hub
            .config
            .sources
            .iter()
            .map(|s| s.id.clone())
            .collect();
        let share = Duration::from_secs(u64::from(ctx.hub.config.limits.run_fair_share_seconds));
        let every = settings.poll_interval.max(Duration::from_millis(500));
        let capacity = settings.concurrency.max(1);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            fair::keep_fair(
                &ctx.slots, &ctx.queue, &sources, capacity, share, every, cancel,
            )
            .await
        })
    };
    let instance = format!(
        "{}-{}-{:08x}",
        std::process::id(),
        crate::warehouse::now_rfc3339(),
        rand::random::<u32>()
    );
    let mut workers = futures::stream::FuturesUnordered::new();
    let stop = |cancel: CancellationToken| async move {
        cancel.cancelled().await;
        Ok::<(), std::io::Error>(())
    };
    let name = format!("vivres-sync-{instance}");
    let sync_queue = queue.clone();
    let sync_ctx = ctx.clone();
    let concurrency = settings.concurrency.max(1);
    let ticker = Ticker::new(settings.poll_interval);
    let sync_stop = stop(cancel.clone());
    workers.push(tokio::spawn(named(name.clone(), async move {
        sync_queue
            .run_worker(name, sync_ctx, concurrency, ticker, sync_stop)
            .await
    })));
    workers.push(tokio::spawn(nodes::run(ctx.clone())));
    for (source, schedule) in schedules {
        let name = format!("vivres-cron-{source}-{instance}");
        let worker = WorkerBuilder::new(name.clone())
            .backend(CronScheduler::new(schedule))
            .data(Arc::new(CronContext {
                source,
                queue: queue.clone(),
                warehouse: ctx.hub.warehouse.clone(),
            }))
            .build(handle_tick);
        workers.push(tokio::spawn(named(
            name,
            worker.run_until(stop(cancel.clone())),
        )));
    }
    use futures::StreamExt as _;
    let mut first_error = None;
    while let Some(done) = workers.next().await {
        let failure = match done {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(SchedulerError::Worker {
                worker: "scheduler".into(),
                reason: e.to_string(),
            }),
        };
        if let Some(e) = failure {
            tracing::error!(error = %e, "scheduler worker stopped");
            // One worker down: stop the others too, the hub is not scheduling.
            cancel.cancel();
            first_error.get_or_insert(e);
        }
    }
    fairness.abort();
    tracker.close();
    tracker.wait().await;
    first_error.map_or(Ok(()), Err)
}

async fn named(
    worker: String,
    run: impl Future<Output = Result<(), WorkerError>>,
) -> Result<(), SchedulerError> {
    run.await.map_err(|e| SchedulerError::Worker {
        worker,
        reason: e.to_string(),
    })
}

/// Queues the latest tick a source's schedule missed while the hub was down
/// (one run catches up, however many ticks were missed). Keyed like the tick
/// itself, so it is never queued twice.
async fn catch_up(
    warehouse: &crate::warehouse::Warehouse,
    queue: &Queue,
    source: &str,
    schedule: &cron::Schedule,
) -> Result<(), SchedulerError> {
    let prefix = format!("schedule:{source}:");
    let keys = queue.keys(&prefix).await?;
    let Some(last) = keys
        .iter()
        .filter_map(|(k, _)| k.strip_prefix(&prefix)?.parse::<i64>().ok())
        .max()
    else {
        // Never scheduled before: nothing was missed.
        return Ok(());
    };
    let (Some(last), now) = (
        chrono::DateTime::<chrono::Utc>::from_timestamp(last, 0),
        chrono::Utc::now(),
    ) else {
        return Ok(());
    };
    let missed = schedule
        .after(&last)
        .take(1_000_000)
        .take_while(|t| *t <= now)
        .last();
    if let Some(tick) = missed {
        tracing::info!(source, tick = %tick.to_rfc3339(), "catching up a tick missed while the hub was down");
        nodes::queue_tick(warehouse, queue, source, tick.timestamp()).await?;
    }
    Ok(())
}

struct CronContext {
    source: String,
    queue: Queue,
    warehouse: crate::warehouse::Warehouse,
}

async fn handle_tick(tick: Tick, ctx: Data<Arc<CronContext>>) -> Result<(), BoxDynError> {
    tracing::info!(source = %ctx.source, tick = tick.get_timestamp(), "schedule fired");
    let tick = i64::try_from(tick.get_timestamp()).unwrap_or(i64::MAX);
    nodes::queue_tick(&ctx.warehouse, &ctx.queue, &ctx.source, tick).await?;
    Ok(())
}

pub(crate) async fn handle_job(job: SyncJob, ctx: Data<Arc<Context>>) -> Result<(), BoxDynError> {
    let ctx: Arc<Context> = (*ctx).clone();
    let source = job.source.clone();
    let preset = job.run_id;
    let began = crate::warehouse::now_rfc3339();
    // On its own task: syncs of different sources run in parallel.
    let done = ctx.tracker.spawn(execute(ctx.clone(), job)).await;
    match done {
        Ok(result) => result.map_err(Into::into),
        Err(e) => {
            // A panic in the sync: close its run, or the source stays blocked.
            tracing::error!(source = %source, error = %e, "sync task failed");
            let warehouse = &ctx.hub.warehouse;
            if let Ok(running) = warehouse
                .runs_page(
                    Some(std::slice::from_ref(&source)),
                    Some(RunStatus::Running),
                    None,
                    1,
                )
                .await
            {
                // Only a run this job started (not another process's).
                let ours = running
                    .into_iter()
                    .filter(|r| Some(r.id) == preset || r.started_at >= began);
                for run in ours {
                    let _ = warehouse
                        .finish_run(
                            run.id,
                            RunStatus::Failed,
                            Some((
                                "internal",
                                "the sync stopped unexpectedly (logged on the hub)",
                            )),
                            &[],
                        )
                        .await;
                }
            }
            Err(Box::new(e))
        }
    }
}

/// Whether the job is skipped because its source is paused: a paused source
/// runs only when someone asks for it by hand (a manual sync or a replay,
/// which the API answered with a run already), not on its schedule, a resume
/// or a retry.
async fn paused(hub: &Hub, job: &SyncJob, run_id: Option<i64>) -> bool {
    let by_hand = matches!(job.trigger, Trigger::Manual | Trigger::Replay) && job.attempt == 1;
    if by_hand {
        return false;
    }
    match hub.warehouse.source_pause(&job.source).await {
        Ok(Some(pause)) => {
            tracing::warn!(
                paused_at = %pause.paused_at,
                "skipped: the source is paused after {} failed runs; a coordinator resumes it \
                 (POST /api/v1/sources/{}/resume, `vivres source resume {}`)",
                pause.failures,
                job.source,
                job.source
            );
            // A tick's run was started when it was queued: close it, not as
            // a failure (it must not count towards the next pause).
            if let Some(id) = run_id {
                let skipped = (
                    "paused",
                    "skipped: the source is paused after repeated failed runs; a coordinator resumes it",
                );
                if let Err(e) = hub
                    .warehouse
                    .finish_run(id, RunStatus::Cancelled, Some(skipped), &[])
                    .await
                {
                    tracing::warn!(run = id, error = %e, "the skipped run could not be closed");
                }
            }
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "the source's pause could not be read; running it");
            false
        }
    }
}

/// Runs one job; the outcome is in the run report, so only a failure to queue
/// the follow-up job is an error.
async fn execute(ctx: Arc<Context>, job: SyncJob) -> Result<(), SchedulerError> {
    use tracing::Instrument as _;
    let span = tracing::info_span!("job", source = %job.source, trigger = ?job.trigger, attempt = job.attempt);
    execute_in_span(ctx, job).instrument(span).await
}

async fn execute_in_span(ctx: Arc<Context>, job: SyncJob) -> Result<(), SchedulerError> {
    // The API or a tick started this run when it queued the job: this node
    // claims it (see `scheduler/nodes.rs`).
    let run_id = match job.run_id {
        Some(id) => {
            if matches!(ctx.hub.warehouse.run(id).await, Ok(r) if r.status == RunStatus::Cancelled)
            {
                tracing::info!(run = id, "skipped: the run was cancelled before it began");
                return Ok(());
            }
            match nodes::claim(&ctx.hub.warehouse, id).await? {
                Some(run) => run,
                None => return Ok(()),
            }
        }
        None => None,
    };
    if paused(&ctx.hub, &job, run_id).await {
        return Ok(());
    }
    run_job(ctx, job, run_id).await
}

/// Runs a job whose run this node holds (`run_id`), or a new run.
async fn run_job(
    ctx: Arc<Context>,
    job: SyncJob,
    run_id: Option<i64>,
) -> Result<(), SchedulerError> {
    let hub = &ctx.hub;
    if ctx.cancel.is_cancelled() {
        // Shutting down before it began: leave it for the next start.
        if let Some(id) = run_id {
            hub.warehouse
                .finish_run(
                    id,
                    RunStatus::Interrupted,
                    Some((
                        "interrupted",
                        "the hub stopped before this run began; it is queued again",
                    )),
                    &[],
                )
                .await
                .ok();
        }
        let again = SyncJob {
            run_id: None,
            ..job
        };
        return ctx.queue.push(again, None, None).await;
    }
    let slot = ctx.slots.take(&job.source);
    let options = SyncOptions {
        full_refresh: job.full_refresh,
        streams: None,
        run_id,
        cancel: Some(ctx.cancel.clone()),
        yield_slot: Some(slot.yield_slot.clone()),
        trigger: job.trigger.into(),
        token_name: None,
    };
    let outcome = sync_source(hub, &job.source, &options).await;
    drop(slot);
    match outcome {
        Ok(report) => match report.status {
            RunStatus::Succeeded => {
                if job.trigger == Trigger::Replay {
                    match hub.warehouse.mark_replayed(&job.source, report.id).await {
                        Ok(n) => tracing::info!(run = report.id, closed = n, "quarantine replayed"),
                        Err(e) => {
                            tracing::error!(run = report.id, error = %e, "closing replayed quarantine entries failed")
                        }
                    }
                }
                Ok(())
            }
            RunStatus::Interrupted => {
                let resume = SyncJob {
                    source: job.source.clone(),
                    // A replay must re-read everything to close its entries.
                    trigger: if job.trigger == Trigger::Replay {
                        Trigger::Replay
                    } else {
                        Trigger::Resume
                    },
                    full_refresh: job.trigger == Trigger::Replay,
                    run_id: None,
                    attempt: job.attempt,
                };
                tracing::info!(
                    run = report.id,
                    kind = report.error_kind.as_deref().unwrap_or("interrupted"),
                    "run interrupted; queued to resume (behind the jobs waiting)"
                );
                ctx.queue.push(resume, None, None).await
            }
            RunStatus::Failed
                if report.error_kind.as_deref() == Some("partner_unavailable")
                    && job.attempt < ctx.settings.max_attempts =>
            {
                let next = job.attempt + 1;
                let delay = ctx.settings.backoff(next);
                tracing::warn!(
                    run = report.id,
                    next_attempt = next,
                    delay_secs = delay.as_secs_f64(),
                    "partner unavailable; retrying later"
                );
                let retry = SyncJob {
                    run_id: None,
                    attempt: next,
                    ..job
                };
                ctx.queue.push(retry, Some(delay), None).await
            }
            RunStatus::Failed => {
                tracing::warn!(
                    run = report.id,
                    kind = report.error_kind.as_deref().unwrap_or("error"),
                    "run failed; not retried"
                );
                Ok(())
            }
            RunStatus::Running | RunStatus::Cancelled => Ok(()),
        },
        Err(SyncError::Warehouse(WarehouseError::AlreadyRunning { run_id, .. })) => {
            tracing::info!(running = run_id, "skipped: the source is already syncing");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "job dropped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = SchedulerSettings {
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(60),
            ..SchedulerSettings::default()
        };
        assert_eq!(s.backoff(2), Duration::from_secs(10));
        assert_eq!(s.backoff(3), Duration::from_secs(20));
        assert_eq!(s.backoff(4), Duration::from_secs(40));
        assert_eq!(s.backoff(5), Duration::from_secs(60));
        assert_eq!(s.backoff(40), Duration::from_secs(60));
    }

    #[test]
    fn schedules_parse_with_and_without_seconds() {
        assert!(parse_schedule("s", "*/2 * * * * *").is_ok());
        assert!(parse_schedule("s", "0 3 * * *").is_ok());
        let err = parse_schedule("s", "every day").unwrap_err().to_string();
        assert!(err.contains("source `s`"), "{err}");
    }
}
