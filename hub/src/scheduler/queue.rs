//! The job queue: apalis storage on the warehouse's own database, SQLite or
//! PostgreSQL. The rest of the scheduler does not know which.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;

use super::{Context, SchedulerError, SyncJob, Ticker, handle_job};
use crate::app::Hub;
use crate::warehouse::{JobStore, Warehouse};

/// The apalis queue (`job_type`) sync jobs go to.
pub const QUEUE: &str = "vivres-sync";

/// The queue: where jobs are pushed. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    store: Arc<JobStore<SyncJob>>,
    warehouse: Warehouse,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("queue", &QUEUE)
            .field("backend", &self.warehouse.backend())
            .finish()
    }
}

impl Queue {
    /// Creates the queue's tables in the warehouse (idempotent).
    pub async fn open(hub: &Hub) -> Result<Queue, SchedulerError> {
        let store = hub.warehouse.job_store::<SyncJob>(QUEUE).await?;
        Ok(Queue {
            store: Arc::new(store),
            warehouse: hub.warehouse.clone(),
        })
    }

    /// Queues a job, due after `delay`. With an idempotency key, a job with
    /// the same key is never queued twice.
    pub async fn push(
        &self,
        job: SyncJob,
        delay: Option<Duration>,
        idempotency_key: Option<String>,
    ) -> Result<(), SchedulerError> {
        let mut builder = TaskBuilder::new(job);
        if let Some(delay) = delay {
            // The queue counts in whole seconds: round up, never run early.
            let due = std::time::SystemTime::now() + delay;
            let since = due
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
            builder = builder.run_at_timestamp(secs);
        }
        if let Some(key) = idempotency_key {
            builder = builder.idempotency_key(key);
        }
        let task = builder.build();
        let done = match &*self.store {
            JobStore::Sqlite(s) => s.clone().push_task(task).await.map_err(|e| e.to_string()),
            JobStore::Postgres(s) => s.clone().push_task(task).await.map_err(|e| e.to_string()),
        };
        done.map_err(SchedulerError::Queue)
    }

    /// Queues the job of a run already started (`job.run_id`). A job that
    /// cannot be queued closes its run as failed: the source is not left
    /// blocked by a run no node will take.
    pub async fn push_started(
        &self,
        job: SyncJob,
        idempotency_key: Option<String>,
    ) -> Result<(), SchedulerError> {
        let run_id = job.run_id;
        let pushed = self.push(job, None, idempotency_key).await;
        if let (Err(_), Some(run_id)) = (&pushed, run_id) {
            let _ = self
                .warehouse
                .finish_run(
                    run_id,
                    crate::warehouse::RunStatus::Failed,
                    Some(("warehouse", "the job could not be queued")),
                    &[],
                )
                .await;
        }
        pushed
    }

    /// Jobs waiting, by status (`Pending`, `Running`, `Done`, `Failed`, …).
    pub async fn counts(&self) -> Result<Vec<(String, i64)>, SchedulerError> {
        Ok(self.warehouse.job_counts(QUEUE).await?)
    }

    /// When the next queued job of a source is due (unix seconds).
    pub async fn next_due(&self, source: &str) -> Result<Option<i64>, SchedulerError> {
        Ok(self.warehouse.job_next_due(QUEUE, source).await?)
    }

    /// Idempotency keys starting with `prefix`, with how many jobs carry each.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<(String, i64)>, SchedulerError> {
        Ok(self.warehouse.job_keys(QUEUE, prefix).await?)
    }

    /// Runs the sync worker on this queue until `stop` resolves.
    pub(super) async fn run_worker(
        &self,
        name: String,
        ctx: Arc<Context>,
        concurrency: usize,
        ticker: Ticker,
        stop: impl Future<Output = Result<(), std::io::Error>> + Send + 'static,
    ) -> Result<(), WorkerError> {
        match &*self.store {
            JobStore::Sqlite(s) => {
                WorkerBuilder::new(name)
                    .backend(PollWith::new(s.clone(), ticker))
                    .data(ctx)
                    .concurrency(concurrency)
                    .build(handle_job)
                    .run_until(stop)
                    .await
            }
            JobStore::Postgres(s) => {
                WorkerBuilder::new(name)
                    .backend(PollWith::new(s.clone(), ticker))
                    .data(ctx)
                    .concurrency(concurrency)
                    .build(handle_job)
                    .run_until(stop)
                    .await
            }
        }
    }
}
