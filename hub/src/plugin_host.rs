//! The plugin host: loads connector components, links the capabilities a
//! source is granted (and only those), runs each call under CPU, memory and
//! wall-clock limits, and converts what the plugin returns into
//! [`crate::model`] types.
//!
//! One [`PluginHost`] per hub process: it owns the wasmtime `Engine` (with an
//! epoch ticker thread), one `Linker` for every supported WIT version, the on-disk
//! cache of compiled components (authenticated, see `cache`) and the one
//! pooled HTTP client. A [`Plugin`]
//! is a loaded component, cheap to clone; an [`Instance`] is one sandbox for
//! one run of one source.

mod bindings;
mod cache;
mod files;
mod granter;
mod http;
mod limits;
mod logging;
mod measure;
mod secrets;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wasmtime::component::Linker;
use wasmtime::{CallHook, Engine, Store};

use crate::model::{Batch, ConnectorError, ConnectorSpec, StreamInfo};

pub use http::{Exchange, HttpSettings, HttpStats, Tape, TapeMode, no_response};
pub use logging::{LogLevel, LogLine, LogSink};

use bindings::{Guest, GuestPre, WitVersion};
use cache::Cache;
use limits::EpochTicker;
use logging::Logger;
use state::HostState;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Limits and knobs of the plugin host; the defaults suit a small hub.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Where compiled components are cached (`<sha256>-….cwasm`): the hub's
    /// own directory, mode 0700 (see `cache`).
    pub cache_dir: PathBuf,
    /// Linear memory a plugin may grow to.
    pub memory_limit_bytes: usize,
    /// Guest execution time allowed per call; time spent in host functions
    /// (HTTP, an HTTP `Retry-After`, a sleep) does not count.
    pub call_cpu_deadline: Duration,
    /// Wall-clock limit of a whole call, waits included.
    pub call_wall_timeout: Duration,
    /// Items plus rejects one batch may carry.
    pub max_batch_items: usize,
    /// Bytes the hub copies out of the plugin in one call (a batch, or the
    /// arguments of one host call); checked by wasmtime before it copies, so
    /// a huge value never reaches the hub's memory.
    pub max_call_bytes: usize,
    /// Size of one item or reject: its strings' bytes plus 8 per other value.
    pub max_record_bytes: usize,
    /// Longest string field of an item or reject.
    pub max_string_bytes: usize,
    pub http: HttpSettings,
    /// Longest message a plugin may log; longer ones are cut.
    pub max_log_line_bytes: usize,
    /// Log lines a plugin may write per instance (run); then one
    /// "log truncated" line and silence.
    pub max_log_lines: usize,
    /// The hub's own lines about a run (denied hosts, budget spent), capped
    /// apart from the plugin's so that a log flood cannot silence them.
    pub max_hub_log_lines: usize,
}

impl HostSettings {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        HostSettings {
            cache_dir: cache_dir.into(),
            memory_limit_bytes: 256 * MIB,
            call_cpu_deadline: Duration::from_secs(30),
            call_wall_timeout: Duration::from_secs(600),
            max_batch_items: 10_000,
            max_call_bytes: 64 * MIB,
            max_record_bytes: 1024 * KIB,
            max_string_bytes: 256 * KIB,
            http: HttpSettings::default(),
            max_log_line_bytes: 4096,
            max_log_lines: 10_000,
            max_hub_log_lines: 1_000,
        }
    }
}

/// What a source is granted. Everything not granted here is denied.
#[derive(Clone)]
pub struct Grants {
    /// The source's id, for messages.
    pub source: String,
    /// The network the source belongs to.
    pub network: String,
    /// Hosts the plugin may call: `partner.example.org`, `*.example.org`
    /// (subdomains only), `127.0.0.1:8080`, `localhost:3000`, `[::1]:80`.
    /// An entry without a port allows only the scheme's default port.
    pub allowed_hosts: Vec<String>,
    /// Host directory shown read-only at `/inbox`.
    pub inbox: Option<PathBuf>,
    /// Secrets by name; their values are redacted from every log line.
    pub secrets: BTreeMap<String, String>,
    /// HTTP attempts (retries and redirects included) allowed per instance.
    pub request_budget: Option<u32>,
    pub log: LogSink,
}

impl Grants {
    /// Nothing granted but a log sink.
    pub fn none(source: impl Into<String>, log: LogSink) -> Self {
        Grants {
            source: source.into(),
            network: String::new(),
            allowed_hosts: Vec::new(),
            inbox: None,
            secrets: BTreeMap::new(),
            request_budget: None,
            log,
        }
    }
}

