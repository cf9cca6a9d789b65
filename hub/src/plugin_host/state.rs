//! The data of one plugin's store: its WASI context and the capabilities its
//! source was granted. The `host` interface's functions land here and are
//! dispatched to the capability modules.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::files::INBOX_GUEST_PATH;
use super::http::{HttpFailure, HttpRequest, HttpResponse, HttpSession};
use super::limits::{CallClock, MemoryLimiter};
use super::logging::{LogLevel, Logger};
use super::secrets::Secrets;

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: HttpSession,
    secrets: Secrets,
    inbox: bool,
    logger: Arc<Logger>,
    pub limiter: MemoryLimiter,
    pub clock: CallClock,
}

impl HostState {
    pub fn new(
        wasi: WasiCtx,
        http: HttpSession,
        secrets: Secrets,
        inbox: bool,
        logger: Arc<Logger>,
        limiter: MemoryLimiter,
    ) -> Self {
        HostState {
            wasi,
            table: ResourceTable::new(),
            http,
            secrets,
            inbox,
            logger,
            limiter,
            clock: CallClock::default(),
        }
    }

    pub fn emit_log(&mut self, level: LogLevel, message: &str) {
        self.logger.emit(level, message);
    }

    pub fn lookup_secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name)
    }

    /// Time spent here (network, Retry-After waits) is the host's, not the
    /// guest's: the store's call hook takes it off the guest's CPU budget.
    pub async fn send_http(&mut self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        self.http.send(request).await
    }

    pub fn inbox_path(&self) -> Option<String> {
        self.inbox.then(|| INBOX_GUEST_PATH.to_string())
    }

    pub fn wall_clock(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
