//! The console's page frame, its two languages and how it writes numbers,
//! dates and statuses.

use axum::http::{HeaderMap, header};
use maud::{DOCTYPE, Markup, html};

use super::Session;
use super::session::{LANG_COOKIE, cookie};

/// French first; English when the visitor asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// The switch's cookie, else the preferred of French and English in
    /// `Accept-Language`, else French.
    pub fn of(headers: &HeaderMap) -> Lang {
        match cookie(headers, LANG_COOKIE) {
            Some("en") => return Lang::En,
            Some("fr") => return Lang::Fr,
            _ => {}
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0f32);
            let lang = match tag.split('-').next() {
                Some("fr") => Lang::Fr,
                Some("en") => Lang::En,
                _ => continue,
            };
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Fr)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The text in this language: French and English side by side.
    pub fn t(self, fr: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    /// A count, with the language's thousands separator.
    pub fn num(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = match self {
            Lang::Fr => '\u{202f}',
            Lang::En => ',',
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    /// An RFC 3339 instant, in UTC, as people read it.
    pub fn when(self, rfc3339: &str) -> String {
        let Some(t) = crate::api::views::parse_time(rfc3339) else {
            return rfc3339.to_string();
        };
        let t = t.to_offset(time::UtcOffset::UTC);
        let (d, m, y, hh, mm) = (t.day(), u8::from(t.month()), t.year(), t.hour(), t.minute());
        match self {
            Lang::Fr => format!("{d:02}/{m:02}/{y} à {hh:02}:{mm:02} UTC"),
            Lang::En => format!("{y}-{m:02}-{d:02} {hh:02}:{mm:02} UTC"),
        }
    }

    pub fn duration(self, seconds: f64) -> String {
        let s = seconds.max(0.0).round() as u64;
        match (s / 3600, s % 3600 / 60, s % 60) {
            (0, 0, s) => format!("{s} s"),
            (0, m, s) => format!("{m} min {s:02} s"),
            (h, m, _) => format!("{h} h {m:02} min"),
        }
    }

    /// A run's status.
    pub fn status(self, status: &str) -> &'static str {
        match status {
            "running" => self.t("en cours", "running"),
            "succeeded" => self.t("réussie", "succeeded"),
            "failed" => self.t("échouée", "failed"),
            "interrupted" => self.t("interrompue", "interrupted"),
            _ => self.t("inconnu", "unknown"),
        }
    }

    /// Why a run failed (`error_kind`).
    pub fn error_kind(self, kind: &str) -> &'static str {
        match kind {
            "partner_unavailable" => self.t(
                "le partenaire ne répondait pas (nouvel essai prévu)",
                "the partner did not answer (retried)",
            ),
            "bad_config" => self.t(
                "la configuration de la source est invalide",
                "the source's configuration is invalid",
            ),
            "auth_failed" => self.t(
                "le partenaire a refusé l'accès (identifiants)",
                "the partner refused access (credentials)",
            ),
            "bad_data" => self.t("données illisibles", "unreadable data"),
            "plugin" => self.t("erreur du connecteur", "connector error"),
            "warehouse" => self.t("erreur de l'entrepôt", "warehouse error"),
            "interrupted" => self.t("interrompue", "interrupted"),
            _ => self.t("erreur", "error"),
        }
    }
}

/// A whole page: header with the visitor's menu (from the same role checks
/// as the API), language switch and sign-out; `body` in `main`.
pub fn page(lang: Lang, session: Option<&Session>, title: &str, body: Markup) -> Markup {
    page_at(lang, session, title, "/", body)
}

/// [`page`], knowing its own path (for the language switch to come back).
pub fn page_at(
    lang: Lang,
    session: Option<&Session>,
    title: &str,
    path: &str,
    body: Markup,
) -> Markup {
    let back: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    let (other, other_label, other_name) = match lang {
        Lang::Fr => ("en", "English", "Switch to English"),
        Lang::En => ("fr", "Français", "Passer en français"),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Vivres" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { (lang.t("Aller au contenu", "Skip to content")) }
                header.top {
                    a.brand href="/" { "Vivres" }
                    @if let Some(s) = session {
                        nav aria-label=(lang.t("Menu principal", "Main menu")) {
                            ul {
                                @if s.caller.forbid_evaluator("sources").is_ok() {
                                    li { a href="/sources" { (lang.t("Mes sources", "My sources")) } }
                                }
                                li { a href="/indicators" { (lang.t("Indicateurs", "Indicators")) } }
                                li { a href="/exports" { (lang.t("Exports", "Exports")) } }
                                @if s.caller.require_admin().is_ok() {
                                    li { a href="/admin/tokens" { (lang.t("Jetons", "Tokens")) } }
                                    li { a href="/admin/schedules" { (lang.t("Planning", "Schedules")) } }
                                    li { a href="/admin/failures" { (lang.t("Échecs", "Failures")) } }
                                }
                            }
                        }
                    }
                    div.tools {
                        a href={ "/lang?to=" (other) "&back=" (back) } lang=(other) aria-label=(other_name) { (other_label) }
                        @if let Some(s) = session {
                            span.who { (lang.t("Connecté·e : ", "Signed in: ")) strong { (s.name()) } }
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button.link type="submit" { (lang.t("Se déconnecter", "Sign out")) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// A status as a badge (colour and word, never colour alone).
pub fn badge(lang: Lang, status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (lang.status(status)) } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn language_from_the_switch_then_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("de-DE, en-GB;q=0.8, fr;q=0.5"),
        );
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr-FR,fr;q=0.9,en;q=0.8"),
        );
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert(header::COOKIE, HeaderValue::from_static("vivres_lang=en"));
        assert_eq!(Lang::of(&h), Lang::En);
        assert_eq!(Lang::Fr.num(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(Lang::En.num(999), "999");
        assert_eq!(
            Lang::Fr.when("2024-05-01T14:03:00Z"),
            "01/05/2024 à 14:03 UTC"
        );
        assert_eq!(Lang::Fr.duration(65.0), "1 min 05 s");
    }
}
