//! `vivres serve`: the admin API and the scheduler in one process.
//!
//! [`launch`] runs both side by side until `shutdown` completes (SIGTERM or
//! SIGINT in `vivres serve`, a channel in tests) or one of them fails. On
//! shutdown the API stops accepting connections, a plugin call in flight is
//! interrupted (even a plugin asleep in a host call), running syncs finish
//! the batch they are committing and their runs are marked interrupted, and
//! a job is queued so that the next start resumes them. Whatever still runs
//! after `[limits] shutdown_grace_seconds` is abandoned: the process exits
//! (a run left `running` is marked interrupted when its source next runs).
//!
//! Each `vivres serve` process is a node of its warehouse (a row of
//! `nodes`, see `scheduler/nodes.rs`): on PostgreSQL several nodes share the
//! queue, and a node that dies has its runs taken over by another after
//! `[limits] lease_seconds`; on SQLite a second node on the same file is
//! refused at start.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiSettings, AppState};
use crate::app::Hub;
use crate::scheduler::nodes::{NodeError, SqliteNodeLock};
use crate::scheduler::{Queue, SchedulerError, SchedulerSettings};

/// Settings of a served hub (beyond its configuration file).
#[derive(Debug, Clone, Default)]
pub struct ServeSettings {
    pub api: ApiSettings,
    pub scheduler: SchedulerSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error("the API server failed: {0}")]
    Server(std::io::Error),
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Serves the API on `listener` and runs the scheduler until `shutdown`
/// completes, then stops both cleanly.
pub async fn launch(
    hub: Arc<Hub>,
    settings: ServeSettings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    // Refuse to start on a bad schedule rather than silently not scheduling.
    for s in &hub.config.sources {
        if let Some(expr) = &s.schedule {
            crate::scheduler::parse_schedule(&s.id, expr)?;
        }
    }
    let lease = crate::scheduler::nodes::lease(&hub);
    let _one_sqlite_node =
        SqliteNodeLock::acquire(&hub.config.database_url(), &hub.warehouse, lease).await?;
    hub.warehouse
        .register_node(env!("CARGO_PKG_VERSION"))
        .await
        .map_err(NodeError::from)?;
    tracing::info!(
        node = crate::warehouse::node_id(),
        lease_secs = lease.as_secs(),
        "node registered"
    );
    let served = serve(hub.clone(), settings, listener, shutdown).await;
    // Whatever it still holds is taken over when its leases go stale.
    if let Err(e) = hub.warehouse.stop_node().await {
        tracing::warn!(error = %e, "could not mark the node stopped");
    }
    served
}

async fn serve(
    hub: Arc<Hub>,
    settings: ServeSettings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let queue = Queue::open(&hub).await?;
    let cancel = CancellationToken::new();
    let state = AppState::new(hub.clone(), queue.clone(), settings.api.clone());
    let app = crate::api::router(state);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin API listening");
    }
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .into_future();
    let grace = std::time::Duration::from_secs(u64::from(hub.config.limits.shutdown_grace_seconds));
    let scheduler = crate::scheduler::run(hub, queue, settings.scheduler, cancel.clone());
    tokio::pin!(server, scheduler);
    let mut server_done = None;
    let mut scheduler_done = None;
    tokio::select! {
        _ = shutdown => tracing::info!("shutting down: running syncs stop after their current batch"),
        r = &mut server => server_done = Some(r),
        r = &mut scheduler => scheduler_done = Some(r),
    }
    cancel.cancel();
    let stopped = tokio::time::timeout(grace, async {
        let server_result = match server_done {
            Some(r) => r,
            None => server.await,
        };
        let scheduler_result = match scheduler_done {
            Some(r) => r,
            None => scheduler.await,
        };
        (server_result, scheduler_result)
    })
    .await;
    let Ok((server_result, scheduler_result)) = stopped else {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "stopped without waiting further: syncs still running after the shutdown grace are abandoned; their runs are marked interrupted when their sources next run"
        );
        return Ok(());
    };
    tracing::info!("stopped");
    server_result.map_err(ServeError::Server)?;
    scheduler_result?;
    Ok(())
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled: a SIGTERM that arrives while
/// the hub is still starting (the API already answering) must stop it
/// cleanly, not kill it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (Ok(mut term), Err(_)) => {
                    term.recv().await;
                }
                (Err(e), _) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the hub");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
