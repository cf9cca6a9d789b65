//! The web console that `vivres serve` shows at `/`: coordinators' sources,
//! runs followed live and refused lines in plain French; admins' tokens,
//! schedules and failures; indicators (tables, SVG charts, the report to
//! download) and exports.
//!
//! Server-rendered HTML (maud templates compiled into the binary), one small
//! plain-JS file and one stylesheet embedded too: no build step, no CDN.
//! French first, English from `Accept-Language` or the switch in the header.
//!
//! The console holds no rule of its own: each page calls the same functions
//! as the API's handlers ([`crate::api::AppState::source`], `Caller`'s role
//! checks, `api::sources::start_run`, `api::runs::visible_run`, …) with the
//! principal of the session's token, so a page shows and does exactly what
//! that token may do through the API. Sessions and CSRF: `console/session.rs`.

mod admin;
mod exports;
mod indicators;
mod layout;
mod refusals;
mod runs;
pub mod session;
mod sources;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Query, RawForm, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use tower::ServiceExt as _;

use crate::api::{ApiError, AppState, Caller};
pub use layout::Lang;
use layout::page;

/// The signed-in visitor: the API's `Caller` for their token, the CSRF token
/// of their forms, their language.
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    pub lang: Lang,
}

impl Session {
    fn name(&self) -> &str {
        &self.caller.0.name
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::of(&parts.headers);
        let to_sign_in = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = if parts.method == Method::GET && next != "/" {
                format!(
                    "/sign-in?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                )
            } else {
                "/sign-in".to_string()
            };
            Redirect::to(&target).into_response()
        };
        let Some(secret) = session::cookie(&parts.headers, session::SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        match session::principal(&state.hub().warehouse, secret).await {
            Ok(Some(p)) => Ok(Session {
                caller: Caller(p),
                csrf: session::csrf_token(secret),
                lang,
            }),
            Ok(None) => Err(to_sign_in()),
            Err(e) => Err(error_page(lang, None, ApiError::Internal(e.to_string()))),
        }
    }
}

impl FromRequestParts<AppState> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Lang::of(&parts.headers))
    }
}

/// A page as a response: HTML that no cache keeps.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// The page for an error of the API's functions, in the visitor's language
/// (the API's own message, in English, only for a bad request).
pub fn error_page(lang: Lang, session: Option<&Session>, e: ApiError) -> Response {
    let (status, title, text) = match &e {
        ApiError::Unauthorized => return Redirect::to("/sign-in").into_response(),
        ApiError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            lang.t("Accès refusé", "Access denied"),
            lang.t(
                "Cette page ne relève pas de votre rôle ou de vos territoires.",
                "This page is outside your role or your territories.",
            ),
        ),
        ApiError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            lang.t("Introuvable", "Not found"),
            lang.t(
                "Cette page n'existe pas (ou plus).",
                "This page does not exist (any more).",
            ),
        ),
        ApiError::BadRequest(_)
        | ApiError::PayloadTooLarge(_)
        | ApiError::MethodNotAllowed(_)
        | ApiError::UnsupportedMediaType(_)
        | ApiError::Rejected { .. } => (
            e.status(),
            lang.t("Demande refusée", "Request refused"),
            lang.t(
                "La demande n'a pas pu être traitée :",
                "The request could not be handled:",
            ),
        ),
        ApiError::WrongState(_) => (
            StatusCode::CONFLICT,
            lang.t("Déjà fait", "Nothing to do"),
            lang.t(
                "La demande ne s'applique pas à l'état présent (une exécution déjà terminée, une source qui n'est pas en pause).",
                "The request does not apply to the present state (a run already ended, a source that is not paused).",
            ),
        ),
        ApiError::Conflict { .. } => (
            StatusCode::CONFLICT,
            lang.t("Déjà en cours", "Already running"),
            lang.t(
                "Une synchronisation de cette source est déjà en cours.",
                "A sync of this source is already running.",
            ),
        ),
        ApiError::Internal(cause) => {
            tracing::error!(error = %cause, "console: internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("Erreur interne", "Internal error"),
                lang.t(
                    "Le hub n'a pas pu répondre ; l'erreur est consignée dans son journal.",
                    "The hub could not answer; the error is in its log.",
                ),
            )
        }
    };
    let detail = match &e {
        ApiError::BadRequest(m) | ApiError::PayloadTooLarge(m) => Some(m.clone()),
        _ => None,
    };
    let body = html! {
        h1 { (title) }
        p { (text) @if let Some(d) = &detail { " " code { (d) } } }
        p { a href="/" { (lang.t("Retour à l'accueil", "Back to the home page")) } }
    };
    html_response(status, page(lang, session, title, body))
}

