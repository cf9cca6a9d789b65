//! The API's error: each variant is a status code and a stable `code`; the
//! body is `{ "error": { "code", "message" } }`. Internal errors are logged
//! with their cause and answered with a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::inbox::InboxError;
use crate::scheduler::SchedulerError;
use crate::warehouse::WarehouseError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A run of the source is in progress: `run_id` names it.
    #[error("{message}")]
    Conflict {
        message: String,
        run_id: Option<i64>,
    },
    /// The run or source is not in a state the request applies to (a run
    /// that is not running, a source that is not paused).
    #[error("{0}")]
    WrongState(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`,
    /// `bad_request`, `already_running`, `wrong_state`, `payload_too_large`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// With `already_running`: the run in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
}

impl ApiError {
    pub fn forbidden(what: impl Into<String>) -> ApiError {
        ApiError::Forbidden(what.into())
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::NotFound(what.into())
    }
    pub fn bad_request(what: impl Into<String>) -> ApiError {
        ApiError::BadRequest(what.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "already_running"),
            ApiError::WrongState(_) => (StatusCode::CONFLICT, "wrong_state"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "internal error (logged on the hub)".to_string()
            }
            other => other.to_string(),
        };
        let run_id = match &self {
            ApiError::Conflict { run_id, .. } => *run_id,
            _ => None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    run_id,
                },
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<WarehouseError> for ApiError {
    fn from(e: WarehouseError) -> Self {
        match e {
            WarehouseError::NoSuchRun(id) => ApiError::NotFound(format!("no run {id}")),
            WarehouseError::AlreadyRunning { source_id, run_id } => ApiError::Conflict {
                message: format!(
                    "source `{source_id}` already has a run in progress (run {run_id})"
                ),
                run_id: Some(run_id),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<SchedulerError> for ApiError {
    fn from(e: SchedulerError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<InboxError> for ApiError {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::BadName(_) => ApiError::BadRequest(e.to_string()),
            InboxError::Io { .. } => ApiError::Internal(e.to_string()),
        }
    }
}
