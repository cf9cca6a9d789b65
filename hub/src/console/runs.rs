//! A run's page: its figures followed live while it runs (the page polls
//! `/runs/{id}/live`, a small JSON document read from the run's row, once a
//! second), then its summary and its refused lines in plain words.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Serialize;

use super::layout::{Lang, badge, page_at};
use super::sources::runs_table;
use super::{Session, error_page, html_response, refusals};
use crate::api::views::{QuarantineQuery, Run};
use crate::api::{AppState, runs, sources};

/// How many refused lines the page lists.
const REFUSALS_SHOWN: i64 = 1_000;

/// What the live part of the page shows, formatted for the visitor.
#[derive(Serialize)]
pub struct Live {
    status: String,
    status_label: &'static str,
    read: String,
    stored: String,
    refused: String,
    batches: String,
    elapsed: String,
    rate: String,
}

fn live_of(lang: Lang, r: &Run) -> Live {
    let elapsed = match (
        crate::api::views::parse_time(&r.started_at),
        r.duration_seconds,
    ) {
        (_, Some(d)) => d,
        (Some(start), None) => (time::OffsetDateTime::now_utc() - start).as_seconds_f64(),
        (None, None) => 0.0,
    };
    let rate = if elapsed >= 1.0 {
        (r.counts.read as f64 / elapsed).round() as u64
    } else {
        r.counts.read
    };
    Live {
        status: r.status.clone(),
        status_label: lang.status(&r.status),
        read: lang.num(r.counts.read),
        stored: lang.num(r.counts.inserted + r.counts.updated + r.counts.unchanged),
        refused: lang.num(r.counts.quarantined),
        batches: lang.num(r.batches),
        elapsed: lang.duration(elapsed),
        rate: format!("{} {}", lang.num(rate), lang.t("lignes/s", "records/s")),
    }
}

fn figures(lang: Lang, r: &Run) -> Markup {
    let l = live_of(lang, r);
    html! {
        section #live data-src={ "/runs/" (r.id) "/live" } data-status=(l.status) {
            p.status {
                (lang.t("Statut : ", "Status: "))
                span aria-live="polite" { (badge(lang, &r.status)) }
            }
            @if r.status == "running" {
                label for="progress" { (lang.t("Progression (le total n'est connu qu'à la fin)", "Progress (the total is known only at the end)")) }
                progress #progress {}
                noscript { meta http-equiv="refresh" content="2"; }
            }
            dl.figures {
                div { dt { (lang.t("Lus", "Read")) } dd data-field="read" { (l.read) } }
                div { dt { (lang.t("Enregistrés", "Stored")) } dd data-field="stored" { (l.stored) } }
                div { dt { (lang.t("Refusés", "Refused")) } dd data-field="refused" { (l.refused) } }
                div { dt { (lang.t("Lots", "Batches")) } dd data-field="batches" { (l.batches) } }
                div { dt { (lang.t("Durée", "Elapsed")) } dd data-field="elapsed" { (l.elapsed) } }
                div { dt { (lang.t("Débit", "Rate")) } dd data-field="rate" { (l.rate) } }
            }
        }
    }
}

pub async fn show(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    let lang = s.lang;
    let report = match runs::visible_run(&state, &s.caller, id).await {
        Ok(r) => r,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let run: Run = report.into();
    // Evaluators see runs' figures, never their refused lines (the API's rule).
    let refused = if s.caller.forbid_evaluator("quarantine").is_ok() && run.status != "running" {
        let q = QuarantineQuery {
            source: None,
            run: Some(id),
            limit: Some(REFUSALS_SHOWN + 1),
        };
        match sources::quarantine_entries(&state, &s.caller, &q).await {
            Ok(mut entries) => {
                let truncated = entries.len() as i64 > REFUSALS_SHOWN;
                entries.truncate(REFUSALS_SHOWN as usize);
                Some((entries, truncated))
            }
            Err(e) => return error_page(lang, Some(&s), e),
        }
    } else {
        None
    };
    let title = format!(
        "{} {} · {}",
        lang.t("Synchronisation", "Sync"),
        run.id,
        run.source
    );
    let body = html! {
        p.crumbs { a href={ "/sources/" (run.source) } { "← " (run.source) } }
        h1 { (title) }
        p { (lang.t("Commencée le ", "Started ")) (lang.when(&run.started_at))
            @if let Some(e) = &run.ended_at { " · " (lang.t("terminée le ", "ended ")) (lang.when(e)) } }
        (figures(lang, &run))
        @if let Some(kind) = &run.error_kind {
            div.error role="alert" {
                p { strong { (lang.error_kind(kind)) } }
                @if let Some(msg) = &run.error { p { code { (msg) } } }
            }
        }
        @if run.status != "running" {
            h2 { (lang.t("Lignes refusées", "Refused lines")) }
            @if let Some((entries, truncated)) = &refused {
                (refusals::table(lang, entries, *truncated))
            }
        }
    };
    html_response(
        StatusCode::OK,
        page_at(lang, Some(&s), &title, &format!("/runs/{id}"), body),
    )
}

/// The live figures of a run (polled by the run page).
pub async fn live(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    match runs::visible_run(&state, &s.caller, id).await {
        Ok(r) => Json(live_of(s.lang, &r.into())).into_response(),
        Err(e) => error_page(s.lang, Some(&s), e),
    }
}

/// Recent runs that failed, of the sources the caller may see.
pub async fn failed(state: &AppState, s: &Session) -> Result<Markup, crate::api::ApiError> {
    let page = runs::runs_page(
        state,
        &s.caller,
        &crate::api::views::RunsQuery {
            source: None,
            status: Some(crate::api::views::RunStatusFilter::Failed),
            limit: Some(50),
            cursor: None,
        },
    )
    .await?;
    Ok(runs_table(s.lang, &page.runs, true))
}
