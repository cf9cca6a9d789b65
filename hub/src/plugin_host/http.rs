//! `host.http-send`: outgoing HTTP through the hub's one pooled client.
//!
//! Per request: the URL must pass the source's allowlist ([`Granter`]);
//! every attempt is counted against the source's budget; 429, 5xx, connect
//! errors and timeouts are retried with exponential backoff and jitter,
//! honouring `Retry-After` (capped); redirects are followed by hand, at
//! most [`MAX_REDIRECTS`], each `Location` re-checked against the same
//! allowlist; the body is capped.
//!
//! After DNS: the shared client resolves names through [`CheckedResolver`],
//! which drops every non-public address (see `granter`). The client
//! connects only to what the resolver returned, so there is no window
//! between the check and the connect (no DNS rebinding), and no proxy is
//! configured, so nobody resolves on our behalf. The resolver needs no
//! per-source knowledge: a name's addresses are judged the same for every
//! source, and IP literals, which only pass the allowlist when named
//! literally, are never resolved.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::HostError;
use super::granter::{self, Granter};
use super::logging::{LogLevel, Logger};

pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Per attempt, connect to last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt (429, 5xx, connect errors, timeouts).
    pub max_retries: u32,
    /// First backoff; doubled at each retry, with jitter.
    pub base_backoff: Duration,
    /// Longest wait, for a `Retry-After` as for a backoff.
    pub max_retry_after: Duration,
    pub max_body_bytes: usize,
    /// Record every exchange, or answer from recorded ones without touching
    /// the network (`vivres connector test --record` / `--fixtures`).
    pub tape: Option<Tape>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            base_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(120),
            max_body_bytes: 64 * 1024 * 1024,
            tape: None,
        }
    }
}

/// In [`HttpStats::by_status`], below 100 (no HTTP status is): attempts
/// that got no response, by why. They are facts of `run_http` beside the
/// statuses, so `/metrics` counts a partner that times out or refuses
/// connections per source as it counts its 404s and 5xx.
pub mod no_response {
    /// The attempt timed out.
    pub const TIMEOUT: u16 = 1;
    /// The connection failed (refused, unreachable, DNS).
    pub const CONNECT: u16 = 2;
    /// Any other transport failure (reset, malformed response…).
    pub const TRANSPORT: u16 = 3;

    /// The name of a code below 100, as `/metrics` labels it.
    pub fn reason(code: u16) -> Option<&'static str> {
        match code {
            TIMEOUT => Some("timeout"),
            CONNECT => Some("connect"),
            TRANSPORT => Some("transport"),
            _ => None,
        }
    }
}

/// What an instance's HTTP did, for the run report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Attempts sent (retries and redirect hops included).
    pub requests: u32,
    /// Responses by status code, and attempts without response by
    /// [`no_response`] code.
    pub by_status: BTreeMap<u16, u32>,
    pub retries: u32,
    /// Time spent waiting between attempts (backoff, `Retry-After`).
    pub waited: Duration,
    /// Requests refused by the allowlist or the address check.
    pub denied: u32,
    /// Attempts that got no response (connect error, timeout).
    pub failures: u32,
}

impl std::fmt::Display for HttpStats {
    /// `12 requests (200: 10, 429: 2), 2 retries, waited 1.2 s, 1 denied`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} requests", self.requests)?;
        if !self.by_status.is_empty() {
            let statuses = self
                .by_status
                .iter()
                .map(|(status, n)| match no_response::reason(*status) {
                    Some(reason) => format!("{reason}: {n}"),
                    None => format!("{status}: {n}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            write!(f, " ({statuses})")?;
        }
        write!(f, ", {} retries", self.retries)?;
        if !self.waited.is_zero() {
            write!(f, ", waited {:.1} s", self.waited.as_secs_f64())?;
        }
        if self.failures > 0 {
            write!(f, ", {} without response", self.failures)?;
        }
        if self.denied > 0 {
            write!(f, ", {} denied", self.denied)?;
        }
        Ok(())
    }
}

/// A request as the plugin gave it.
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The WIT `http-error`, on our side of the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    Denied(String),
    Timeout(String),
    BudgetExhausted,
    Transport(String),
    InvalidRequest(String),
}

/// Why a response's body could not be read.
enum BodyFailure {
    /// Over the host's limit: never retried.
    TooLarge(HttpFailure),
    /// The connection broke off (closed, reset, timed out): retried.
    BrokeOff(HttpFailure),
}

/// The hub's one client, shared by every instance.
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
}

