//! The admin API under `/api/v1`: axum routes, bearer-token roles, JSON errors,
//! and an OpenAPI 3.1 document generated from the same handlers (each route is
//! registered through `utoipa_axum::routes!`, so it cannot be served without
//! being documented).
//!
//! Every request runs in a `request` span carrying the method, the matched
//! route, the caller's token *name* (never the token) and the status.

// `pub(crate)`: the web console (`crate::console`) calls the same handlers' logic.
pub(crate) mod data;
mod error;
pub(crate) mod indicators;
mod nodes;
mod ops;
pub(crate) mod runs;
pub(crate) mod sources;
pub(crate) mod views;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, Request, State};
use axum::http::Method;
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
    /// The query parameters each operation takes, from the document.
    query_params: OnceLock<QueryParams>,
    metrics: ops::HttpMetrics,
    paths: views::HubPaths,
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
        let paths = views::HubPaths::new(&hub.config);
        AppState {
            inner: Arc::new(Inner {
                paths,
                hub,
                queue,
                settings,
                schedules,
                connectors: tokio::sync::Mutex::new(None),
                openapi: OnceLock::new(),
                query_params: OnceLock::new(),
                metrics: ops::HttpMetrics::default(),
            }),
        }
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Largest file an upload may carry.
    pub(crate) fn upload_limit(&self) -> usize {
        self.inner.settings.upload_limit_bytes
    }

    /// A source the caller may see and act on: 404 if there is none, 403 for
    /// an evaluator or a coordinator of another territory.
    pub(crate) fn source(&self, caller: &Principal, id: &str) -> Result<&Source, ApiError> {
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
    pub(crate) fn visible_sources(&self, caller: &Principal) -> Option<Vec<String>> {
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
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this route is for admins"))
        }
    }
    pub(crate) fn forbid_evaluator(&self, what: &str) -> Result<(), ApiError> {
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
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(crate::auth::bearer_token)
                .map(str::to_string)
        });
    let authn = match header {
        None => Authn::Missing,
        Some(None) => Authn::Invalid,
        Some(Some(token)) => {
            match crate::auth::authenticate(&state.hub().warehouse, &token).await {
                Ok(Some(p)) => Authn::Valid(p),
                Ok(None) => Authn::Invalid,
                Err(e) => Authn::Failed(e.to_string()),
            }
        }
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
    let unknown = state
        .inner
        .query_params
        .get()
        .and_then(|p| p.refused(&method, &route, req.uri().query()));
    let response = match unknown {
        Some(refusal) => refusal.into_response(),
        None => next.run(req).instrument(span.clone()).await,
    };
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

async fn fallback() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed(method: Method, uri: OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {} (see `Allow`)",
        uri.path()
    ))
}

/// The query parameters of each operation, as the document declares them:
/// any other is refused, so that a misspelt one (`fullrefresh=true`) is
/// not silently ignored.
struct QueryParams(BTreeMap<(String, String), Vec<String>>);

impl QueryParams {
    fn of(doc: &utoipa::openapi::OpenApi) -> QueryParams {
        use utoipa::openapi::path::ParameterIn;
        let mut map = BTreeMap::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in operations(item) {
                let names = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| p.parameter_in == ParameterIn::Query)
                    .map(|p| p.name.clone())
                    .collect();
                map.insert((method.to_string(), path.clone()), names);
            }
        }
        QueryParams(map)
    }

    /// The error for the first query parameter `route` does not take.
    fn refused(&self, method: &Method, route: &str, query: Option<&str>) -> Option<ApiError> {
        let method = if method == Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        let known = self.0.get(&(method.to_string(), route.to_string()))?;
        let query = query?;
        let (name, _) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| !known.iter().any(|k| k == name))?;
        let takes = if known.is_empty() {
            "no query parameter".to_string()
        } else {
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Some(ApiError::bad_request(format!(
            "unknown query parameter `{name}` (this route takes {takes})"
        )))
    }
}

/// The operations of a path, with their upper-case methods.
fn operations(
    item: &utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
}

/// Declares, on every operation, the statuses any route can give: 400 (an
/// unknown query parameter, a path or query value that does not parse),
/// 401 where a token is needed, 500 (logged on the hub).
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut op.responses.responses;
            responses.entry("400".to_string()).or_insert_with(|| {
                error("An unknown query parameter, or a value that does not parse").into()
            });
            if secured {
                responses
                    .entry("401".to_string())
                    .or_insert_with(|| error("No valid token").into());
            }
            responses
                .entry("500".to_string())
                .or_insert_with(|| error("Internal error (logged on the hub)").into());
        }
    }
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
        (name = "data", description = "The data dictionary, exports of the unified tables and indicators (evaluators)"),
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
        .routes(routes!(sources::upload_file, sources::list_files))
        .routes(routes!(sources::list_quarantine))
        .routes(routes!(sources::get_pause))
        .routes(routes!(sources::resume_source))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::run_log))
        .routes(routes!(data::get_schema))
        .routes(routes!(data::get_data))
        .routes(routes!(indicators::get_indicators))
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest(BASE, api_routes())
        .split_for_parts();
    common_responses(&mut doc);
    doc
}

/// The whole API as an axum router, under [`BASE`]. Its fallback and its
/// 405s answer JSON under [`BASE`] only: other paths are left to whoever
/// merges this router.
pub fn router(state: AppState) -> axum::Router {
    let doc = openapi();
    let _ = state.inner.query_params.set(QueryParams::of(&doc));
    let doc = serde_json::to_value(&doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialise");
        serde_json::Value::Null
    });
    let _ = state.inner.openapi.set(doc);
    let (api, _) = api_routes().split_for_parts();
    let body_limit = sources::upload_body_limit(state.inner.settings.upload_limit_bytes);
    let api = api
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(fallback)
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(body_limit);
    axum::Router::new().nest(BASE, api).with_state(state)
}