impl std::fmt::Debug for Grants {
    // Secret values never appear, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("source", &self.source)
            .field("network", &self.network)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("inbox", &self.inbox)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("request_budget", &self.request_budget)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot compile plugin {}: {reason}", file_name(path))]
    Compile { path: PathBuf, reason: String },
    /// The compile cache is not the hub's private directory: loading from it
    /// could run code someone else planted.
    #[error("refusing the plugin cache {}: {reason}", path.display())]
    Cache { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "plugin exceeded its CPU deadline of {} (its own computing time in one call, waits excluded; limits.plugin_call_seconds)",
        limits::show_duration(*deadline)
    )]
    OutOfTime { deadline: Duration },
    #[error("plugin tried to grow memory past {} MiB", limit_bytes / MIB)]
    MemoryLimit { limit_bytes: usize },
    /// The engine's stack for wasm frames ran out: unbounded recursion.
    #[error("plugin exhausted its call stack (recursion too deep): turn the recursion into a loop")]
    StackOverflow,
    #[error(
        "plugin call exceeded its wall-clock timeout of {} (time spent waiting included; limits.plugin_call_wall_seconds)",
        limits::show_duration(*timeout)
    )]
    WallTimeout { timeout: Duration },
    /// The caller's cancellation token fired (a shutdown, a cancelled run)
    /// while a call was in flight: the call was stopped where it was.
    #[error("plugin call interrupted: the run was cancelled or the hub is shutting down")]
    Interrupted,
    #[error(
        "plugin returned a batch of {items} items and rejects, more than the maximum of {max} (limits.max_batch_items); nothing of it was stored"
    )]
    BatchTooLarge { items: usize, max: usize },
    #[error(
        "plugin handed the hub more than {} MiB in one call (limits.max_call_mib); nothing of it was copied",
        limit_bytes / MIB
    )]
    CallDataTooLarge { limit_bytes: usize },
    #[error(
        "plugin returned a record of {bytes} bytes at {at}, over the limit of {} KiB (limits.max_record_kib)",
        max / KIB
    )]
    RecordTooLarge {
        at: String,
        bytes: usize,
        max: usize,
    },
    #[error(
        "plugin returned a string of {bytes} bytes in `{at}`, over the limit of {} KiB (limits.max_string_kib)",
        max / KIB
    )]
    StringTooLong {
        at: String,
        bytes: usize,
        max: usize,
    },
    /// Any other trap, guest panics included, with the tail of its stderr.
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("plugin instance is unusable after an earlier failure; start a new instance")]
    Poisoned,
    #[error("cannot instantiate plugin: {0}")]
    Instantiate(String),
    /// The source's grants are malformed (an unparsable allowed host…).
    #[error("invalid grant for source {source_id}: {reason}")]
    Grant { source_id: String, reason: String },
    /// The plugin returned something the contract forbids (a config schema
    /// that is not JSON…).
    #[error("plugin returned invalid data: {0}")]
    InvalidOutput(String),
    #[error("cannot set up the plugin host: {0}")]
    Setup(String),
}

/// A file (a plugin, an inbox) as errors name it: its name, not its path. A
/// run's error reaches coordinators, who need to know which plugin, not
/// where the hub keeps it.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string_lossy().into_owned())
}

/// Loads, caches and instantiates connector plugins.
pub struct PluginHost {
    engine: Engine,
    settings: HostSettings,
    cache: Arc<Cache>,
    /// Plugins loaded so far, by path, with the identity of their file.
    loaded: Mutex<HashMap<PathBuf, (FileIdentity, Plugin)>>,
    /// Links every supported contract version (see `bindings`).
    linker: Linker<HostState>,
    http: Arc<http::HttpClient>,
    _ticker: EpochTicker,
}

