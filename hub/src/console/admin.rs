//! Admins' pages: tokens (create with role and territories, revoke), sources
//! and their schedules, the last failures. Each handler first asks the API's
//! `require_admin`.

use axum::extract::{RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::layout::{badge, page_at};
use super::{Session, error_page, field, form_fields, html_response, session};
use crate::api::{ApiError, AppState, sources};
use crate::auth;

fn territories_of(role: &auth::Role) -> String {
    match role {
        auth::Role::Coordinator { territories } => territories.join(", "),
        _ => String::new(),
    }
}

/// A token just created: shown this once.
struct Created {
    name: String,
    token: String,
    link: Option<String>,
}

pub async fn tokens(State(state): State<AppState>, s: Session) -> Response {
    tokens_page(&state, &s, None, None, StatusCode::OK).await
}

async fn tokens_page(
    state: &AppState,
    s: &Session,
    created: Option<Created>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = s.lang;
    if let Err(e) = s.caller.require_admin() {
        return error_page(lang, Some(s), e);
    }
    let list = match auth::list(&state.hub().warehouse).await {
        Ok(l) => l,
        Err(e) => return error_page(lang, Some(s), e.into()),
    };
    let territories = &state.hub().config.territories;
    let title = lang.t("Jetons d'accès", "Access tokens");
    let body = html! {
        h1 { (title) }
        @if let Some(c) = &created {
            div.notice role="status" {
                p { (lang.t("Jeton créé pour ", "Token created for ")) strong { (c.name) } (lang.t(" : il n'est affiché qu'une fois, transmettez-le maintenant.", ": it is shown only once, hand it over now.")) }
                p { code #new-token { (c.token) } }
                @if let Some(l) = &c.link {
                    p { (lang.t("Lien de connexion à usage unique (valable 24 h) : ", "One-time sign-in link (valid 24 h): ")) code #new-link { (l) } }
                }
            }
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        h2 { (lang.t("Créer un jeton", "Create a token")) }
        form #create-token.card method="post" action="/admin/tokens" {
            input type="hidden" name="csrf" value=(s.csrf);
            label for="name" { (lang.t("Nom (qui le détient)", "Name (who holds it)")) }
            input #name name="name" required pattern="[A-Za-z0-9._@-]{1,64}" autocomplete="off";
            label for="role" { (lang.t("Rôle", "Role")) }
            select #role name="role" {
                option value="coordinator" { (lang.t("coordinateur·rice", "coordinator")) }
                option value="evaluator" { (lang.t("évaluateur·rice", "evaluator")) }
                option value="admin" { (lang.t("administrateur·rice", "admin")) }
            }
            fieldset {
                legend { (lang.t("Territoires (coordinateurs seulement)", "Territories (coordinators only)")) }
                @for t in territories {
                    label.check { input type="checkbox" name="territory" value=(t.id); " " (t.name) }
                }
            }
            label.check { input type="checkbox" name="link" value="1"; " " (lang.t("Créer aussi un lien de connexion à usage unique", "Also create a one-time sign-in link")) }
            button.primary type="submit" { (lang.t("Créer", "Create")) }
        }
        h2 { (lang.t("Jetons", "Tokens")) }
        div.scroll { table #tokens {
            thead { tr {
                th scope="col" { (lang.t("Nom", "Name")) }
                th scope="col" { (lang.t("Rôle", "Role")) }
                th scope="col" { (lang.t("Territoires", "Territories")) }
                th scope="col" { (lang.t("Créé le", "Created")) }
                th scope="col" { (lang.t("État", "State")) }
            } }
            tbody { @for t in &list { tr {
                th scope="row" { (t.name) }
                td { (t.role.name()) }
                td { (territories_of(&t.role)) }
                td { (lang.when(&t.created_at)) }
                td {
                    @if let Some(r) = &t.revoked_at {
                        (lang.t("révoqué le ", "revoked ")) (lang.when(r))
                    } @else {
                        form.inline method="post" action="/admin/tokens/revoke" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            input type="hidden" name="name" value=(t.name);
                            button.danger type="submit" aria-label={ (lang.t("Révoquer ", "Revoke ")) (t.name) } { (lang.t("Révoquer", "Revoke")) }
                        }
                    }
                }
            } } }
        } }
    };
    html_response(status, page_at(lang, Some(s), title, "/admin/tokens", body))
}

