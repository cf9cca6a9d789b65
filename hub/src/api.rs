//! The admin API under `/api/v1`: axum routes, bearer-token roles, JSON errors,
//! and an OpenAPI 3.1 document generated from the same handlers (each route is
//! registered through `utoipa_axum::routes!`, so it cannot be served without
//! being documented).
//!
//! Every request runs in a `request` span carrying the method, the matched
//! route, the caller's token *name* (never the token) and the status.

mod data;
mod error;
mod nodes;
mod ops;
mod runs;
mod sources;
mod views;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::Hub;
use crate::auth::{Principal, Role};
use crate::config::Source;
use crate::scheduler::Queue;

pub use error::{ApiError, ErrorBody};

/// Where the API is mounted.
pub const BASE: &str = "/api/v1";

/// Knobs of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest file `POST /sources/{id}/files` accepts.
    pub upload_limit_bytes: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            upload_limit_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Arc<Hub>,
    queue: Queue,
    settings: ApiSettings,
    schedules: BTreeMap<String, cron::Schedule>,
    /// Connector specs, read once from the plugins.
    connectors: tokio::sync::Mutex<Option<Vec<views::Connector>>>,
    openapi: OnceLock<serde_json::Value>,
    metrics: ops::HttpMetrics,
}

impl AppState {
    /// Shared state for a hub whose schedules were validated by the scheduler.
    pub fn new(hub: Arc<Hub>, queue: Queue, settings: ApiSettings) -> AppState {
        let schedules = hub
            .config
            .sources
            .iter()
            .filter_map(|s| {
                let expr = s.schedule.as_ref()?;
                crate::scheduler::parse_schedule(&s.id, expr)
                    .ok()
                    .map(|c| (s.id.clone(), c))
            })
            .collect();
        AppState {
            inner: Arc::new(Inner {
                hub,
                queue,
                settings,
                schedules,
                connectors: tokio::sync::Mutex::new(None),
                openapi: OnceLock::new(),
                metrics: ops::HttpMetrics::default(),
            }),
        }
    }

    fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// A source the caller may see and act on: 404 if there is none, 403 for
    /// an evaluator or a coordinator of another territory.
    fn source(&self, caller: &Principal, id: &str) -> Result<&Source, ApiError> {
        if caller.role == Role::Evaluator {
            return Err(ApiError::forbidden("evaluators do not see sources"));
        }
        let source = self
            .hub()
            .config
            .source(id)
            .ok_or_else(|| ApiError::not_found(format!("no source `{id}`")))?;
        if !caller.can_act_on(&source.territory) {
            return Err(ApiError::forbidden(format!(
                "source `{id}` is not in your territories"
            )));
        }
        Ok(source)
    }

    /// Ids of the sources the caller may act on (`None`: all, for admins and
    /// evaluators' read-only views of runs).
    fn visible_sources(&self, caller: &Principal) -> Option<Vec<String>> {
        match &caller.role {
            Role::Admin | Role::Evaluator => None,
            Role::Coordinator { .. } => Some(
                self.hub()
                    .config
                    .sources
                    .iter()
                    .filter(|s| caller.can_act_on(&s.territory))
                    .map(|s| s.id.clone())
                    .collect(),
            ),
        }
    }
}

/// The outcome of reading the `Authorization` header, left for handlers.
#[derive(Clone)]
enum Authn {
    Missing,
    Invalid,
    Valid(Principal),
    Failed(String),
}

/// The authenticated caller: a handler taking it answers 401 without a valid
/// token.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Authn>() {
            Some(Authn::Valid(p)) => Ok(Caller(p.clone())),
            Some(Authn::Failed(e)) => Err(ApiError::Internal(e.clone())),
            Some(Authn::Missing | Authn::Invalid) | None => Err(ApiError::Unauthorized),
        }
    }
}

impl Caller {
    fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this route is for admins"))
        }
    }
    fn forbid_evaluator(&self, what: &str) -> Result<(), ApiError> {
        if self.0.role == Role::Evaluator {
            Err(ApiError::forbidden(format!("evaluators do not see {what}")))
        } else {
            Ok(())
        }
    }
}

/// Authenticates, opens the request span, logs and counts the request.
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        token = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .map(|v| v.strip_prefix("Bearer ").unwrap_or("").trim().to_string());
    let authn = match header {
        None => Authn::Missing,
        Some(token) if token.is_empty() => Authn::Invalid,
        Some(token) => match crate::auth::authenticate(&state.hub().warehouse, &token).await {
            Ok(Some(p)) => Authn::Valid(p),
            Ok(None) => Authn::Invalid,
            Err(e) => Authn::Failed(e.to_string()),
        },
    };
    match &authn {
        Authn::Valid(p) => {
            span.record("token", p.name.as_str());
        }
        Authn::Invalid => {
            span.record("token", "(invalid)");
        }
        _ => {}
    }
    req.extensions_mut().insert(authn);
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("status", status);
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        )
    });
    state
        .inner
        .metrics
        .record(method.as_str(), &route, status, elapsed);
    response
}

async fn fallback() -> Response {
    ApiError::not_found("no such route").into_response()
}

/// Marks every operation but `/health` as requiring a bearer token.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `vivres token create` (roles: admin, coordinator, evaluator).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Vivres admin API",
        description = "Sources, runs, checkpoints, quarantine and inbox uploads of a Vivres hub; \
                       the data dictionary and exports for evaluators. \
                       Errors are `{\"error\": {\"code\", \"message\"}}`.",
    ),
    modifiers(&Security),
    tags(
        (name = "ops", description = "Health, metrics, this document"),
        (name = "sources", description = "Connectors, sources, syncs, checkpoints, uploads"),
        (name = "runs", description = "Runs and their logs"),
        (name = "quarantine", description = "Records refused by validation"),
        (name = "data", description = "The data dictionary and exports of the unified tables (evaluators)"),
    )
)]
struct ApiDoc;

/// The routes, each with its documentation.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::health))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(nodes::list_nodes))
        .routes(routes!(sources::connectors))
        .routes(routes!(sources::list_sources))
        .routes(routes!(sources::get_source))
        .routes(routes!(sources::trigger_sync))
        .routes(routes!(sources::get_state, sources::reset_state))
        .routes(routes!(sources::replay_quarantine))
        .routes(routes!(sources::upload_file))
        .routes(routes!(sources::list_quarantine))
        .routes(routes!(sources::get_pause))
        .routes(routes!(sources::resume_source))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::run_log))
        .routes(routes!(data::get_schema))
        .routes(routes!(data::get_data))
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest(BASE, api_routes())
        .split_for_parts();
    doc
}

/// The whole API as an axum router.
pub fn router(state: AppState) -> axum::Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(BASE, api_routes())
        .split_for_parts();
    let doc = serde_json::to_value(&doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialise");
        serde_json::Value::Null
    });
    let _ = state.inner.openapi.set(doc);
    let body_limit = sources::upload_body_limit(state.inner.settings.upload_limit_bytes);
    router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(body_limit)
        .fallback(fallback)
        .with_state(state)
}