impl PluginHost {
    pub fn new(settings: HostSettings) -> Result<Self, HostError> {
        let mut config = wasmtime::Config::new();
        // Epochs, not fuel: a cheap check at loop heads and calls, bumped by
        // a ticker thread; the store decides per tick (see `limits`).
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| HostError::Setup(format!("{e:#}")))?;
        let linker = bindings::linker(&engine).map_err(|e| HostError::Setup(format!("{e:#}")))?;
        let cache = Arc::new(Cache::open(&settings.cache_dir)?);
        let http = Arc::new(http::HttpClient::new(settings.http.clone())?);
        // Without a ticker no deadline would ever fire.
        let ticker = EpochTicker::start(engine.clone()).map_err(|source| HostError::Io {
            context: "cannot start the epoch ticker thread".into(),
            source,
        })?;
        Ok(PluginHost {
            engine,
            settings,
            cache,
            loaded: Mutex::new(HashMap::new()),
            linker,
            http,
            _ticker: ticker,
        })
    }

    pub fn settings(&self) -> &HostSettings {
        &self.settings
    }

    /// Loads a component: from memory when this file (same inode, size and
    /// times) was loaded before by this host, else from the compile cache when
    /// this exact file was compiled before by this wasmtime build. A run loads
    /// its plugin each time: this keeps that to a `stat`, where reading,
    /// hashing and authenticating a 20 MB component would cost a second.
    pub async fn load(&self, wasm: &Path) -> Result<Plugin, HostError> {
        let identity = FileIdentity::of(wasm).await?;
        if let Some(plugin) = self.loaded(wasm, &identity) {
            return Ok(plugin);
        }
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let path = wasm.to_path_buf();
        // Compiling is ~300 ms of CPU (seconds for a Python component): keep
        // it off the async workers.
        let (component, from_cache, sha256) =
            tokio::task::spawn_blocking(move || cache.load_file(&engine, &path))
                .await
                .map_err(|e| HostError::Setup(format!("compile task failed: {e}")))??;

        let version = bindings::wit_version(&self.engine, &component)
            .map_err(|reason| HostError::Instantiate(format!("{}: {reason}", file_name(wasm))))?;
        let pre = GuestPre::new(&self.linker, version, &component)
            .map_err(|e| HostError::Instantiate(format!("{}: {e:#}", file_name(wasm))))?;
        let plugin = Plugin {
            inner: Arc::new(PluginInner {
                pre,
                sha256,
                path: wasm.to_path_buf(),
            }),
            from_cache,
        };
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(wasm.to_path_buf(), (identity, plugin.clone()));
        }
        Ok(plugin)
    }

    /// The plugin this host loaded from this very file, if it has not changed.
    fn loaded(&self, wasm: &Path, identity: &FileIdentity) -> Option<Plugin> {
        let loaded = self.loaded.lock().ok()?;
        let (known, plugin) = loaded.get(wasm)?;
        (known == identity).then(|| Plugin {
            inner: plugin.inner.clone(),
            from_cache: true,
        })
    }

    /// A fresh sandbox for one run of one source.
    pub async fn instantiate(
        &self,
        plugin: &Plugin,
        grants: Grants,
    ) -> Result<Instance, HostError> {
        let logger = Arc::new(Logger::new(
            grants.log.clone(),
            secrets::Redactor::new(grants.secrets.values()),
            logging::Caps {
                line_bytes: self.settings.max_log_line_bytes,
                plugin_lines: self.settings.max_log_lines,
                hub_lines: self.settings.max_hub_log_lines,
            },
        ));
        let granter =
            granter::Granter::new(&grants.allowed_hosts).map_err(|reason| HostError::Grant {
                source_id: grants.source.clone(),
                reason,
            })?;
        let stats = Arc::new(Mutex::new(HttpStats::default()));
        let session = http::HttpSession::new(
            self.http.clone(),
            granter,
            grants.request_budget,
            stats.clone(),
            logger.clone(),
        );
        let wasi = files::wasi_ctx(grants.inbox.as_deref(), &logger)?;
        let data = HostState::new(
            wasi,
            session,
            secrets::Secrets::new(grants.secrets.clone()),
            grants.inbox.is_some(),
            logger.clone(),
            limits::MemoryLimiter::new(self.settings.memory_limit_bytes),
        );
        let mut store = Store::new(&self.engine, data);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(limits::on_epoch_deadline);
        // Time in host functions (HTTP, WASI sleeps and reads) is waiting,
        // not guest CPU: the call clock takes it off the CPU deadline.
        store.call_hook(|mut store, hook| {
            match hook {
                CallHook::CallingHost => store.data_mut().clock.enter_host(),
                CallHook::ReturningFromHost => store.data_mut().clock.leave_host(),
                CallHook::CallingWasm | CallHook::ReturningFromWasm => {}
            }
            Ok(())
        });
        // wasmtime checks this budget before it copies anything out of the
        // guest: a huge string is refused without ever being allocated here.
        store.set_hostcall_fuel(self.settings.max_call_bytes);

        let mut instance = Instance {
            live: None,
            settings: self.settings.clone(),
            logger,
            stats,
            wit_version: plugin.inner.pre.version(),
            cancel: None,
        };
        // Instantiation runs the guest's start code: same limits as a call.
        let pre = plugin.inner.pre.clone();
        let guest = guarded(
            &self.settings,
            &instance.logger,
            None,
            &mut store,
            async |store| pre.instantiate(store).await,
        )
        .await
        .map_err(|e| match e {
            HostError::Trap(reason) => HostError::Instantiate(reason),
            other => other,
        })?;
        instance.live = Some(Live { store, guest });
        Ok(instance)
    }
}

