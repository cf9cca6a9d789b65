//! The API's error: each variant is a status code and a stable `code`; the
//! body is `{ "error": { "code", "message" } }`. Internal errors are logged
//! with their cause and answered with a generic message.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
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
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An error response axum made itself (an extractor's rejection): its
    /// status, and its text as the message.
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
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
    /// `bad_request`, `method_not_allowed`, `already_running`,
    /// `wrong_state`, `payload_too_large`, `unsupported_media_type`,
    /// `internal` (and `client_error` for any other 4xx).
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

    /// The HTTP status this error answers with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status_and_code().0
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
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Rejected { status, .. } => (*status, code_of(*status)),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The `code` of an error response made by axum rather than by a handler.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "client_error",
    }
}

/// Answers every error of the API as `{"error": {...}}`: handlers' errors
/// already are; this turns the responses axum makes itself (an extractor's
/// rejection: a path that does not parse, a bad query value, a multipart
/// without boundary, a body over the limit) into the same body, keeping
/// their status and headers (`Allow`, …).
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // axum's rejections are one line of text.
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let error = if status.is_server_error() {
        ApiError::Internal(message)
    } else {
        ApiError::Rejected { status, message }
    };
    let mut fixed = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
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
                header::WWW_AUTHENTICATE,
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
