//! The HTTP side: routing, auth, rate limit, faults, keyset pages, and the control
//! endpoints that let an out-of-process test drive the simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::data::{GardenData, Keyed, View};
use crate::kobo::{self, Form, KoboExpected};
use crate::{Expected, Fault, SimConfig, Territory};

pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const MAX_LIMIT: usize = 500;
const WINDOW: Duration = Duration::from_secs(60);

/// Locks that survive a panicking holder: the data stays usable for the next test.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fault and how many more requests it applies to (`None`: until replaced).
#[derive(Default)]
struct ActiveFault {
    fault: Fault,
    remaining: Option<u32>,
}

impl ActiveFault {
    fn new(fault: Fault) -> Self {
        let remaining = match &fault {
            Fault::None | Fault::Slow { .. } => None,
            Fault::TooManyRequests { times, .. } => Some(*times),
            Fault::ServerError { times }
            | Fault::Truncated { times }
            | Fault::Cut { times }
            | Fault::RateLimited { times }
            | Fault::InvalidUtf8 { times }
            | Fault::RepeatCursor { times }
            | Fault::WrongContentType { times } => *times,
        };
        ActiveFault { fault, remaining }
    }

    /// The fault to apply to this request, counting it down.
    fn take(&mut self) -> Fault {
        match self.remaining {
            Some(0) => {
                *self = ActiveFault::default();
                Fault::None
            }
            Some(n) => {
                self.remaining = Some(n - 1);
                self.fault.clone()
            }
            None => self.fault.clone(),
        }
    }
}

/// A fixed one-minute window per garden: simple, and what the partner's tool does.
struct Window {
    started: Instant,
    count: u32,
}

struct GardenState {
    token: String,
    data: RwLock<GardenData>,
    fault: Mutex<ActiveFault>,
    window: Mutex<Window>,
}