impl HttpClient {
    pub fn new(settings: HttpSettings) -> Result<Self, HostError> {
        // reqwest is built without a default crypto provider; install ring
        // once per process (an error means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(CheckedResolver)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("vivres/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HostError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient { client, settings })
    }
}

/// A resolver that never returns an address the source may not reach.
struct CheckedResolver;

/// The resolver's refusal; found again in the error chain to tell the
/// plugin "denied" rather than "transport".
#[derive(Debug, thiserror::Error)]
#[error(
    "`{name}` resolves only to non-public addresses ({addresses}); name the IP address in the allowed hosts to reach it"
)]
struct AddressDenied {
    name: String,
    addresses: String,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match test_hosts::lookup(&name) {
                Some(found) => found,
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| granter::resolved_address_allowed(&name, addr.ip()))
                .collect();
            if allowed.is_empty() {
                let addresses = found
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(AddressDenied { name, addresses }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Names tests make resolve where they need (a partner name pointing at
/// 127.0.0.1), without touching the system resolver; the same filtering
/// then applies to them.
#[cfg(test)]
pub mod test_hosts {
    use std::collections::BTreeMap;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Mutex;

    static HOSTS: Mutex<BTreeMap<String, Vec<IpAddr>>> = Mutex::new(BTreeMap::new());

    pub fn insert(name: &str, ips: &[IpAddr]) {
        HOSTS.lock().unwrap().insert(name.to_string(), ips.to_vec());
    }

    pub fn lookup(name: &str) -> Option<Vec<SocketAddr>> {
        let hosts = HOSTS.lock().ok()?;
        let ips = hosts.get(name)?;
        Some(ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect())
    }
}

#[cfg(not(test))]
mod test_hosts {
    pub fn lookup(_name: &str) -> Option<Vec<std::net::SocketAddr>> {
        None
    }
}

/// One instance's HTTP: its allowlist, budget and counters.
pub struct HttpSession {
    client: Arc<HttpClient>,
    granter: Granter,
    budget: Option<u32>,
    attempts: u32,
    stats: Arc<Mutex<HttpStats>>,
    logger: Arc<Logger>,
}

/// Headers a plugin may not set: the client owns framing and routing (a
/// forged `Host` would reach another virtual host than the one granted).
const HOST_OWNED_HEADERS: [&str; 7] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "proxy-authorization",
];

/// Dropped when a redirect leaves the origin, as browsers do.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "www-authenticate"];

impl HttpSession {
    pub fn new(
        client: Arc<HttpClient>,
        granter: Granter,
        budget: Option<u32>,
        stats: Arc<Mutex<HttpStats>>,
        logger: Arc<Logger>,
    ) -> Self {
        HttpSession {
            client,
            granter,
            budget,
            attempts: 0,
            stats,
            logger,
        }
    }

    pub async fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let mut method = Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HttpFailure::InvalidRequest(format!("bad method `{}`", request.method)))?;
        let mut url = Url::parse(&request.url)
            .map_err(|e| HttpFailure::InvalidRequest(format!("bad URL: {e}")))?;
        let mut headers = guest_headers(&request.headers)?;
        let mut body = request.body;

        for hop in 0..=MAX_REDIRECTS {
            if let Err(reason) = self.granter.check_url(&url) {
                self.count(|s| s.denied += 1);
                self.logger.hub(
                    LogLevel::Warn,
                    &format!("http {method} {} denied: {reason}", loggable(&url)),
                );
                return Err(HttpFailure::Denied(reason));
            }
            let response = match self.client.settings.tape.clone() {
                Some(tape) if tape.mode() == TapeMode::Replay => {
                    self.replay(&tape, &method, &url, &body)?
                }
                Some(tape) => {
                    let response = self
                        .send_with_retries(&method, &url, &headers, &body)
                        .await?;
                    tape.record(&self.logger, &method, &url, &body, &response);
                    response
                }
                None => {
                    self.send_with_retries(&method, &url, &headers, &body)
                        .await?
                }
            };
            let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
            let location = response
                .headers
                .iter()
                .find(|(name, _)| name == reqwest::header::LOCATION.as_str())
                .map(|(_, value)| value.clone());
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                return Ok(response);
            };
            if hop == MAX_REDIRECTS {
                return Err(HttpFailure::Transport(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )));
            }
            let next = url.join(&location).map_err(|e| {
                HttpFailure::Transport(format!("redirect to an invalid location: {e}"))
            })?;
            // 303, and 301/302 after a POST, continue as a GET without body
            // (what every client does); 307/308 keep method and body.
            if status == StatusCode::SEE_OTHER
                || ((status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::FOUND)
                    && method == Method::POST)
            {
                method = Method::GET;
                body = None;
                headers.remove(reqwest::header::CONTENT_TYPE);
            }
            if next.origin() != url.origin() {
                for name in CREDENTIAL_HEADERS {
                    headers.remove(name);
                }
            }
            url = next;
        }
        // The loop returns on every path; this is for the compiler.
        Err(HttpFailure::Transport(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Sends one request, retrying 429, 5xx, connection failures, timeouts
    /// and answers that break off: a body cut by a closed connection, or a
    /// `200` declared JSON whose JSON is cut short (a partner's proxy
    /// failing half-way). Each attempt counts against the budget; the
    /// answer comes back whole.
    async fn send_with_retries(
        &mut self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &Option<Vec<u8>>,
    ) -> Result<HttpResponse, HttpFailure> {
        let settings = &self.client.settings;
        let mut retry = 0;
        loop {
            if let Some(budget) = self.budget
                && self.attempts >= budget
            {
                self.logger.hub(
                    LogLevel::Warn,
                    &format!("http request budget of {budget} spent"),
                );
                return Err(HttpFailure::BudgetExhausted);
            }
            self.attempts += 1;
            self.count(|s| s.requests += 1);
            let started = Instant::now();
            let mut builder = self
                .client
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .timeout(settings.timeout);
            if let Some(body) = body {
                builder = builder.body(body.clone());
            }
            let result = builder.send().await;
            let ms = started.elapsed().as_millis();
            let wait = match result {
                Ok(response) => {
                    let status = response.status();
                    self.count(|s| *s.by_status.entry(status.as_u16()).or_default() += 1);
                    self.logger.emit(
                        LogLevel::Debug,
                        &format!(
                            "http {method} {} -> {} in {ms} ms",
                            loggable(url),
                            status.as_u16()
                        ),
                    );
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    let after = retry_after(response.headers(), time::OffsetDateTime::now_utc());
                    let last = retry >= settings.max_retries;
                    if retryable && !last {
                        after
                            .map(|d| d.min(settings.max_retry_after))
                            .unwrap_or_else(|| backoff(settings, retry))
                    } else {
                        match self.read_response(response).await {
                            Ok(answer) if last || !cut_json(&answer) => return Ok(answer),
                            Ok(_) => {
                                self.count(|s| s.failures += 1);
                                self.logger.emit(
                                    LogLevel::Debug,
                                    &format!(
                                        "http {method} {} -> {}: the JSON body breaks off, retrying",
                                        loggable(url),
                                        status.as_u16()
                                    ),
                                );
                                backoff(settings, retry)
                            }
                            Err(BodyFailure::TooLarge(failure)) => return Err(failure),
                            Err(BodyFailure::BrokeOff(failure)) if last => return Err(failure),
                            Err(BodyFailure::BrokeOff(failure)) => {
                                self.count(|s| s.failures += 1);
                                self.logger.emit(
                                    LogLevel::Debug,
                                    &format!(
                                        "http {method} {} -> {}: the body broke off ({failure:?}), retrying",
                                        loggable(url),
                                        status.as_u16()
                                    ),
                                );
                                backoff(settings, retry)
                            }
                        }
                    }
                }
                Err(error) => {
                    if let Some(denied) = find_denial(&error) {
                        self.count(|s| s.denied += 1);
                        self.logger.hub(
                            LogLevel::Warn,
                            &format!("http {method} {} denied: {denied}", loggable(url)),
                        );
                        return Err(HttpFailure::Denied(denied.to_string()));
                    }
                    let code = if error.is_timeout() {
                        no_response::TIMEOUT
                    } else if error.is_connect() {
                        no_response::CONNECT
                    } else {
                        no_response::TRANSPORT
                    };
                    self.count(|s| {
                        s.failures += 1;
                        *s.by_status.entry(code).or_default() += 1;
                    });
                    let reason = describe(&error);
                    self.logger.emit(
                        LogLevel::Debug,
                        &format!(
                            "http {method} {} failed after {ms} ms: {reason}",
                            loggable(url)
                        ),
                    );
                    // A connection closed or reset before the answer came
                    // is retried when sending again cannot do twice what
                    // was done once (an idempotent method); a refused
                    // connection or a timeout always is.
                    let retryable = error.is_connect()
                        || error.is_timeout()
                        || (method.is_idempotent() && (error.is_request() || error.is_body()));
                    if !retryable || retry >= settings.max_retries {
                        return Err(if error.is_timeout() {
                            HttpFailure::Timeout(reason)
                        } else {
                            HttpFailure::Transport(reason)
                        });
                    }
                    backoff(settings, retry)
                }
            };
            retry += 1;
            self.count(|s| {
                s.retries += 1;
                s.waited += wait;
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// The recorded answer to this request, counted as an attempt would be.
    fn replay(
        &mut self,
        tape: &Tape,
        method: &Method,
        url: &Url,
        body: &Option<Vec<u8>>,
    ) -> Result<HttpResponse, HttpFailure> {
        if let Some(budget) = self.budget
            && self.attempts >= budget
        {
            return Err(HttpFailure::BudgetExhausted);
        }
        self.attempts += 1;
        self.count(|s| s.requests += 1);
        match tape.answer(&self.logger, method, url, body) {
            Some(answer) => {
                self.count(|s| *s.by_status.entry(answer.status).or_default() += 1);
                Ok(answer)
            }
            None => {
                self.count(|s| s.failures += 1);
                Err(HttpFailure::Transport(format!(
                    "no recorded exchange for {method} {}: record the fixtures again (`vivres connector test --record`)",
                    loggable(url)
                )))
            }
        }
    }

    async fn read_response(
        &self,
        mut response: reqwest::Response,
    ) -> Result<HttpResponse, BodyFailure> {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let max = self.client.settings.max_body_bytes;
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > max {
                        return Err(BodyFailure::TooLarge(HttpFailure::Transport(format!(
                            "response body larger than {} MiB",
                            max / (1024 * 1024)
                        ))));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(BodyFailure::BrokeOff(HttpFailure::Timeout(describe(&e))));
                }
                Err(e) => return Err(BodyFailure::BrokeOff(HttpFailure::Transport(describe(&e)))),
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn count(&self, f: impl FnOnce(&mut HttpStats)) {
        if let Ok(mut stats) = self.stats.lock() {
            f(&mut stats);
        }
    }
}

/// Whether a [`Tape`] records exchanges or answers from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeMode {
    Record,
    Replay,
}

/// HTTP exchanges recorded against a partner (or the simulator) and replayed
/// offline by the acceptance suite: the same door as live HTTP (allowlist,
/// budget, counters), only the wire is replaced. A request is known by its
/// method, URL and body with the source's secrets redacted, so a token in a
/// query string is never written to a fixture, and a replay with another
/// token finds the same exchange; request headers are not part of it.
#[derive(Clone)]
pub struct Tape {
    mode: TapeMode,
    inner: Arc<Mutex<TapeInner>>,
}

#[derive(Default)]
struct TapeInner {
    /// By request, the last answer recorded.
    exchanges: BTreeMap<String, Exchange>,
    /// Requests a replay found no answer for, as logged (`GET host/path`).
    missed: Vec<String>,
}

/// One recorded exchange, as `http.json` of a fixtures folder holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    pub method: String,
    /// The URL, secrets redacted as `***`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    pub status: u16,
    /// The response headers a connector reads (content type, paging,
    /// `Retry-After`, redirects); never cookies.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The response body as text, or `body_hex` when it is not UTF-8.
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hex: Option<String>,
}

/// Response headers worth recording.
const RECORDED_HEADERS: [&str; 7] = [
    "content-type",
    "location",
    "retry-after",
    "link",
    "etag",
    "last-modified",
    "x-total-count",
];

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tape")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Tape {
    /// An empty tape that records.
    pub fn recording() -> Self {
        Tape {
            mode: TapeMode::Record,
            inner: Arc::default(),
        }
    }

    /// A tape that answers from `exchanges`.
    pub fn replaying(exchanges: Vec<Exchange>) -> Self {
        let inner = TapeInner {
            exchanges: exchanges
                .into_iter()
                .map(|e| (request_id(&e.method, &e.url, e.request_body.as_deref()), e))
                .collect(),
            missed: Vec::new(),
        };
        Tape {
            mode: TapeMode::Replay,
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    pub fn mode(&self) -> TapeMode {
        self.mode
    }

    /// What was recorded (or loaded), in a stable order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.inner
            .lock()
            .map(|t| t.exchanges.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests a replay had no answer for.
    pub fn missed(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|t| t.missed.clone())
            .unwrap_or_default()
    }

    /// The `host:port` of every recorded URL: what a replay grants.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .exchanges()
            .iter()
            .filter_map(|e| {
                let url = Url::parse(&e.url).ok()?;
                let host = url.host_str()?.to_string();
                Some(match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    fn record(
        &self,
        logger: &Logger,
        method: &Method,
        url: &Url,
        body: &Option<Vec<u8>>,
        response: &HttpResponse,
    ) {
        let request_body = body
            .as_ref()
            .map(|b| logger.redact(&String::from_utf8_lossy(b)));
        let url = logger.redact(url.as_str());
        let (text, hex) = match std::str::from_utf8(&response.body) {
            Ok(text) => (text.to_string(), None),
            Err(_) => (String::new(), Some(hex::encode(&response.body))),
        };
        let exchange = Exchange {
            method: method.to_string(),
            url,
            request_body,
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(name, _)| RECORDED_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
                .cloned()
                .collect(),
            body: text,
            body_hex: hex,
        };
        let id = request_id(
            &exchange.method,
            &exchange.url,
            exchange.request_body.as_deref(),
        );
        if let Ok(mut tape) = self.inner.lock() {
            tape.exchanges.insert(id, exchange);
        }
    }

    fn answer(
        &self,
        logger: &Logger,
        method: &Method,
        url: &Url,
        body: &Option<Vec<u8>>,
    ) -> Option<HttpResponse> {
        let request_body = body
            .as_ref()
            .map(|b| logger.redact(&String::from_utf8_lossy(b)));
        let id = request_id(
            method.as_str(),
            &logger.redact(url.as_str()),
            request_body.as_deref(),
        );
        let mut tape = self.inner.lock().ok()?;
        let Some(e) = tape.exchanges.get(&id) else {
            tape.missed.push(format!("{method} {}", loggable(url)));
            return None;
        };
        let body = match &e.body_hex {
            Some(h) => hex::decode(h).unwrap_or_default(),
            None => e.body.clone().into_bytes(),
        };
        Some(HttpResponse {
            status: e.status,
            headers: e.headers.clone(),
            body,
        })
    }
}

fn request_id(method: &str, url: &str, body: Option<&str>) -> String {
    format!(
        "{} {url}\n{}",
        method.to_ascii_uppercase(),
        body.unwrap_or("")
    )
}

/// A successful answer that declares JSON and whose JSON breaks off before
/// its end: what a partner's proxy sends when the application dies half-way
/// with the length already announced. Worth another attempt, like a 5xx.
/// (A body that is complete but invalid JSON is the plugin's to report.)
fn cut_json(answer: &HttpResponse) -> bool {
    let json = answer.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type") && {
            let v = value.to_ascii_lowercase();
            v.starts_with("application/json") || v.contains("+json")
        }
    });
    if !(200..300).contains(&answer.status) || !json || answer.body.is_empty() {
        return false;
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body) {
        Ok(_) => false,
        Err(e) => e.is_eof(),
    }
}

fn guest_headers(headers: &[(String, String)]) -> Result<HeaderMap, HttpFailure> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpFailure::InvalidRequest(format!("bad header name `{name}`")))?;
        if HOST_OWNED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        // The value may be a token: never echo it.
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpFailure::InvalidRequest(format!("bad value for header `{name}`")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// `host[:port]/path`, without user info, query or fragment: query strings
/// often carry tokens.
fn loggable(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{host}:{port}{}", url.path()),
        None => format!("{host}{}", url.path()),
    }
}

fn find_denial(error: &reqwest::Error) -> Option<&AddressDenied> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(denied) = e.downcast_ref::<AddressDenied>() {
            return Some(denied);
        }
        source = e.source();
    }
    None
}

/// The error and its causes, without the URL (its query may hold tokens).
fn describe(error: &reqwest::Error) -> String {
    let mut parts = vec![if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    }];
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// Exponential backoff with "equal jitter": between half and all of
/// `base * 2^retry`, never more than the cap.
fn backoff(settings: &HttpSettings, retry: u32) -> Duration {
    let full = settings
        .base_backoff
        .saturating_mul(1u32 << retry.min(16))
        .min(settings.max_retry_after);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: time::OffsetDateTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    let wait = at - now;
    Some(if wait.is_positive() {
        Duration::try_from(wait).unwrap_or_default()
    } else {
        Duration::ZERO
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_that_breaks_off_is_worth_another_attempt() {
        let answer = |status: u16, content_type: &str, body: &str| HttpResponse {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.as_bytes().to_vec(),
        };
        let json = "application/json; charset=utf-8";
        assert!(cut_json(&answer(
            200,
            json,
            r#"{"items": [{"id": 1}, {"id""#
        )));
        assert!(cut_json(&answer(200, "application/ld+json", "[1, 2")));
        assert!(!cut_json(&answer(200, json, r#"{"items": []}"#)));
        // Complete but invalid: the plugin's to report, not a transport fault.
        assert!(!cut_json(&answer(200, json, r#"{"items": ]}"#)));
        assert!(!cut_json(&answer(200, "text/html", "<html><body>Maint")));
        assert!(!cut_json(&answer(404, json, r#"{"error": "#)));
        assert!(!cut_json(&answer(204, json, "")));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = time::macros::datetime!(2024-03-01 12:00:00 UTC);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Fri, 01 Mar 2024 12:00:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Fri, 01 Mar 2024 11:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let settings = HttpSettings {
            base_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(2),
            ..HttpSettings::default()
        };
        for retry in 0..4 {
            let full = Duration::from_millis(200 * (1 << retry)).min(Duration::from_secs(2));
            let d = backoff(&settings, retry);
            assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
        }
        assert!(backoff(&settings, 40) <= Duration::from_secs(2));
    }

    #[test]
    fn logs_no_query_string() {
        let url = Url::parse("https://u:p@partner.example.org:8443/api/v1?token=abc#f").unwrap();
        assert_eq!(loggable(&url), "partner.example.org:8443/api/v1");
    }

    #[test]
    fn plugins_cannot_forge_framing_headers() {
        let headers = guest_headers(&[
            ("Host".into(), "internal.lan".into()),
            ("Authorization".into(), "Bearer x".into()),
            ("Content-Length".into(), "1".into()),
        ])
        .unwrap();
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("authorization"));
        assert!(guest_headers(&[("bad name".into(), "x".into())]).is_err());
    }
}
