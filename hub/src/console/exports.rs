//! Exports of the unified tables for the visitor's filters: the form, and
//! the download, served by the API's own export (`api::data`), which checks
//! the territories the same way.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::layout::page_at;
use super::{Session, error_page, html_response};
use crate::api::{ApiError, AppState, data};
use crate::auth::Role;

pub async fn form(State(state): State<AppState>, s: Session) -> Response {
    let lang = s.lang;
    let config = &state.hub().config;
    // A coordinator exports their own territories (the export checks it).
    let territories: Vec<_> = config
        .territories
        .iter()
        .filter(|t| match &s.caller.0.role {
            Role::Coordinator { territories } => territories.contains(&t.id),
            _ => true,
        })
        .collect();
    let tables: Vec<_> = crate::export::exportable_names()
        .into_iter()
        .filter_map(crate::warehouse::schema::named)
        .collect();
    let title = lang.t("Exports", "Exports");
    let body = html! {
        h1 { (title) }
        p { (lang.t(
            "Les tables unifiées, pseudonymisées : aucun nom, téléphone ni identifiant de partenaire.",
            "The unified tables, pseudonymised: no name, phone or partner identifier.",
        )) }
        form #export.card method="get" action="/exports/download" {
            label for="entity" { (lang.t("Table", "Table")) }
            select #entity name="entity" {
                @for t in &tables { option value=(t.name) { (t.fr) " (" (t.name) ")" } }
            }
            label for="format" { (lang.t("Format", "Format")) }
            select #format name="format" {
                option value="excel" { (lang.t("CSV pour Excel (virgule décimale)", "CSV for Excel (decimal comma)")) }
                option value="csv" { "CSV" }
                option value="parquet" { "Parquet" }
                option value="jsonl" { "JSON Lines" }
            }
            fieldset {
                legend { (lang.t("Territoires (aucun coché : tous ceux auxquels vous avez accès)", "Territories (none ticked: all you may see)")) }
                @for t in &territories {
                    label.check { input type="checkbox" name="territory" value=(t.id); " " (t.name) }
                }
            }
            label for="from" { (lang.t("Du (inclus)", "From (included)")) }
            input #from type="date" name="from";
            label for="to" { (lang.t("Au (inclus)", "To (included)")) }
            input #to type="date" name="to";
            button.primary type="submit" { (lang.t("Télécharger", "Download")) }
        }
    };
    html_response(
        StatusCode::OK,
        page_at(lang, Some(&s), title, "/exports", body),
    )
}

/// The form's query, as the API's `/data/{entity}` takes it: `excel` is CSV
/// with decimal commas; empty dates are left out.
fn api_query(raw: &str) -> (Option<String>, String) {
    let mut entity = None;
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            ("entity", e) => entity = Some(e.to_string()),
            ("format", "excel") => {
                out.append_pair("format", "csv");
                out.append_pair("decimal_comma", "true");
            }
            ("from" | "to", "") => {}
            (k, v) => {
                out.append_pair(k, v);
            }
        }
    }
    (entity, out.finish())
}

pub async fn download(
    State(state): State<AppState>,
    s: Session,
    RawQuery(raw): RawQuery,
) -> Response {
    let (entity, query) = api_query(raw.as_deref().unwrap_or(""));
    let Some(entity) = entity else {
        return error_page(
            s.lang,
            Some(&s),
            ApiError::bad_request("choose a table to export"),
        );
    };
    match data::export_response(&state, &s.caller, &entity, Some(&query)).await {
        Ok(r) => r,
        Err(e) => error_page(s.lang, Some(&s), e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_form_becomes_the_apis_query() {
        let (e, q) = super::api_query(
            "entity=distributions&format=excel&territory=lyon&from=&to=2024-12-31",
        );
        assert_eq!(e.as_deref(), Some("distributions"));
        assert_eq!(
            q,
            "format=csv&decimal_comma=true&territory=lyon&to=2024-12-31"
        );
    }
}
