//! `/nodes`: the hub nodes (`vivres serve` processes) on this warehouse.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState, Caller};

/// A live node: its heartbeat is younger than the lease (`[limits] lease_seconds`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Node {
    /// Host, process id and a random part.
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// The vivres version it runs.
    pub version: String,
    pub started_at: String,
    pub last_heartbeat: String,
    /// The runs whose lease it holds (running on it now).
    pub runs: Vec<NodeRun>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeRun {
    pub run_id: i64,
    pub source: String,
}

/// Live nodes: version, the runs each holds, last heartbeat (admin).
#[utoipa::path(get, path = "/nodes", tag = "ops", security(("bearer" = [])),
    responses(
        (status = 200, description = "Live nodes, oldest first", body = [Node]),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Not an admin", body = super::ErrorBody),
    ))]
pub async fn list_nodes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Node>>, ApiError> {
    caller.require_admin()?;
    let hub = state.hub();
    let lease = crate::scheduler::nodes::lease(hub);
    let nodes = hub
        .warehouse
        .live_nodes(crate::scheduler::nodes::stale_before(lease))
        .await?;
    Ok(Json(
        nodes
            .into_iter()
            .map(|n| Node {
                id: n.id,
                host: n.host,
                pid: n.pid,
                version: n.version,
                started_at: n.started_at,
                last_heartbeat: n.heartbeat_at,
                runs: n
                    .runs
                    .into_iter()
                    .map(|r| NodeRun {
                        run_id: r.run_id,
                        source: r.source,
                    })
                    .collect(),
            })
            .collect(),
    ))
}
