//! `/schema` (the data dictionary) and `/data/{entity}` (streamed exports):
//! evaluators' and admins' routes; coordinators may export their own
//! territories' rows.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, AppState, Caller};
use crate::auth::Role;
use crate::export::{self, ExportError, Filters, Format, Metadata};
use crate::warehouse::schema::{self, Dictionary};

/// The header carrying an export's metadata (JSON, ASCII-escaped).
pub const METADATA_HEADER: &str = "vivres-export-metadata";

/// The data dictionary: every table and column of the warehouse, with its
/// meaning, type, unit, provenance and the connectors that fill it.
#[utoipa::path(get, path = "/schema", tag = "data", security(("bearer" = [])),
    responses(
        (status = 200, description = "The data dictionary", body = Dictionary),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "Not an evaluator or admin", body = super::ErrorBody),
    ))]
pub async fn get_schema(caller: Caller) -> Result<Json<Dictionary>, ApiError> {
    match caller.0.role {
        Role::Admin | Role::Evaluator => Ok(Json(schema::dictionary())),
        Role::Coordinator { .. } => Err(ApiError::forbidden(
            "the data dictionary is for evaluators and admins",
        )),
    }
}

/// What `/data/{entity}` takes (`territory` and `network` repeat). It
/// documents the parameters; the handler parses the raw query, since
/// serde's query decoding does not collect repeated keys.
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataQuery {
    /// `csv` (`;`, UTF-8 with BOM), `jsonl` or `parquet`.
    #[param(inline)]
    pub format: ExportFormat,
    /// Only this territory (repeatable). A coordinator's default: theirs.
    pub territory: Option<Vec<String>>,
    /// Only this network (repeatable).
    pub network: Option<Vec<String>>,
    /// First day (YYYY-MM-DD) of the table's date column.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), included.
    #[param(format = Date)]
    pub to: Option<String>,
    /// CSV: decimals with a comma.
    pub decimal_comma: Option<bool>,
}

/// The formats of `/data/{entity}` (for the document; [`Format`] parses).
#[allow(dead_code)]
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Jsonl,
    Parquet,
}

/// A unified table, pseudonymised, streamed as CSV, JSON Lines or Parquet.
/// Its metadata (filters, time, hub and dictionary versions) is in the
/// `Vivres-Export-Metadata` header (and, for Parquet, in the file).
#[utoipa::path(get, path = "/data/{entity}", tag = "data", security(("bearer" = [])),
    params(("entity" = String, Path, description = "A fact table or a fact's child (see `/schema`)", example = "distributions"), DataQuery),
    responses(
        (status = 200, description = "The rows, streamed, in the format asked", content(
            (String = "text/csv"),
            (String = "application/jsonl"),
            (String = "application/vnd.apache.parquet"),
        )),
        (status = 400, description = "Bad format, date or filter", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "A territory that is not yours", body = super::ErrorBody),
        (status = 404, description = "No such table", body = super::ErrorBody),
    ))]
pub async fn get_data(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    export_response(&state, &caller, &entity, raw.as_deref()).await
}

/// Streams an export of `entity` with the filters of `raw` (a query string),
/// after the caller's territories are checked (the API and the console).
pub(crate) async fn export_response(
    state: &AppState,
    caller: &Caller,
    entity: &str,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let mut filters = Filters::default();
    let mut format = None;
    let mut decimal_comma = false;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "format" => format = Some(Format::parse(&v).map_err(bad)?),
            "territory" => filters.territories.push(v.into_owned()),
            "network" => filters.networks.push(v.into_owned()),
            "from" => filters.from = Some(v.into_owned()),
            "to" => filters.to = Some(v.into_owned()),
            "decimal_comma" => decimal_comma = matches!(v.as_ref(), "true" | "1" | ""),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`"
                )));
            }
        }
    }
    let format = format
        .ok_or_else(|| ApiError::bad_request("`format` is required: csv, jsonl or parquet"))?;
    let known: Vec<&str> = state
        .hub()
        .config
        .territories
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    if let Some(t) = filters
        .territories
        .iter()
        .find(|t| !known.contains(&t.as_str()))
    {
        return Err(ApiError::bad_request(format!("unknown territory `{t}`")));
    }
    if let Role::Coordinator { territories } = &caller.0.role {
        if let Some(t) = filters
            .territories
            .iter()
            .find(|t| !territories.contains(t))
        {
            return Err(ApiError::forbidden(format!("territory `{t}` is not yours")));
        }
        if filters.territories.is_empty() {
            filters.territories = territories.clone();
        }
    }
    let q = export::query(entity, &filters).map_err(|e| match e {
        ExportError::UnknownEntity(_) => ApiError::not_found(e.to_string()),
        other => bad(other),
    })?;
    let meta = Metadata::new(&q, format, &filters, decimal_comma);
    let meta_json = ascii_json(&serde_json::to_string(&meta).unwrap_or_default());
    let rx = export::to_stream(state.hub().warehouse.clone(), q, format, meta);
    let chunks = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{entity}.{}\"",
        format.extension()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&meta_json) {
        headers.insert(METADATA_HEADER, v);
    }
    Ok(response)
}

fn bad(e: ExportError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// JSON with every non-ASCII character escaped, fit for a header.
fn ascii_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        }
    }
    out
}
