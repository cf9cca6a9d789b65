//! Outgoing HTTP through the hub (allowlist, retries with backoff on 429/5xx,
//! `Retry-After`, request budget, timeouts are the host's job).
//!
//! ```ignore
//! let page: Page = Request::get(http::join(&config.base_url, "api/v2/deliveries"))
//!     .query("limit", "500")
//!     .bearer(&token)
//!     .send()?       // non-2xx and host errors become `ConnectorError`s
//!     .json()?;
//! ```
//!
//! How failures map to [`ConnectorError`]:
//!
//! | what happened | error |
//! | --- | --- |
//! | 401, 403 | `auth-failed` |
//! | 408, 425, 429, 5xx (after the host's retries) | `partner-unavailable`, `retry_after_secs` from `Retry-After` |
//! | 3xx not followed, 404 and other 4xx | `bad-config` (the request built from the configuration is wrong) |
//! | host: `denied`, `invalid-request` | `bad-config` (the host is not granted to the source, or the URL is malformed) |
//! | host: `timeout`, `transport`, `budget-exhausted` | `partner-unavailable` (retry later) |
//! | 2xx body that is not JSON at all (truncated, an HTML error page) | `partner-unavailable`: a flaky partner or proxy, retryable |
//! | 2xx JSON of the wrong shape (a field missing or of another type) | `bad-data`: the partner's format changed, retrying will not help |

use serde::de::DeserializeOwned;

pub use crate::bindings::vivres::connector::host::HttpError;
use crate::bindings::vivres::connector::host::HttpRequest;
use crate::host;
use crate::model::ConnectorError;

/// An HTTP request to a partner.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// The partner's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        let mut r = Request::new("POST", url);
        r.body = Some(body.into());
        r
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Appends `name=value` to the URL's query, percent-encoding both
    /// (an RFC 3339 `+01:00` becomes `%2B01%3A00`).
    pub fn query(mut self, name: &str, value: impl AsRef<str>) -> Self {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url.push(sep);
        self.url.push_str(&percent_encode(name));
        self.url.push('=');
        self.url.push_str(&percent_encode(value.as_ref()));
        self
    }

    /// [`Request::query`] when `value` is `Some`, nothing otherwise.
    pub fn query_opt(self, name: &str, value: Option<impl AsRef<str>>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Sends the request; any status comes back as a [`Response`], a failure
    /// of the host (denied, timeout, budget, transport) as the host's error.
    pub fn send_raw(self) -> Result<Response, HttpError> {
        let request = HttpRequest {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
        };
        let r = host::http_send(&request)?;
        Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }

    /// Sends the request and turns host failures and non-2xx statuses into
    /// [`ConnectorError`]s (see the module's table).
    pub fn send(self) -> Result<Response, ConnectorError> {
        let what = describe_url(&self.url);
        let response = self.send_raw().map_err(|e| host_error(e, &what))?;
        response.error_for_status(&what)
    }
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` in seconds (delta-seconds or an HTTP date).
    pub fn retry_after(&self) -> Option<u32> {
        self.header("retry-after")
            .and_then(|v| parse_retry_after(v, host::now()))
    }

    /// `Ok(self)` for a 2xx status, the matching [`ConnectorError`] otherwise.
    /// `what` names the request in the message (no query: keep values out of logs).
    pub fn error_for_status(self, what: &str) -> Result<Self, ConnectorError> {
        match status_error(self.status, self.retry_after(), what) {
            None => Ok(self),
            Some(e) => Err(e),
        }
    }

    /// Parses the body as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        decode_json(&self.body, self.header("content-type"))
    }

    /// The body as text (UTF-8, with or without BOM, or Windows-1252).
    pub fn text(&self) -> String {
        crate::fr::decode_text(&self.body).0
    }
}

/// The error for a non-2xx status, `None` for 2xx.
pub fn status_error(status: u16, retry_after: Option<u32>, what: &str) -> Option<ConnectorError> {
    match status {
        200..=299 => None,
        401 | 403 => Some(ConnectorError::AuthFailed(format!(
            "{what}: HTTP {status}, the partner refused the credentials"
        ))),
        408 | 425 | 429 | 500..=599 => Some(ConnectorError::unavailable(
            format!("{what}: HTTP {status} from the partner"),
            retry_after,
        )),
        300..=399 => Some(ConnectorError::BadConfig(format!(
            "{what}: HTTP {status}, a redirection the hub did not follow (check the base URL)"
        ))),
        404 => Some(ConnectorError::BadConfig(format!(
            "{what}: HTTP 404, nothing at this address (check the base URL)"
        ))),
        _ => Some(ConnectorError::BadConfig(format!(
            "{what}: HTTP {status}, the partner refused the request"
        ))),
    }
}

/// The error for a failure of the host's HTTP client.
pub fn host_error(error: HttpError, what: &str) -> ConnectorError {
    match error {
        HttpError::Denied(m) => {
            ConnectorError::BadConfig(format!("{what}: denied by the hub: {m}"))
        }
        HttpError::InvalidRequest(m) => {
            ConnectorError::BadConfig(format!("{what}: invalid request: {m}"))
        }
        HttpError::Timeout(m) => ConnectorError::unavailable(format!("{what}: timeout: {m}"), None),
        HttpError::Transport(m) => {
            ConnectorError::unavailable(format!("{what}: connection failed: {m}"), None)
        }
        HttpError::BudgetExhausted => ConnectorError::unavailable(
            format!("{what}: the source's request budget for this run is spent"),
            None,
        ),
    }
}

/// Decodes a JSON body (see the module's table for the error it gives).
pub fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<T, ConnectorError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ConnectorError::BadData(format!(
                "the partner's JSON is not in the expected format: {e}"
            )),
            Category::Syntax | Category::Eof | Category::Io => {
                let ct = content_type.unwrap_or("none");
                ConnectorError::unavailable(
                    format!(
                        "the partner's answer is not valid JSON (content type {ct}, {} bytes): {e}",
                        body.len()
                    ),
                    None,
                )
            }
        }
    })
}

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` and `path` joined by exactly one `/`.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The URL without its query, for messages.
pub fn describe_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_string()
}