/// Refuses a state-changing request without the CSRF token of the visitor's
/// cookie: in an `X-CSRF-Token` header, or the `csrf` field of a form. A
/// multipart upload (only `/sources/{id}/files` takes one) carries it as its
/// first part, which the handler checks ([`CsrfPending`]).
async fn csrf_guard(mut req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let lang = Lang::of(req.headers());
    let refused = || csrf_refused(lang);
    let Some(expected) = session::expected_csrf(req.headers()) else {
        return refused();
    };
    let header_ok = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| session::same_token(v, &expected));
    if header_ok {
        return next.run(req).await;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
            return refused();
        };
        let ok = url::form_urlencoded::parse(&bytes)
            .any(|(k, v)| k == "csrf" && session::same_token(&v, &expected));
        if !ok {
            return refused();
        }
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    let upload = req.uri().path().starts_with("/sources/") && req.uri().path().ends_with("/files");
    if content_type.starts_with("multipart/form-data") && upload {
        req.extensions_mut().insert(CsrfPending(expected));
        return next.run(req).await;
    }
    refused()
}

/// The CSRF token a multipart form's first part must carry.
#[derive(Clone)]
pub struct CsrfPending(pub String);

fn csrf_refused(lang: Lang) -> Response {
    let title = lang.t("Demande refusée", "Request refused");
    let body = html! {
        h1 { (title) }
        p { (lang.t(
            "Ce formulaire n'a pas été envoyé depuis la console (jeton anti-falsification absent ou périmé). Rechargez la page et recommencez.",
            "This form was not sent from the console (anti-forgery token missing or stale). Reload the page and try again.",
        )) }
    };
    html_response(StatusCode::FORBIDDEN, page(lang, None, title, body))
}

/// Headers every console response carries: no framing, no foreign script,
/// and how long the hub took (`Server-Timing`, also logged per request).
async fn security_headers(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let mut response = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(%method, route, status = response.status().as_u16(), latency_ms = ms, "console request");
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={ms:.1}")) {
        h.insert("server-timing", v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The console at `/`, with everything else (`/api/…`) handed to `api`.
pub fn router(state: AppState, api: Router) -> Router {
    let upload_limit = crate::api::sources::upload_body_limit(state.upload_limit());
    let console = Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/link/{code}", get(link_form))
        .route("/link", post(link_sign_in))
        .route("/sign-out", post(sign_out))
        .route("/lang", get(switch_lang))
        .route("/assets/{file}", get(asset))
        .route("/sources", get(sources::list))
        .route("/sources/{id}", get(sources::show))
        .route("/sources/{id}/sync", post(sources::sync))
        .route("/sources/{id}/replay", post(sources::replay))
        .route(
            "/sources/{id}/files",
            post(sources::upload).layer(upload_limit),
        )
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/live", get(runs::live))
        .route(
            "/admin/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route("/admin/tokens/revoke", post(admin::revoke_token))
        .route("/admin/schedules", get(admin::schedules))
        .route("/admin/failures", get(admin::failures))
        .route("/indicators", get(indicators::page))
        .route("/indicators/report", get(indicators::download))
        .route("/exports", get(exports::form))
        .route("/exports/download", get(exports::download))
        .route_layer(axum::middleware::from_fn(csrf_guard))
        .route_layer(axum::middleware::from_fn(security_headers))
        .with_state(state);
    console.fallback(move |req: Request| {
        let api = api.clone();
        async move {
            let path = req.uri().path();
            let to_api = path == "/api" || path.starts_with("/api/");
            if to_api {
                match api.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            } else {
                let lang = Lang::of(req.headers());
                error_page(lang, None, ApiError::not_found("no such page"))
            }
        }
    })
}

async fn home(session: Result<Session, Response>) -> Response {
    match session {
        Err(_) => Redirect::to("/sign-in").into_response(),
        Ok(s) => Redirect::to(home_of(&s)).into_response(),
    }
}

/// Where a visitor starts: their sources, or the indicators for evaluators.
fn home_of(s: &Session) -> &'static str {
    if s.caller.forbid_evaluator("sources").is_ok() {
        "/sources"
    } else {
        "/indicators"
    }
}

/// A local path to go back to (never another site).
fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\'))
        .then(|| next.to_string())
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
    out: Option<String>,
}

async fn sign_in_form(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    if let Some(secret) = session::cookie(&headers, session::SESSION_COOKIE)
        && let Ok(Some(_)) = session::principal(&state.hub().warehouse, secret).await
    {
        return Redirect::to(&local_path(q.next.as_deref()).unwrap_or_else(|| "/".into()))
            .into_response();
    }
    let notice = q
        .out
        .is_some()
        .then(|| lang.t("Vous êtes déconnecté·e.", "You are signed out."));
    sign_in_page(
        lang,
        &headers,
        q.next.as_deref(),
        notice,
        None,
        StatusCode::OK,
    )
}

fn sign_in_page(
    lang: Lang,
    headers: &HeaderMap,
    next: Option<&str>,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = lang.t("Connexion", "Sign in");
    anonymous_page(lang, headers, status, title, |csrf| {
        html! {
            h1 { (title) }
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            @if let Some(e) = error { p.error role="alert" id="sign-in-error" { (e) } }
            form.card method="post" action="/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(n) = local_path(next) { input type="hidden" name="next" value=(n); }
                label for="token" { (lang.t("Jeton d'accès", "Access token")) }
                p.hint id="token-hint" { (lang.t(
                    "Le jeton (vvr_…) que l'administrateur du hub vous a remis. Il n'est jamais affiché ni conservé par la console.",
                    "The token (vvr_…) the hub's administrator gave you. The console never shows or keeps it.",
                )) }
                input #token type="password" name="token" required autocomplete="off"
                    spellcheck="false" aria-describedby="token-hint"
                    aria-invalid=[error.map(|_| "true")];
                button type="submit" { (lang.t("Se connecter", "Sign in")) }
            }
        }
    })
}