/// Where this hub is reached, as the browser reached it (for sign-in links).
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = if session::over_tls(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

pub async fn create_token(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let lang = s.lang;
    if let Err(e) = s.caller.require_admin() {
        return error_page(lang, Some(&s), e);
    }
    let fields = form_fields(&body);
    let name = field(&fields, "name").unwrap_or("").trim().to_string();
    let role = field(&fields, "role").unwrap_or("");
    let mut territories: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "territory")
        .map(|(_, v)| v.clone())
        .collect();
    if role != "coordinator" {
        territories.clear();
    }
    let config = &state.hub().config;
    let known: Vec<&str> = config.territories.iter().map(|t| t.id.as_str()).collect();
    let warehouse = &state.hub().warehouse;
    let created = match auth::role_from(role, &territories, &known) {
        Ok(role) => auth::create(warehouse, &name, &role).await,
        Err(e) => Err(e),
    };
    let token = match created {
        Ok(t) => t,
        Err(e @ auth::AuthError::Warehouse(_)) => return error_page(lang, Some(&s), e.into()),
        // The rule's own words (English), as `vivres token create` says them.
        Err(e) => {
            return tokens_page(
                &state,
                &s,
                None,
                Some(e.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    tracing::info!(by = %s.name(), token = %name, "console: token created");
    let link = if field(&fields, "link").is_some() {
        match session::create_link(warehouse, &token).await {
            Ok(code) => Some(format!("{}/link/{code}", origin(&headers))),
            Err(e) => return error_page(lang, Some(&s), ApiError::from(e)),
        }
    } else {
        None
    };
    tokens_page(
        &state,
        &s,
        Some(Created { name, token, link }),
        None,
        StatusCode::CREATED,
    )
    .await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    s: Session,
    RawForm(body): RawForm,
) -> Response {
    let lang = s.lang;
    if let Err(e) = s.caller.require_admin() {
        return error_page(lang, Some(&s), e);
    }
    let fields = form_fields(&body);
    let name = field(&fields, "name").unwrap_or("");
    match auth::revoke(&state.hub().warehouse, name).await {
        Ok(()) | Err(auth::AuthError::NoSuchToken(_)) => {
            tracing::info!(by = %s.name(), token = %name, "console: token revoked");
            Redirect::to("/admin/tokens").into_response()
        }
        Err(e) => error_page(lang, Some(&s), e.into()),
    }
}

pub async fn schedules(State(state): State<AppState>, s: Session) -> Response {
    let lang = s.lang;
    if let Err(e) = s.caller.require_admin() {
        return error_page(lang, Some(&s), e);
    }
    let views = match sources::visible_source_views(&state, &s.caller).await {
        Ok(v) => v,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let title = lang.t("Sources et planning", "Sources and schedules");
    let body = html! {
        h1 { (title) }
        div.scroll { table #schedules {
            thead { tr {
                th scope="col" { (lang.t("Source", "Source")) }
                th scope="col" { (lang.t("Territoire", "Territory")) }
                th scope="col" { (lang.t("Connecteur", "Connector")) }
                th scope="col" { (lang.t("Planning (cron)", "Schedule (cron)")) }
                th scope="col" { (lang.t("Prochaine", "Next")) }
                th scope="col" { (lang.t("Dernière", "Last")) }
            } }
            tbody { @for v in &views { tr {
                th scope="row" { a href={ "/sources/" (v.id) } { (v.id) } }
                td { (v.territory) }
                td { (v.connector) }
                td { @if let Some(c) = &v.schedule { code { (c) } } @else { (lang.t("sur demande", "on demand")) } }
                td { @if let Some(n) = &v.next_run { (lang.when(n)) } @else { "—" } }
                td { @if let Some(r) = &v.last_run { a href={ "/runs/" (r.id) } { (badge(lang, &r.status)) } } @else { "—" } }
            } } }
        } }
    };
    html_response(
        StatusCode::OK,
        page_at(lang, Some(&s), title, "/admin/schedules", body),
    )
}

pub async fn failures(State(state): State<AppState>, s: Session) -> Response {
    let lang = s.lang;
    if let Err(e) = s.caller.require_admin() {
        return error_page(lang, Some(&s), e);
    }
    let table: Markup = match super::runs::failed(&state, &s).await {
        Ok(t) => t,
        Err(e) => return error_page(lang, Some(&s), e),
    };
    let title = lang.t("Derniers échecs", "Last failures");
    let body = html! { h1 { (title) } (table) };
    html_response(
        StatusCode::OK,
        page_at(lang, Some(&s), title, "/admin/failures", body),
    )
}
