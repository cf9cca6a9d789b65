//! Coordinators' sources: the list, one source with its inbox and runs, the
//! "Synchroniser" and "Relire" buttons, uploads.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Lang, badge, page_at};
use super::{CsrfPending, Session, error_page, html_response, session};
use crate::api::views::{Run, RunsQuery, Source};
use crate::api::{ApiError, AppState, runs, sources};
use crate::scheduler::Trigger;

fn stored(r: &Run) -> u64 {
    r.counts.inserted + r.counts.updated + r.counts.unchanged
}

fn territory_name(state: &AppState, id: &str) -> String {
    state
        .hub()
        .config
        .territory(id)
        .map(|t| t.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// A button that posts a small form (with the session's CSRF token).
fn action(s: &Session, to: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(to) {
            input type="hidden" name="csrf" value=(s.csrf);
            button class=(class) type="submit" { (label) }
        }
    }
}

/// A run's figures in one line: read, stored, refused.
pub fn counts(lang: Lang, r: &Run) -> Markup {
    html! {
        (lang.num(r.counts.read)) " " (lang.t("lus", "read")) " · "
        (lang.num(stored(r))) " " (lang.t("enregistrés", "stored")) " · "
        (lang.num(r.counts.quarantined)) " " (lang.t("refusés", "refused"))
    }
}

pub async fn list(State(state): State<AppState>, s: Session) -> Response {
    let lang = s.lang;
    let views = match sources::visible_source_views(&state, &s.caller).await {
        Ok(v) => v,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let title = lang.t("Mes sources", "My sources");
    let body = html! {
        h1 { (title) }
        @if views.is_empty() {
            p { (lang.t("Aucune source dans vos territoires.", "No source in your territories.")) }
        } @else {
            div.scroll { table #sources {
                caption { (lang.t("Sources de vos territoires", "Sources of your territories")) }
                thead { tr {
                    th scope="col" { (lang.t("Source", "Source")) }
                    th scope="col" { (lang.t("Territoire", "Territory")) }
                    th scope="col" { (lang.t("Dernière synchronisation", "Last sync")) }
                    th scope="col" { (lang.t("Prochaine", "Next")) }
                    th scope="col" { span.visually-hidden { (lang.t("Actions", "Actions")) } }
                } }
                tbody {
                    @for v in &views {
                        tr data-source=(v.id) {
                            th scope="row" { a href={ "/sources/" (v.id) } { (v.id) } }
                            td { (territory_name(&state, &v.territory)) }
                            td {
                                @if let Some(r) = &v.last_run {
                                    a href={ "/runs/" (r.id) } { (badge(lang, &r.status)) }
                                    " " (lang.when(&r.started_at)) br;
                                    small { (counts(lang, r)) }
                                } @else { (lang.t("jamais", "never")) }
                            }
                            td { @if let Some(n) = &v.next_run { (lang.when(n)) } @else { (lang.t("sur demande", "on demand")) } }
                            td { (action(&s, &format!("/sources/{}/sync", v.id), lang.t("Synchroniser", "Sync now"), "primary")) }
                        }
                    }
                }
            } }
        }
    };
    html_response(
        StatusCode::OK,
        page_at(lang, Some(&s), title, "/sources", body),
    )
}

#[derive(Deserialize)]
pub struct ShowQuery {
    upload: Option<String>,
    running: Option<i64>,
}

fn upload_message(lang: Lang, duplicate: bool, name: &str) -> String {
    match (lang, duplicate) {
        (Lang::Fr, true) => format!("{name} : déjà reçu, rien de nouveau n'a été enregistré."),
        (Lang::Fr, false) => {
            format!("{name} : fichier reçu. Il sera lu à la prochaine synchronisation.")
        }
        (Lang::En, true) => format!("{name}: already received, nothing new was stored."),
        (Lang::En, false) => format!("{name}: file received. The next sync reads it."),
    }
}

pub async fn show(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let lang = s.lang;
    let source = match state.source(&s.caller.0, &id) {
        Ok(src) => src,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let view = match sources::source_view(&state, &s.caller.0, source).await {
        Ok(v) => v,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let recent = runs::runs_page(
        &state,
        &s.caller,
        &RunsQuery {
            source: Some(id.clone()),
            status: None,
            limit: Some(10),
            cursor: None,
        },
    )
    .await;
    let recent = match recent {
        Ok(p) => p.runs,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let inbox = match source.inbox_dir(&state.hub().config.hub.data_dir) {
        Some(dir) => tokio::task::spawn_blocking(move || crate::inbox::list(&dir))
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    let notice = match q.upload.as_deref() {
        Some("duplicate") => Some(lang.t(
            "Fichier déjà reçu : rien de nouveau n'a été enregistré.",
            "File already received: nothing new was stored.",
        )),
        Some("stored") => Some(lang.t(
            "Fichier reçu. Il sera lu à la prochaine synchronisation.",
            "File received. The next sync reads it.",
        )),
        _ => None,
    };
    let title = view.id.clone();
    let body = source_page(
        &s,
        &state,
        &view,
        &recent,
        inbox.as_deref(),
        notice,
        q.running,
    );
    html_response(
        StatusCode::OK,
        page_at(lang, Some(&s), &title, &format!("/sources/{id}"), body),
    )
}

fn source_page(
    s: &Session,
    state: &AppState,
    v: &Source,
    recent: &[Run],
    inbox: Option<&[crate::inbox::InboxFile]>,
    notice: Option<&str>,
    running: Option<i64>,
) -> Markup {
    let lang = s.lang;
    html! {
        h1 { (v.id) }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(r) = running {
            p.notice role="status" {
                (lang.t("Une synchronisation est déjà en cours : ", "A sync is already running: "))
                a href={ "/runs/" (r) } { (lang.t("la suivre", "follow it")) }
            }
        }
        dl.facts {
            dt { (lang.t("Territoire", "Territory")) } dd { (territory_name(state, &v.territory)) }
            dt { (lang.t("Réseau", "Network")) } dd { (v.network) }
            dt { (lang.t("Connecteur", "Connector")) } dd { (v.connector) }
            dt { (lang.t("Planning", "Schedule")) }
            dd { @if let Some(c) = &v.schedule { code { (c) } } @else { (lang.t("sur demande", "on demand")) } }
            dt { (lang.t("Prochaine synchronisation", "Next sync")) }
            dd { @if let Some(n) = &v.next_run { (lang.when(n)) } @else { "—" } }
        }
        div.actions {
            (action(s, &format!("/sources/{}/sync", v.id), lang.t("Synchroniser", "Sync now"), "primary"))
            (action(s, &format!("/sources/{}/replay", v.id), lang.t("Relire les lignes refusées", "Replay refused lines"), ""))
        }
        p.hint { (lang.t(
            "« Relire » relit toute la source : les lignes corrigées depuis sont enregistrées, les autres restent refusées.",
            "“Replay” reads the whole source again: lines corrected since are stored, the others stay refused.",
        )) }
        @if v.has_inbox {
            h2 { (lang.t("Déposer un fichier", "Upload a file")) }
            form #upload.card method="post" action={ "/sources/" (v.id) "/files" } enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(s.csrf);
                label.drop for="file" {
                    span { (lang.t("Choisissez le fichier exporté par le partenaire, ou glissez-le ici.", "Choose the partner's export file, or drop it here.")) }
                    input #file type="file" name="file" required;
                }
                button.primary type="submit" { (lang.t("Déposer", "Upload")) }
                p #upload-status role="status" aria-live="polite" {}
            }
            @if let Some(files) = inbox {
                h2 { (lang.t("Fichiers reçus", "Files received")) }
                @if files.is_empty() {
                    p { (lang.t("Aucun fichier reçu.", "No file received.")) }
                } @else {
                    div.scroll { table #inbox {
                        caption { (lang.t("Dans l'ordre d'arrivée", "In order of arrival")) }
                        thead { tr {
                            th scope="col" { "#" }
                            th scope="col" { (lang.t("Fichier", "File")) }
                            th scope="col" { (lang.t("Taille", "Size")) }
                        } }
                        tbody { @for f in files { tr {
                            td.n { (f.seq) }
                            td { (f.name) }
                            td.n { (lang.num(f.size)) " " (lang.t("octets", "bytes")) }
                        } } }
                    } }
                }
            }
        }
        h2 { (lang.t("Dernières synchronisations", "Recent syncs")) }
        (runs_table(lang, recent, false))
    }
}

/// Runs as a table (with their source when `with_source`).
pub fn runs_table(lang: Lang, runs: &[Run], with_source: bool) -> Markup {
    html! {
        @if runs.is_empty() {
            p { (lang.t("Aucune synchronisation pour l'instant.", "No sync yet.")) }
        } @else {
            div.scroll { table.runs {
                thead { tr {
                    th scope="col" { "N°" }
                    @if with_source { th scope="col" { (lang.t("Source", "Source")) } }
                    th scope="col" { (lang.t("Statut", "Status")) }
                    th scope="col" { (lang.t("Début", "Started")) }
                    th scope="col" { (lang.t("Durée", "Duration")) }
                    th scope="col" { (lang.t("Lus", "Read")) }
                    th scope="col" { (lang.t("Enregistrés", "Stored")) }
                    th scope="col" { (lang.t("Refusés", "Refused")) }
                    th scope="col" { (lang.t("Erreur", "Error")) }
                } }
                tbody { @for r in runs { tr {
                    td { a href={ "/runs/" (r.id) } { (r.id) } }
                    @if with_source { td { (r.source) } }
                    td { (badge(lang, &r.status)) }
                    td { (lang.when(&r.started_at)) }
                    td.n { @if let Some(d) = r.duration_seconds { (lang.duration(d)) } @else { "—" } }
                    td.n { (lang.num(r.counts.read)) }
                    td.n { (lang.num(stored(r))) }
                    td.n { (lang.num(r.counts.quarantined)) }
                    td { @if let Some(k) = &r.error_kind { (lang.error_kind(k)) } }
                } } }
            } }
        }
    }
}

/// Starts a run as the API's `POST /sources/{id}/sync` does, then shows it.
async fn start(state: &AppState, s: &Session, id: &str, trigger: Trigger, full: bool) -> Response {
    let source = match state.source(&s.caller.0, id) {
        Ok(src) => src.id.clone(),
        Err(e) => return error_page(s.lang, Some(s), e),
    };
    match sources::start_run(state, &source, trigger, full, &s.caller.0.name).await {
        Ok(run) => Redirect::to(&format!("/runs/{run}")).into_response(),
        Err(ApiError::Conflict {
            run_id: Some(run), ..
        }) if run > 0 => Redirect::to(&format!("/sources/{source}?running={run}")).into_response(),
        Err(e) => error_page(s.lang, Some(s), e),
    }
}

pub async fn sync(State(state): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    start(&state, &s, &id, Trigger::Manual, false).await
}

/// "Relire": the API's quarantine replay.
pub async fn replay(State(state): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    start(&state, &s, &id, Trigger::Replay, true).await
}

/// An upload from the form (or its drag-and-drop): the `csrf` part first,
/// then `file`, stored as the API's `POST /sources/{id}/files` stores it.
pub async fn upload(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    pending: Option<Extension<CsrfPending>>,
    mut multipart: Multipart,
) -> Response {
    let lang = s.lang;
    let source = match state.source(&s.caller.0, &id) {
        Ok(src) => src,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mut csrf_ok = pending.is_none();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return error_page(lang, Some(&s), sources::multipart_error(&state, e)),
        };
        let name = field.name().map(str::to_string);
        match name.as_deref() {
            Some("csrf") => {
                let Some(Extension(CsrfPending(expected))) = &pending else {
                    continue;
                };
                let given = field.text().await.unwrap_or_default();
                csrf_ok = session::same_token(&given, expected);
            }
            Some("file") if csrf_ok => {
                let added = match sources::receive_file(&state, source, field).await {
                    Ok(a) => a,
                    Err(e) => return error_page(lang, Some(&s), e),
                };
                if wants_json {
                    return Json(serde_json::json!({
                        "duplicate": added.duplicate,
                        "message": upload_message(lang, added.duplicate, &added.file.name),
                    }))
                    .into_response();
                }
                let outcome = if added.duplicate {
                    "duplicate"
                } else {
                    "stored"
                };
                return Redirect::to(&format!("/sources/{id}?upload={outcome}")).into_response();
            }
            _ => {}
        }
        if !csrf_ok {
            break;
        }
    }
    if !csrf_ok {
        return super::csrf_refused(lang);
    }
    error_page(
        lang,
        Some(&s),
        ApiError::bad_request("no `file` part in the form"),
    )
}