/// `Retry-After`: delta-seconds, or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// turned into seconds from `now`.
pub fn parse_retry_after(value: &str, now: i64) -> Option<u32> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(u32::try_from(secs).unwrap_or(u32::MAX));
    }
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 6 || !parts[5].eq_ignore_ascii_case("GMT") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day: u8 = parts[1].parse().ok()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(parts[2]))?
        + 1;
    let year: i32 = parts[3].parse().ok()?;
    let time = format!("{year:04}-{month:02}-{day:02}T{}Z", parts[4]);
    let at = crate::fr::parse_rfc3339(&time).ok()?;
    Some(u32::try_from((at - now).max(0)).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        let r = Request::get("http://127.0.0.1:8080/g1/api/v2/subscriptions")
            .query("updated_since", "2024-03-18T09:00:00+01:00")
            .query_opt("cursor", Some("a b/c=="))
            .query_opt("none", None::<&str>)
            .query("limit", "500");
        assert_eq!(
            r.url,
            "http://127.0.0.1:8080/g1/api/v2/subscriptions?updated_since=2024-03-18T09%3A00%3A00%2B01%3A00&cursor=a%20b%2Fc%3D%3D&limit=500"
        );
        assert_eq!(percent_encode("é~"), "%C3%A9~");
    }

    #[test]
    fn join_and_describe() {
        assert_eq!(join("http://h/g1/", "/api/v2/x"), "http://h/g1/api/v2/x");
        assert_eq!(join("http://h/g1", "api/v2/x"), "http://h/g1/api/v2/x");
        assert_eq!(describe_url("http://h/a?token=1"), "http://h/a");
    }

    #[test]
    fn bearer_header() {
        let r = Request::get("http://h")
            .bearer("t0k")
            .header("Accept", "application/json");
        assert_eq!(
            r.headers[0],
            ("Authorization".to_string(), "Bearer t0k".to_string())
        );
        assert_eq!(r.headers.len(), 2);
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(status_error(200, None, "x").is_none());
        assert!(status_error(204, None, "x").is_none());
        assert!(matches!(
            status_error(401, None, "x"),
            Some(ConnectorError::AuthFailed(_))
        ));
        assert!(matches!(
            status_error(403, None, "x"),
            Some(ConnectorError::AuthFailed(_))
        ));
        match status_error(429, Some(30), "x") {
            Some(ConnectorError::PartnerUnavailable(u)) => assert_eq!(u.retry_after_secs, Some(30)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            status_error(503, None, "x"),
            Some(ConnectorError::PartnerUnavailable(_))
        ));
        assert!(matches!(
            status_error(404, None, "x"),
            Some(ConnectorError::BadConfig(_))
        ));
        assert!(matches!(
            status_error(400, None, "x"),
            Some(ConnectorError::BadConfig(_))
        ));
    }

    #[test]
    fn response_headers_and_retry_after() {
        let r = Response {
            status: 429,
            headers: vec![("Retry-After".into(), "12".into())],
            body: vec![],
        };
        assert_eq!(r.header("retry-after"), Some("12"));
        assert_eq!(r.retry_after(), Some(12));
        match r.error_for_status("GET x") {
            Err(ConnectorError::PartnerUnavailable(u)) => assert_eq!(u.retry_after_secs, Some(12)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_http_date() {
        let now = crate::fr::parse_rfc3339("2024-03-18T08:00:00Z").unwrap();
        assert_eq!(
            parse_retry_after("Mon, 18 Mar 2024 08:01:30 GMT", now),
            Some(90)
        );
        assert_eq!(
            parse_retry_after("Mon, 18 Mar 2024 07:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn host_errors_map() {
        match host_error(
            HttpError::Denied("host evil.example not granted".into()),
            "GET u",
        ) {
            ConnectorError::BadConfig(m) => assert!(m.contains("evil.example not granted")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            host_error(HttpError::BudgetExhausted, "x"),
            ConnectorError::PartnerUnavailable(_)
        ));
        assert!(matches!(
            host_error(HttpError::Timeout("t".into()), "x"),
            ConnectorError::PartnerUnavailable(_)
        ));
    }

    #[test]
    fn json_decoding_errors() {
        #[derive(serde::Deserialize, Debug)]
        struct Page {
            #[allow(dead_code)]
            items: Vec<u32>,
        }
        assert!(decode_json::<Page>(b"\xEF\xBB\xBF{\"items\":[1]}", None).is_ok());
        assert!(matches!(
            decode_json::<Page>(b"{\"items\":[1,", Some("application/json")),
            Err(ConnectorError::PartnerUnavailable(_))
        ));
        assert!(matches!(
            decode_json::<Page>(b"<html>maintenance</html>", Some("text/html")),
            Err(ConnectorError::PartnerUnavailable(_))
        ));
        assert!(matches!(
            decode_json::<Page>(b"{\"elements\":[]}", None),
            Err(ConnectorError::BadData(_))
        ));
    }

    #[test]
    fn native_send_is_an_error_not_a_panic() {
        assert!(matches!(
            Request::get("http://h").send(),
            Err(ConnectorError::PartnerUnavailable(_))
        ));
    }
}
