//! The host functions, with native stand-ins so that connector code can be
//! unit-tested with a plain `cargo test` (no host there: no secrets, no HTTP).

#[cfg(target_arch = "wasm32")]
use crate::bindings::vivres::connector::host as wit;

use crate::bindings::vivres::connector::host::{HttpError, HttpRequest, HttpResponse, LogLevel};

/// A secret of the source's configuration, by name (never log it).
pub fn secret(name: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::secret(name)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = name;
        None
    }
}

/// Wall clock, seconds since the Unix epoch.
pub fn now() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        wit::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Path of the source's read-only inbox of export files, if it has one.
pub fn inbox_dir() -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::inbox_dir()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

pub(crate) fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        wit::log(level, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[{level:?}] {message}");
    }
}

pub(crate) fn http_send(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::http_send(request)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = request;
        Err(HttpError::Transport(
            "no hub outside WebAssembly: HTTP needs the plugin host".to_string(),
        ))
    }
}