/// Which file a plugin was loaded from, as far as `stat` tells: a rebuilt or
/// replaced `.wasm` differs in one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    async fn of(path: &Path) -> Result<Self, HostError> {
        use std::os::unix::fs::MetadataExt as _;
        let m = tokio::fs::metadata(path)
            .await
            .map_err(|source| HostError::Io {
                context: format!("cannot read plugin {}", file_name(path)),
                source,
            })?;
        Ok(FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// A loaded connector component.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
    from_cache: bool,
}

struct PluginInner {
    pre: GuestPre,
    sha256: String,
    path: PathBuf,
}

impl Plugin {
    /// SHA-256 of the `.wasm` file, hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// Whether `load` found the compiled component in memory or in the
    /// compile cache (rather than compiling it).
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
    /// The contract version the plugin was built against (`0.2.0`).
    pub fn wit_version(&self) -> &'static str {
        self.inner.pre.version().as_str()
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.inner.path)
            .field("sha256", &self.inner.sha256)
            .field("wit_version", &self.wit_version())
            .finish()
    }
}

/// One sandboxed plugin instance, for one run of one source.
pub struct Instance {
    /// `None` once poisoned: after a trap wasmtime forbids re-entering the
    /// instance, so the store (and its memory) is dropped at once.
    live: Option<Live>,
    settings: HostSettings,
    logger: Arc<Logger>,
    stats: Arc<Mutex<HttpStats>>,
    wit_version: WitVersion,
    /// Cancelled by the caller (shutdown, a cancelled run): stops the call
    /// in flight, wherever it is.
    cancel: Option<CancellationToken>,
}

struct Live {
    store: Store<HostState>,
    guest: Guest,
}

impl Instance {
    /// From now on a cancelled `token` stops the call in flight at once
    /// (guest code or a host wait alike) with [`HostError::Interrupted`],
    /// and refuses further calls. `None` removes it.
    pub fn set_cancel(&mut self, token: Option<CancellationToken>) {
        self.cancel = token;
    }

    pub async fn spec(&mut self) -> Result<ConnectorSpec, HostError> {
        let spec = self
            .call(async |guest, store| guest.spec(store).await)
            .await??;
        let mut spec = spec;
        spec.wit_version = self.wit_version.as_str().to_string();
        Ok(spec)
    }

    pub async fn check(&mut self, config: &str) -> Result<Result<(), ConnectorError>, HostError> {
        let result = self
            .call(async |guest, store| guest.check(store, config).await)
            .await?;
        Ok(result.map_err(|e| self.redact_error(e)))
    }

    pub async fn discover(
        &mut self,
        config: &str,
    ) -> Result<Result<Vec<StreamInfo>, ConnectorError>, HostError> {
        let result = self
            .call(async |guest, store| guest.discover(store, config).await)
            .await?;
        Ok(result.map_err(|e| self.redact_error(e)))
    }

    pub async fn read(
        &mut self,
        config: &str,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Result<Batch, ConnectorError>, HostError> {
        let max = self.settings.max_batch_items;
        let result = self
            .call(async |guest, store| guest.read(store, config, stream, state, max).await)
            .await??;
        Ok(match result {
            Ok(mut batch) => {
                measure::check_batch(
                    &batch,
                    self.settings.max_record_bytes,
                    self.settings.max_string_bytes,
                )?;
                // Reject details reach run reports: no secret in them.
                for reject in &mut batch.rejects {
                    reject.detail = self.logger.redact(&reject.detail);
                }
                Ok(batch)
            }
            Err(e) => Err(self.redact_error(e)),
        })
    }

    /// HTTP requests this instance made so far.
    pub fn http_stats(&self) -> HttpStats {
        self.stats
            .lock()
            .map(|stats| stats.clone())
            .unwrap_or_default()
    }

    /// Whether an earlier failure made this instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.live.is_none()
    }

    fn redact_error(&self, error: ConnectorError) -> ConnectorError {
        match error {
            ConnectorError::BadConfig(m) => ConnectorError::BadConfig(self.logger.redact(&m)),
            ConnectorError::AuthFailed(m) => ConnectorError::AuthFailed(self.logger.redact(&m)),
            ConnectorError::BadData(m) => ConnectorError::BadData(self.logger.redact(&m)),
            ConnectorError::PartnerUnavailable {
                message,
                retry_after_secs,
            } => ConnectorError::PartnerUnavailable {
                message: self.logger.redact(&message),
                retry_after_secs,
            },
        }
    }

