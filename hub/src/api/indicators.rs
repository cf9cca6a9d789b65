//! `/indicators`: indicator × territory × period, small cells suppressed.
//! Evaluators and admins see every territory; a coordinator sees their own.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, AppState, Caller};
use crate::auth::Role;
use crate::indicators::format::{Format, render};
use crate::indicators::{IndicatorError, Published, Request};

/// What `/indicators` takes (`territory`, `period` and `indicator` repeat).
/// It documents the parameters; the handler parses the raw query, since
/// serde's query decoding does not collect repeated keys.
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndicatorsQuery {
    /// Only this territory (repeatable). A coordinator's default: theirs.
    pub territory: Option<Vec<String>>,
    /// `2024`, `2024-Q1` or `2024-03` (repeatable; default: every year).
    #[param(value_type = Option<Vec<PeriodParam>>, inline)]
    pub period: Option<Vec<String>>,
    /// Only this indicator (repeatable).
    pub indicator: Option<Vec<String>>,
    /// `json` (default) or `csv` (`;`, UTF-8 with BOM).
    #[param(inline)]
    pub format: Option<IndicatorsFormat>,
}

/// A period as `/indicators` takes it, for the document (the handler parses).
#[allow(dead_code)]
#[derive(Debug, utoipa::ToSchema)]
#[schema(
    pattern = r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$",
    example = "2024-Q1"
)]
pub struct PeriodParam(String);

/// The formats of `/indicators`, for the document (the handler parses).
#[allow(dead_code)]
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorsFormat {
    Json,
    Csv,
}

/// Indicator cells: value, `n` (the people it rests on), unit, and whether
/// the cell is suppressed (then without value nor `n`): fewer people than
/// the indicator's minimum, or a cell that would let its neighbours be
/// recomputed (see the README's suppression rule).
#[utoipa::path(get, path = "/indicators", tag = "data", security(("bearer" = [])),
    params(IndicatorsQuery),
    responses(
        (status = 200, description = "The cells, by indicator, territory, period and breakdown", content(
            (Vec<Published> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A bad period, format or parameter", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "A territory that is not yours", body = super::ErrorBody),
        (status = 404, description = "No such territory or indicator", body = super::ErrorBody),
    ))]
pub async fn get_indicators(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (mut territories, mut periods, mut indicators) = (Vec::new(), Vec::new(), Vec::new());
    let mut format = Format::Json;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "territory" => territories.push(v.into_owned()),
            "period" => periods.push(v.into_owned()),
            "indicator" => indicators.push(v.into_owned()),
            "format" => {
                format = match v.as_ref() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "unknown format `{other}`: json or csv"
                        )));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`"
                )));
            }
        }
    }
    let Some(territories) = territories_for(&caller, territories)? else {
        return Ok(Json(Vec::<Published>::new()).into_response());
    };
    let req = Request::parse(territories, &periods, indicators).map_err(bad)?;
    let hub = state.hub();
    let cells = crate::indicators::publish(&hub.config, &hub.warehouse, &req)
        .await
        .map_err(bad)?;
    Ok(match format {
        Format::Csv => {
            let mut response = render(&cells, Format::Csv).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            response
        }
        _ => Json(cells).into_response(),
    })
}

/// The territories a request of indicators covers, by the caller's role (the
/// API's and the console's one rule): admins and evaluators what they ask
/// for (empty: all); a coordinator their own, all of them by default,
/// refused another's. `None`: a coordinator without a territory, who sees
/// nothing rather than everything.
pub fn territories_for(
    caller: &Caller,
    mut territories: Vec<String>,
) -> Result<Option<Vec<String>>, ApiError> {
    if let Role::Coordinator { territories: mine } = &caller.0.role {
        if let Some(t) = territories.iter().find(|t| !mine.contains(t)) {
            return Err(ApiError::forbidden(format!("territory `{t}` is not yours")));
        }
        if territories.is_empty() {
            territories = mine.clone();
            if territories.is_empty() {
                return Ok(None);
            }
        }
    }
    Ok(Some(territories))
}

fn bad(e: IndicatorError) -> ApiError {
    match e {
        // A filter naming nothing the hub knows: like an unknown source.
        IndicatorError::UnknownTerritory(..) | IndicatorError::UnknownIndicator(..) => {
            ApiError::not_found(e.to_string())
        }
        IndicatorError::BadPeriod(_) => ApiError::bad_request(e.to_string()),
        // A definition that does not load or run is the hub's fault, not
        // the caller's: logged, answered 500.
        other => ApiError::Internal(other.to_string()),
    }
}