struct Shared {
    rate_limit: Option<u32>,
    gardens: BTreeMap<String, GardenState>,
    /// KoboToolbox forms by asset uid, one per territory served.
    kobo: kobo::Forms,
    served: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl Shared {
    fn garden(&self, id: &str) -> Option<&GardenState> {
        self.gardens.get(id)
    }

    fn set_fault(&self, garden: Option<&str>, fault: &Fault) -> Result<(), ControlError> {
        match garden {
            Some(id) => {
                let state = self
                    .garden(id)
                    .ok_or_else(|| ControlError::UnknownGarden(id.to_string()))?;
                *lock(&state.fault) = ActiveFault::new(fault.clone());
            }
            None => {
                for state in self.gardens.values() {
                    *lock(&state.fault) = ActiveFault::new(fault.clone());
                }
            }
        }
        Ok(())
    }

    fn change_share(&self, garden: &str, share: f64) -> Result<Vec<String>, ControlError> {
        let state = self
            .garden(garden)
            .ok_or_else(|| ControlError::UnknownGarden(garden.to_string()))?;
        Ok(write(&state.data).change_share(share))
    }

    fn record(&self, status: StatusCode) {
        self.served.fetch_add(1, Ordering::Relaxed);
        *lock(&self.by_status).entry(status.as_u16()).or_default() += 1;
    }
}

/// A simulator serving on a local port. Dropping it stops the server too.
pub struct RunningSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Generates the data and serves it on `127.0.0.1:0`.
pub async fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
    start_at(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Generates the data and serves it on `addr` (the binary's `--port`).
pub async fn start_at(config: SimConfig, addr: SocketAddr) -> anyhow::Result<RunningSim> {
    let mut seen = std::collections::BTreeSet::new();
    for garden in &config.gardens {
        anyhow::ensure!(
            !garden.id.is_empty() && !garden.id.starts_with('_') && !garden.id.contains('/'),
            "garden id `{}` cannot be a URL segment",
            garden.id
        );
        anyhow::ensure!(seen.insert(&garden.id), "garden `{}` twice", garden.id);
    }

    // Generation is CPU work (a million deliveries takes a moment): one blocking task
    // per garden, so gardens generate in parallel and the runtime stays responsive.
    let generations: Vec<_> = config
        .gardens
        .iter()
        .map(|garden| {
            let (seed, size, ties, garden) =
                (config.seed, config.size, config.ties, garden.clone());
            tokio::task::spawn_blocking(move || GardenData::generate(seed, size, ties, garden))
        })
        .collect();
    let mut gardens = BTreeMap::new();
    let mut generated = Vec::new();
    for generation in generations {
        generated.push(generation.await.context("generating a garden's data")?);
    }
    // One survey form per territory, drawing households from its gardens' members.
    let mut kobo = kobo::Forms::new();
    for territory in Territory::ALL {
        let of_territory: Vec<_> = config
            .gardens
            .iter()
            .zip(&generated)
            .filter(|(garden, _)| garden.territory == territory)
            .collect();
        if of_territory.is_empty() {
            continue;
        }
        let form = Form::generate(
            config.seed,
            territory,
            config.surveys,
            config.ties,
            &of_territory,
        );
        kobo.insert(kobo::asset_uid(territory), RwLock::new(form));
    }
    for data in generated {
        gardens.insert(
            data.garden.id.clone(),
            GardenState {
                token: data.garden.token.clone(),
                data: RwLock::new(data),
                fault: Mutex::new(ActiveFault::default()),
                window: Mutex::new(Window {
                    started: Instant::now(),
                    count: 0,
                }),
            },
        );
    }
    let shared = Arc::new(Shared {
        rate_limit: config.rate_limit_per_minute,
        gardens,
        kobo,
        served: AtomicU64::new(0),
        by_status: Mutex::new(BTreeMap::new()),
    });

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(shared.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender stops the server as well as an explicit shutdown.
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningSim {
        addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

impl RunningSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/<garden>`; the API is under `{base_url}/api/v2/`.
    pub fn base_url(&self, garden: &str) -> String {
        format!("http://{}/{garden}", self.addr)
    }

    /// The ids of the gardens served, in URL order.
    pub fn gardens(&self) -> Vec<String> {
        self.shared.gardens.keys().cloned().collect()
    }

    /// Sets the fault of one garden, or of every garden (each counts its own `times`).
    /// An unknown garden is ignored.
    pub fn set_fault(&self, garden: Option<&str>, fault: Fault) {
        let _ = self.shared.set_fault(garden, &fault);
    }

    /// Edits `round(share × deliveries)` deliveries of `garden` (status and `basket_kg`)
    /// and gives them `updated_at` instants after every existing one; returns their ids.
    pub fn change_share(&self, garden: &str, share: f64) -> Vec<String> {
        self.shared.change_share(garden, share).unwrap_or_default()
    }

    /// Every delivery of `garden` as currently served, in keyset order.
    pub fn deliveries(&self, garden: &str) -> Vec<serde_json::Value> {
        self.all(garden, |data| {
            data.deliveries
                .iter()
                .map(|item| serde_json::to_value(View { item, data }))
                .collect()
        })
    }

    /// Every subscription of `garden` as currently served, in keyset order.
    pub fn subscriptions(&self, garden: &str) -> Vec<serde_json::Value> {
        self.all(garden, |data| {
            data.subscriptions
                .iter()
                .map(|item| serde_json::to_value(View { item, data }))
                .collect()
        })
    }

    fn all(
        &self,
        garden: &str,
        render: impl Fn(&GardenData) -> Result<Vec<serde_json::Value>, serde_json::Error>,
    ) -> Vec<serde_json::Value> {
        self.shared
            .garden(garden)
            .and_then(|state| render(&read(&state.data)).ok())
            .unwrap_or_default()
    }

    /// What a correct connector and host must store and quarantine for `garden`.
    pub fn expected(&self, garden: &str) -> Expected {
        self.shared
            .garden(garden)
            .map(|state| read(&state.data).expected.clone())
            .unwrap_or_default()
    }

    /// The KoboToolbox server's URL (`{server}` of partners §6); its key is
    /// [`kobo::KOBO_TOKEN`] and each territory's form is [`kobo::asset_uid`].
    pub fn kobo_url(&self) -> String {
        format!("http://{}{}", self.addr, kobo::KOBO_PREFIX)
    }

    /// Every submission of a territory's form, as the API renders them.
    pub fn kobo_results(&self, territory: Territory) -> Vec<serde_json::Value> {
        self.shared
            .kobo
            .get(&kobo::asset_uid(territory))
            .map(|form| read(form).results())
            .unwrap_or_default()
    }

    /// What a correct connector and hub make of a territory's form.
    pub fn kobo_expected(&self, territory: Territory) -> KoboExpected {
        self.shared
            .kobo
            .get(&kobo::asset_uid(territory))
            .map(|form| read(form).expected())
            .unwrap_or_default()
    }

    /// Adds a submission in the same second as the form's latest one; its `_id`.
    pub fn kobo_add_in_last_second(&self, territory: Territory) -> Option<u64> {
        self.shared
            .kobo
            .get(&kobo::asset_uid(territory))
            .map(|form| write(form).add_in_last_second())
    }

    /// API requests answered (any status), control requests excluded.
    pub fn requests_served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    pub fn requests_by_status(&self) -> BTreeMap<u16, u64> {
        lock(&self.shared.by_status).clone()
    }

    /// Stops accepting connections and waits for requests in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{garden}/api/v2/{resource}", get(api))
        .route("/kobo/api/v2/assets/{uid}/data/", get(kobo_api))
        .route("/_control/fault", post(control_fault))
        .route("/_control/change", post(control_change))
        .route("/_control/expected", get(control_expected))
        .route("/_control/stats", get(control_stats))
        .with_state(shared)
}

/// A JSON error body, the way the partner's API reports them.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path((garden, resource)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let response = answer(&shared, &garden, &resource, &headers, query.as_deref()).await;
    shared.record(response.status());
    response
}

async fn kobo_api(
    State(shared): State<Arc<Shared>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let response = kobo::answer(&shared.kobo, &uid, &headers, query.as_deref());
    shared.record(response.status());
    response
}

#[derive(Clone, Copy)]
enum Kind {
    Subscriptions,
    Deliveries,
}

async fn answer(
    shared: &Shared,
    garden: &str,
    resource: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let Some(state) = shared.garden(garden) else {
        return error(StatusCode::NOT_FOUND, format!("no garden `{garden}`"));
    };
    let kind = match resource {
        "subscriptions" => Kind::Subscriptions,
        "deliveries" => Kind::Deliveries,
        _ => return error(StatusCode::NOT_FOUND, format!("no resource `{resource}`")),
    };
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == state.token);
    if !authorized {
        let mut response = error(StatusCode::UNAUTHORIZED, "invalid or missing token");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if let Some(limit) = shared.rate_limit {
        let mut window = lock(&state.window);
        let now = Instant::now();
        if now.duration_since(window.started) >= WINDOW {
            window.started = now;
            window.count = 0;
        }
        if window.count >= limit {
            let left = WINDOW.saturating_sub(now.duration_since(window.started));
            return too_many(left.as_secs_f64().ceil().max(1.0) as u32);
        }
        window.count += 1;
    }

    let fault = lock(&state.fault).take();
    match fault {
        Fault::None
        | Fault::Truncated { .. }
        | Fault::Cut { .. }
        | Fault::InvalidUtf8 { .. }
        | Fault::RepeatCursor { .. } => {}
        Fault::TooManyRequests {
            retry_after_secs, ..
        } => return too_many(retry_after_secs),
        Fault::RateLimited { .. } => {
            return error(StatusCode::TOO_MANY_REQUESTS, "too many requests");
        }
        Fault::ServerError { .. } => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
        Fault::Slow { delay_ms } => tokio::time::sleep(Duration::from_millis(delay_ms)).await,
        Fault::WrongContentType { .. } => {
            return (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><head><title>Maintenance</title></head>\
                 <body><h1>Service en maintenance</h1></body></html>",
            )
                .into_response();
        }
    }

    let mut request = match PageRequest::parse(query) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if matches!(fault, Fault::RepeatCursor { .. }) {
        request.after = None;
    }
    let body = {
        let data = read(&state.data);
        match kind {
            Kind::Subscriptions => page(&data, &data.subscriptions, &request),
            Kind::Deliveries => page(&data, &data.deliveries, &request),
        }
    };
    let mut body = match body {
        Ok(body) => body,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if matches!(fault, Fault::Truncated { .. }) {
        body.truncate(body.len() / 2);
    }
    if matches!(fault, Fault::InvalidUtf8 { .. })
        && let Some(at) = body.windows(3).position(|w| w == b"\":\"")
    {
        body.insert(at + 3, 0xFF);
    }
    if matches!(fault, Fault::Cut { .. }) {
        let length = body.len();
        let half = body[..length / 2].to_vec();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the partner's application stopped half-way",
            )),
        ];
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
            ],
            Body::from_stream(futures_util::stream::iter(chunks)),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

fn too_many(retry_after_secs: u32) -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "too many requests");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("limit must be an integer from 1 to {MAX_LIMIT}, got `{0}`")]
    Limit(String),
    #[error("updated_since must be an RFC 3339 date-time with an offset, got `{0}`")]
    UpdatedSince(String),
    #[error("invalid cursor")]
    Cursor,
    #[error("malformed query string")]
    Encoding,
}

/// The query of a page request, validated.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PageRequest {
    since: Option<i64>,
    after: Option<(i64, u32)>,
    limit: usize,
}

impl PageRequest {
    fn parse(query: Option<&str>) -> Result<Self, QueryError> {
        let mut request = PageRequest {
            limit: DEFAULT_LIMIT,
            ..PageRequest::default()
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = form_decode(value).ok_or(QueryError::Encoding)?;
            match name {
                "limit" => {
                    request.limit = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or(QueryError::Limit(value))?;
                }
                "updated_since" => request.since = Some(parse_since(&value)?),
                "cursor" => request.after = Some(decode_cursor(&value)?),
                // Unknown parameters are ignored, like most real APIs do.
                _ => {}
            }
        }
        Ok(request)
    }
}

/// Encodes a query value: every byte but `A-Za-z0-9-._~` as `%XX`.
pub(crate) fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decodes `application/x-www-form-urlencoded`: `%XX` escapes and `+` as a space.
pub(crate) fn form_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parses `updated_since`. A client that forgot to encode `+01:00` sends a literal `+`,
/// which form decoding turns into a space: a space where the offset sign belongs is
/// read back as `+`. A space between date and time (allowed by RFC 3339) is read as `T`.
fn parse_since(value: &str) -> Result<i64, QueryError> {
    let fail = || QueryError::UpdatedSince(value.to_string());
    let mut text = value.trim().to_string();
    if text.len() > 10 && matches!(text.as_bytes()[10], b' ' | b't') {
        text.replace_range(10..11, "T");
    }
    if let Some(space) = text.rfind(' ') {
        text.replace_range(space..space + 1, "+");
    }
    time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map(|at| at.unix_timestamp())
        .map_err(|_| fail())
}

/// The cursor is the hex of the last item's keyset position, so it survives edits
/// (an item moving forward is seen again later, never skipped by an offset shift).
pub(crate) fn encode_cursor((at, no): (i64, u32)) -> String {
    format!("{at}.{no}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<(i64, u32), QueryError> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 64 {
        return Err(QueryError::Cursor);
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or(QueryError::Cursor)?;
    let text = String::from_utf8(bytes).map_err(|_| QueryError::Cursor)?;
    let (at, no) = text.split_once('.').ok_or(QueryError::Cursor)?;
    Ok((
        at.parse().map_err(|_| QueryError::Cursor)?,
        no.parse().map_err(|_| QueryError::Cursor)?,
    ))
}

#[derive(Serialize)]
struct Page<I: Serialize> {
    items: I,
    next_cursor: Option<String>,
}

/// Items of one page, serialized straight from the stored structs.
struct Items<'a, T> {
    items: &'a [T],
    data: &'a GardenData,
}

impl<'a, T> Serialize for Items<'a, T>
where
    View<'a, T>: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.items.iter().map(|item| View {
            item,
            data: self.data,
        }))
    }
}

/// One page: two binary searches and a slice, whatever the size of the data.
fn page<'a, T: Keyed>(
    data: &'a GardenData,
    all: &'a [T],
    request: &PageRequest,
) -> Result<Vec<u8>, serde_json::Error>
where
    View<'a, T>: Serialize,
{
    let mut start = match request.since {
        Some(since) => all.partition_point(|item| item.key().0 < since),
        None => 0,
    };
    if let Some(after) = request.after {
        start = start.max(all.partition_point(|item| item.key() <= after));
    }
    let end = start.saturating_add(request.limit).min(all.len());
    let items = &all[start..end];
    let next_cursor = match items.last() {
        Some(last) if end < all.len() => Some(encode_cursor(last.key())),
        _ => None,
    };
    serde_json::to_vec(&Page {
        items: Items { items, data },
        next_cursor,
    })
}

#[derive(Debug, thiserror::Error)]
enum ControlError {
    #[error("no garden `{0}`")]
    UnknownGarden(String),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        error(StatusCode::NOT_FOUND, self.to_string())
    }
}

#[derive(Deserialize)]
struct GardenQuery {
    garden: Option<String>,
}

#[derive(Deserialize)]
struct ChangeQuery {
    garden: String,
    share: f64,
}

#[derive(Deserialize)]
struct ExpectedQuery {
    garden: String,
}

/// `POST /_control/fault[?garden=G]` with a [`Fault`] as JSON; all gardens by default.
async fn control_fault(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<GardenQuery>,
    Json(fault): Json<Fault>,
) -> Result<StatusCode, ControlError> {
    shared.set_fault(query.garden.as_deref(), &fault)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /_control/change?garden=G&share=0.01` → `{"changed": [ids]}`.
async fn control_change(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ChangeQuery>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let changed = shared.change_share(&query.garden, query.share)?;
    Ok(Json(serde_json::json!({ "changed": changed })))
}

/// `GET /_control/expected?garden=G` → the garden's [`Expected`].
async fn control_expected(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ExpectedQuery>,
) -> Result<Json<Expected>, ControlError> {
    let state = shared
        .garden(&query.garden)
        .ok_or(ControlError::UnknownGarden(query.garden))?;
    Ok(Json(read(&state.data).expected.clone()))
}

/// `GET /_control/stats` → requests served, by status.
async fn control_stats(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let by_status = lock(&shared.by_status).clone();
    Json(serde_json::json!({
        "requests_served": shared.served.load(Ordering::Relaxed),
        "requests_by_status": by_status,
    }))
}

#[cfg(test)]
mod tests;