/// A page for a visitor not signed in, whose form carries the CSRF token of
/// the pre-session cookie (set here if missing); a stale session cookie
/// decides the token instead, by the rule the CSRF guard applies.
fn anonymous_page(
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    body: impl FnOnce(&str) -> Markup,
) -> Response {
    let (pre, set) = session::pre_session(headers);
    let csrf = session::expected_csrf(headers).unwrap_or_else(|| session::csrf_token(&pre));
    let mut r = html_response(status, page(lang, None, title, body(&csrf)));
    if let Some(c) = set {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn form_fields(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Sets the session cookie and goes on.
fn signed_in(headers: &HeaderMap, secret: &str, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        session::session_cookie(secret, session::over_tls(headers)),
    );
    r
}

async fn sign_in(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let fields = form_fields(&body);
    let token = field(&fields, "token").unwrap_or("");
    let next = field(&fields, "next");
    match session::sign_in(&state.hub().warehouse, token).await {
        Ok(Some((secret, p))) => {
            tracing::info!(token = %p.name, "console: signed in");
            signed_in(
                &headers,
                &secret,
                &local_path(next).unwrap_or_else(|| "/".into()),
            )
        }
        Ok(None) => sign_in_page(
            lang,
            &headers,
            next,
            None,
            Some(lang.t(
                "Ce jeton n'est pas reconnu : il est mal recopié, ou il a été révoqué. Demandez-en un nouveau à l'administrateur du hub.",
                "This token is not recognised: it was mistyped, or it was revoked. Ask the hub's administrator for a new one.",
            )),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => error_page(lang, None, ApiError::Internal(e.to_string())),
    }
}

async fn link_form(
    lang: Lang,
    headers: HeaderMap,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    // A GET never uses the link up (mail scanners open links): a button does.
    let title = lang.t("Connexion par lien", "Sign in with a link");
    anonymous_page(lang, &headers, StatusCode::OK, title, |csrf| {
        html! {
            h1 { (title) }
            p { (lang.t(
                "Ce lien vous connecte une seule fois à la console. Il ne servira plus ensuite.",
                "This link signs you in to the console once. It will not work again.",
            )) }
            form.card method="post" action="/link" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="code" value=(code);
                button type="submit" { (lang.t("Se connecter", "Sign in")) }
            }
        }
    })
}

async fn link_sign_in(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let fields = form_fields(&body);
    let code = field(&fields, "code").unwrap_or("");
    match session::redeem_link(&state.hub().warehouse, code).await {
        Ok(Some((secret, p))) => {
            tracing::info!(token = %p.name, "console: signed in with a one-time link");
            signed_in(&headers, &secret, "/")
        }
        Ok(None) => {
            let title = lang.t("Lien inutilisable", "Link not usable");
            let body = html! {
                h1 { (title) }
                p { (lang.t(
                    "Ce lien a déjà servi, a expiré, ou son jeton a été révoqué. Demandez un nouveau lien à l'administrateur du hub, ou connectez-vous avec votre jeton.",
                    "This link was already used, has expired, or its token was revoked. Ask the hub's administrator for a new link, or sign in with your token.",
                )) }
                p { a href="/sign-in" { (lang.t("Se connecter avec un jeton", "Sign in with a token")) } }
            };
            html_response(StatusCode::GONE, page(lang, None, title, body))
        }
        Err(e) => error_page(lang, None, ApiError::Internal(e.to_string())),
    }
}

async fn sign_out(State(state): State<AppState>, lang: Lang, headers: HeaderMap) -> Response {
    if let Some(secret) = session::cookie(&headers, session::SESSION_COOKIE)
        && let Err(e) = session::sign_out(&state.hub().warehouse, secret).await
    {
        return error_page(lang, None, ApiError::Internal(e.to_string()));
    }
    let mut r = Redirect::to("/sign-in?out=1").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, "", 0, session::over_tls(&headers)),
    );
    r
}

#[derive(Deserialize)]
struct LangQuery {
    to: Option<String>,
    back: Option<String>,
}

/// The language switch: a preference cookie, then back to the page.
async fn switch_lang(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = match q.to.as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Fr,
    };
    let mut r =
        Redirect::to(&local_path(q.back.as_deref()).unwrap_or_else(|| "/".into())).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            session::LANG_COOKIE,
            lang.code(),
            365 * 24 * 3600,
            session::over_tls(&headers),
        ),
    );
    r
}

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "console.css" => ("text/css; charset=utf-8", CSS),
        "console.js" => ("text/javascript; charset=utf-8", JS),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