    /// Runs one export call under the limits; poisons the instance on any
    /// trap or timeout.
    async fn call<R>(
        &mut self,
        f: impl AsyncFnOnce(&Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(HostError::Interrupted);
        }
        let Some(mut live) = self.live.take() else {
            return Err(HostError::Poisoned);
        };
        let guest = live.guest.clone();
        let result = guarded(
            &self.settings,
            &self.logger,
            self.cancel.as_ref(),
            &mut live.store,
            async |store| f(&guest, store).await,
        )
        .await;
        if result.is_ok() {
            self.live = Some(live);
        }
        // else: `live` drops here with its store.
        result
    }
}

/// Runs guest code (a call, or instantiation) under the CPU deadline, the
/// wall-clock timeout and the caller's cancellation, and says what went
/// wrong in the hub's terms.
///
/// A free function taking the pieces it needs rather than `&Instance`: the
/// store is not `Sync`, and the future must stay `Send` for the scheduler.
async fn guarded<R>(
    settings: &HostSettings,
    logger: &Logger,
    cancel: Option<&CancellationToken>,
    store: &mut Store<HostState>,
    f: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
) -> Result<R, HostError> {
    store
        .data_mut()
        .clock
        .start_call(settings.call_cpu_deadline);
    // Check after one tick; the callback extends the deadline tick by tick
    // while the guest's own time stays within its budget.
    store.set_epoch_deadline(1);
    let call = tokio::time::timeout(settings.call_wall_timeout, f(store));
    // A guest in wasm code yields at every epoch tick and a guest in a host
    // function (HTTP, a sleep) waits on a future: either way the select sees
    // the cancellation within a tick, and dropping the call stops it (the
    // caller then drops the store, as after any timeout).
    let cancelled = async {
        match cancel {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        outcome = call => Some(outcome),
        () = cancelled => None,
    };
    logger.flush_stdio();
    match outcome {
        None => Err(HostError::Interrupted),
        Some(Err(_elapsed)) => Err(HostError::WallTimeout {
            timeout: settings.call_wall_timeout,
        }),
        Some(Ok(Ok(value))) => Ok(value),
        Some(Ok(Err(error))) => Err(classify(settings, logger, store, error)),
    }
}

fn classify(
    settings: &HostSettings,
    logger: &Logger,
    store: &Store<HostState>,
    error: wasmtime::Error,
) -> HostError {
    if store.data().limiter.exceeded() {
        return HostError::MemoryLimit {
            limit_bytes: settings.memory_limit_bytes,
        };
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            return HostError::OutOfTime {
                deadline: settings.call_cpu_deadline,
            };
        }
        Some(wasmtime::Trap::StackOverflow) => return HostError::StackOverflow,
        _ => {}
    }
    if is_hostcall_fuel_exhausted(&error) {
        return HostError::CallDataTooLarge {
            limit_bytes: settings.max_call_bytes,
        };
    }
    let mut message = format!("{error:?}");
    if let Some(wasmtime::Trap::MemoryOutOfBounds) = error.downcast_ref::<wasmtime::Trap>() {
        // A Rust or C guest keeps its stack in its own linear memory, below
        // its statics: running out of it faults here, not as a stack overflow.
        message.insert_str(
            0,
            "out of bounds memory access, often the plugin's own stack running out \
             (recursion too deep, or large local arrays):\n",
        );
    }
    let tail = logger.stderr_tail();
    if !tail.is_empty() {
        message.push_str("\nstderr (last lines):\n");
        message.push_str(&tail);
    }
    HostError::Trap(logger.redact(&message))
}

/// wasmtime's refusal to copy more than the store's hostcall fuel; its
/// error type is private, so it is known by its message (pinned by a test).
fn is_hostcall_fuel_exhausted(error: &wasmtime::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.to_string().contains("fuel allocated for hostcalls"))
}

impl Drop for Instance {
    /// The rest of the plugin's output, then the run's HTTP summary, written
    /// whatever way the run ends (success, failure, interruption) and past
    /// any log cap: it is the audit trail of what the plugin reached.
    fn drop(&mut self) {
        self.logger.finish();
        let stats = self.http_stats();
        if stats.requests > 0 || stats.denied > 0 {
            self.logger.hub(
                LogLevel::Info,
                &format!(
                    "http: {} requests, statuses {:?}, {} retries, waited {:.1?}, {} denied, {} failed",
                    stats.requests,
                    stats.by_status,
                    stats.retries,
                    stats.waited,
                    stats.denied,
                    stats.failures
                ),
            );
        }
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("wit_version", &self.wit_version)
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}
