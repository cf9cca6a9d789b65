//! The evaluators' pages (coordinators see theirs too): the indicators of a
//! territory and a period, suppressed cells said as such; an indicator's
//! charts (bars per territory, a line over periods) drawn on the hub as SVG;
//! the same as one self-contained HTML report to download. Tables, charts and
//! report are `crate::report`'s, shared with `vivres report`.
//!
//! Which territories a visitor sees is the API's rule
//! (`api::indicators::territories_for`). Computing every indicator reads the
//! whole warehouse (minutes over a million fact rows), so the published cells
//! are kept per warehouse and computed again, in the background, only when
//! what they rest on changed: an indicator's definition, or the runs (one
//! started or ended, a batch committed; see [`fingerprint`]). Meanwhile pages
//! show the cells computed before, marked stale.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::{Arc, LazyLock};

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::layout::page_at;
use super::{Session, error_page, html_response};
use crate::api::{ApiError, AppState, Caller};
use crate::app::Hub;
use crate::config::Territory;
use crate::indicators::{Definition, Period, Published};
use crate::report;
use crate::warehouse::RunStatus;

/// Every published cell of a warehouse, and the definitions they come from.
#[derive(Clone)]
pub struct Snapshot {
    pub defs: Arc<Vec<Definition>>,
    pub cells: Arc<Vec<Published>>,
    /// When they were computed (RFC 3339).
    pub computed_at: String,
    /// Data arrived since: a new computation is under way.
    pub stale: bool,
}

/// A warehouse's cells: the last computed, for which fingerprint, and
/// whether a computation is under way (or failed, for which fingerprint).
#[derive(Default)]
struct Entry {
    key: u64,
    snapshot: Option<Snapshot>,
    busy: bool,
    failed: Option<(u64, String)>,
}

type Slot = Arc<tokio::sync::Mutex<Entry>>;

/// Per warehouse (its URL).
static CACHE: LazyLock<std::sync::Mutex<HashMap<String, Slot>>> =
    LazyLock::new(|| std::sync::Mutex::new(HashMap::new()));

/// How long a page waits for the first computation before it says the
/// indicators are being computed.
const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the published cells depend on: the definitions as read now, the
/// running runs (each committed batch counts in `batches`) and the newest
/// run (a run starting or ending).
async fn fingerprint(hub: &Hub, defs: &[Definition]) -> Result<u64, ApiError> {
    let internal = |e: crate::warehouse::WarehouseError| ApiError::Internal(e.to_string());
    let w = &hub.warehouse;
    let running = w
        .runs_page(None, Some(RunStatus::Running), None, 10_000)
        .await
        .map_err(internal)?;
    let newest = w.runs_page(None, None, None, 1).await.map_err(internal)?;
    let mut h = DefaultHasher::new();
    serde_json::to_string(defs).unwrap_or_default().hash(&mut h);
    for r in running.iter().chain(&newest) {
        (
            r.id,
            r.status.as_str(),
            r.batches,
            r.counts.read,
            r.counts.quarantined,
        )
            .hash(&mut h);
    }
    Ok(h.finish())
}

/// Computes the cells in the background, then keeps them under `key`.
async fn refresh(
    slot: Slot,
    warehouse: crate::warehouse::Warehouse,
    defs: Vec<Definition>,
    key: u64,
) {
    let started = std::time::Instant::now();
    let computed_at = crate::warehouse::rfc3339(time::OffsetDateTime::now_utc());
    let result =
        crate::indicators::compute(&warehouse, &defs, crate::indicators::QUERY_TIME_LIMIT).await;
    let mut entry = slot.lock().await;
    entry.busy = false;
    match result {
        Ok(cells) => {
            tracing::info!(
                cells = cells.len(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "console: indicators computed"
            );
            entry.key = key;
            entry.failed = None;
            entry.snapshot = Some(Snapshot {
                defs: Arc::new(defs),
                cells: Arc::new(cells),
                computed_at,
                stale: false,
            });
        }
        Err(e) => {
            tracing::error!(error = %e, "console: indicators not computed");
            entry.failed = Some((key, e.to_string()));
        }
    }
}

/// The published cells: those kept while nothing they rest on changed;
/// otherwise a computation starts in the background and the page gets at
/// once the cells computed before, marked stale. The first time, it waits
/// [`WAIT`] for them (`None` after that, unless `wait_first`: then until
/// they are computed).
pub async fn snapshot(hub: &Hub, wait_first: bool) -> Result<Option<Snapshot>, ApiError> {
    let defs = crate::indicators::load_dir(&hub.config.hub.indicators_dir)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let key = fingerprint(hub, &defs).await?;
    let slot = {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        cache.entry(hub.config.database_url()).or_default().clone()
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        {
            let mut e = slot.lock().await;
            if let Some(s) = &e.snapshot
                && e.key == key
            {
                return Ok(Some(s.clone()));
            }
            if let Some((k, why)) = &e.failed
                && *k == key
            {
                return Err(ApiError::Internal(why.clone()));
            }
            if !e.busy {
                e.busy = true;
                tokio::spawn(refresh(
                    slot.clone(),
                    hub.warehouse.clone(),
                    defs.clone(),
                    key,
                ));
            }
            if e.snapshot.is_some() || (std::time::Instant::now() >= deadline && !wait_first) {
                return Ok(e.snapshot.clone().map(|mut s| {
                    s.stale = true;
                    s
                }));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The territories the visitor may see, by the API's rule.
fn visible<'a>(hub: &'a Hub, caller: &Caller) -> Result<Vec<&'a Territory>, ApiError> {
    let all = &hub.config.territories;
    Ok(
        match crate::api::indicators::territories_for(caller, Vec::new())? {
            None => Vec::new(),
            Some(mine) if mine.is_empty() => all.iter().collect(),
            Some(mine) => all.iter().filter(|t| mine.contains(&t.id)).collect(),
        },
    )
}

#[derive(Deserialize)]
pub struct Choice {
    territory: Option<String>,
    period: Option<String>,
    indicator: Option<String>,
}

/// What a visitor asked for, checked: a territory they may see, a period.
struct Chosen<'a> {
    territories: Vec<&'a Territory>,
    territory: &'a Territory,
    period: Option<Period>,
}

fn choose<'a>(hub: &'a Hub, caller: &Caller, q: &Choice) -> Result<Chosen<'a>, ApiError> {
    let territories = visible(hub, caller)?;
    let territory = match q.territory.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => {
            let found = hub
                .config
                .territory(t)
                .ok_or_else(|| ApiError::not_found(format!("no territory `{t}`")))?;
            // The API's rule, for this one territory: another's is refused.
            crate::api::indicators::territories_for(caller, vec![t.to_string()])?
                .ok_or_else(|| ApiError::forbidden(format!("territory `{t}` is not yours")))?;
            found
        }
        None => *territories
            .first()
            .ok_or_else(|| ApiError::forbidden("no territory is yours"))?,
    };
    let period = match q.period.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(Period::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    Ok(Chosen {
        territories,
        territory,
        period,
    })
}

fn query(territory: &str, period: Period, indicator: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("territory", territory);
    q.append_pair("period", &period.to_string());
    if let Some(i) = indicator {
        q.append_pair("indicator", i);
    }
    q.finish()
}

/// The periods published for these territories: newest year first, each
/// year then its quarters and months.
fn periods(cells: &[Published], territories: &[&str]) -> Vec<Period> {
    let mut out: Vec<Period> = cells
        .iter()
        .filter(|c| territories.contains(&c.territory.as_str()))
        .map(|c| c.period)
        .collect();
    out.sort_by_key(|p| {
        let rank = match p {
            Period::Year(_) => (0, 0),
            Period::Quarter(_, q) => (1, *q),
            Period::Month(_, m) => (2, *m),
        };
        (std::cmp::Reverse(p.year()), rank)
    });
    out.dedup();
    out
}

/// `/indicators`: the table of a territory and a period, and the charts of
/// one indicator.
pub async fn page(State(state): State<AppState>, s: Session, Query(q): Query<Choice>) -> Response {
    match render_page(&state, &s, &q).await {
        Ok(r) => r,
        Err(e) => error_page(s.lang, Some(&s), e),
    }
}

async fn render_page(state: &AppState, s: &Session, q: &Choice) -> Result<Response, ApiError> {
    let lang = s.lang;
    let hub = state.hub();
    let chosen = choose(hub, &s.caller, q)?;
    let title = lang.t("Indicateurs", "Indicators");
    let Some(snap) = snapshot(hub, false).await? else {
        let body = html! {
            h1 { (title) }
            (filters(lang, &chosen.territories, chosen.territory, &[], None, None))
            p #computing.notice role="status" { (lang.t(
                "Les indicateurs sont en cours de calcul (quelques minutes sur un grand entrepôt). Rechargez la page dans un moment.",
                "The indicators are being computed (a few minutes on a large warehouse). Reload the page in a moment.",
            )) }
        };
        return Ok(html_response(
            StatusCode::OK,
            page_at(lang, Some(s), title, "/indicators", body),
        ));
    };
    let ids: Vec<&str> = chosen.territories.iter().map(|t| t.id.as_str()).collect();
    let cells: Vec<Published> = snap
        .cells
        .iter()
        .filter(|c| ids.contains(&c.territory.as_str()))
        .cloned()
        .collect();
    let offered = periods(&cells, &[chosen.territory.id.as_str()]);
    let Some(period) = chosen.period.or_else(|| offered.first().copied()) else {
        let body = html! {
            h1 { (title) }
            (filters(lang, &chosen.territories, chosen.territory, &offered, None, None))
            p.notice role="status" { (lang.t(
                "Pas encore d'indicateur publié pour ce territoire : aucune donnée synchronisée.",
                "No indicator published for this territory yet: no data synchronised.",
            )) }
        };
        return Ok(html_response(
            StatusCode::OK,
            page_at(lang, Some(s), title, "/indicators", body),
        ));
    };
    let defs = &snap.defs;
    let t = chosen.territory;
    let chart_def = match q.indicator.as_deref().filter(|i| !i.is_empty()) {
        Some(i) => defs
            .iter()
            .find(|d| d.id == i)
            .ok_or_else(|| ApiError::not_found(format!("no indicator `{i}`")))?,
        None => defs
            .iter()
            .find(|d| !report::cells_at(&cells, &d.id, &t.id, period).is_empty())
            .or(defs.first())
            .ok_or_else(|| ApiError::not_found("no indicator is defined"))?,
    };
    let names: Vec<(&str, &str)> = chosen
        .territories
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str()))
        .collect();
    let here = format!(
        "/indicators?{}",
        query(&t.id, period, q.indicator.as_deref())
    );
    let body = html! {
        h1 { (title) }
        @if snap.stale {
            p #stale.notice role="status" {
                (lang.t("Chiffres calculés le ", "Figures computed on ")) (lang.when(&snap.computed_at))
                (lang.t(
                    " ; des données sont arrivées depuis et un nouveau calcul est en cours : rechargez la page dans un moment.",
                    "; data arrived since and a new computation is under way: reload the page in a moment.",
                ))
            }
        }
        p { (lang.t(
            "Les indicateurs co-construits, calculés sur les données pseudonymisées des partenaires. « secret statistique » : la cellule repose sur trop peu de personnes, ou permettrait d'en retrouver une masquée ; sa valeur n'est pas publiée.",
            "The co-constructed indicators, computed on the partners' pseudonymised data. \"Statistical secrecy\": the cell rests on too few people, or would let a suppressed one be recomputed; its value is not published.",
        )) }
        (filters(lang, &chosen.territories, t, &offered, Some(period), Some(&chart_def.id)))
        p {
            a #report-link href={ "/indicators/report?" (query(&t.id, period, None)) } download {
                (lang.t("Télécharger le rapport", "Download the report")) " (" (t.name) ", " (period) ")"
            }
            " "
            span.hint { (lang.t(
                "— un seul fichier HTML, tableaux, graphiques et définitions, lisible sans connexion.",
                "— one HTML file, tables, charts and definitions, readable offline.",
            )) }
        }
        h2 #table-title { (lang.t("Tableau", "Table")) " — " (t.name) ", " (period) }
        div.scroll {
            table #indicators aria-labelledby="table-title" {
                (report::table_head(lang))
                tbody {
                    @for d in defs.iter() {
                        @let at = report::cells_at(&cells, &d.id, &t.id, period);
                        @let link = format!("/indicators?{}#charts", query(&t.id, period, Some(&d.id)));
                        (report::rows(lang, d, &at, Some(&link)))
                    }
                }
            }
        }
        section #charts aria-labelledby="charts-title" {
            h2 #charts-title { (lang.t("Graphiques", "Charts")) " — " (report::label(lang, chart_def)) }
            form.filters method="get" action="/indicators#charts" {
                input type="hidden" name="territory" value=(t.id);
                input type="hidden" name="period" value=(period);
                div {
                    label for="indicator" { (lang.t("Indicateur", "Indicator")) }
                    select #indicator name="indicator" {
                        @for d in defs.iter() {
                            option value=(d.id) selected[d.id == chart_def.id] { (report::label(lang, d)) }
                        }
                    }
                }
                button type="submit" { (lang.t("Voir ses graphiques", "Show its charts")) }
            }
            p.definition lang="fr" { (chart_def.description_fr) }
            (report::bars_per_territory(lang, chart_def, &cells, period, &names))
            @match report::line_over_periods(lang, chart_def, &cells, (&t.id, &t.name), period) {
                Some(chart) => { (chart) }
                None => {
                    p.hint { (lang.t(
                        "Une seule période publiée pour ce territoire : pas de courbe.",
                        "One period published for this territory: no line.",
                    )) }
                }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page_at(lang, Some(s), title, &here, body),
    ))
}

/// The choice of a territory and a period (a period published for the
/// territory shown, or the one asked for).
fn filters(
    lang: super::Lang,
    territories: &[&Territory],
    t: &Territory,
    offered: &[Period],
    period: Option<Period>,
    indicator: Option<&str>,
) -> maud::Markup {
    html! {
        form #filters.filters method="get" action="/indicators" {
            div {
                label for="territory" { (lang.t("Territoire", "Territory")) }
                select #territory name="territory" {
                    @for x in territories {
                        option value=(x.id) selected[x.id == t.id] { (x.name) }
                    }
                }
            }
            @if let Some(period) = period {
                div {
                    label for="period" { (lang.t("Période", "Period")) }
                    select #period name="period" {
                        @if !offered.contains(&period) { option value=(period) selected { (period) } }
                        @for p in offered { option value=(p) selected[*p == period] { (p) } }
                    }
                }
            }
            @if let Some(i) = indicator { input type="hidden" name="indicator" value=(i); }
            button.primary type="submit" { (lang.t("Afficher", "Show")) }
        }
    }
}

/// `/indicators/report`: the report of a territory and a period, as
/// `vivres report` writes it, to download.
pub async fn download(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<Choice>,
) -> Response {
    let hub = state.hub();
    let made = async {
        let chosen = choose(hub, &s.caller, &q)?;
        let period = chosen
            .period
            .ok_or_else(|| ApiError::bad_request("choose a period"))?;
        let snap = snapshot(hub, true)
            .await?
            .ok_or_else(|| ApiError::Internal("indicators not computed".into()))?;
        let t = chosen.territory;
        let cells: Vec<Published> = snap
            .cells
            .iter()
            .filter(|c| c.territory == t.id)
            .cloned()
            .collect();
        let html = report::document(
            s.lang,
            &snap.defs,
            &cells,
            (&t.id, &t.name),
            period,
            &s.lang.when(&snap.computed_at),
        );
        Ok::<_, ApiError>((format!("vivres-indicateurs-{}-{period}.html", t.id), html))
    };
    match made.await {
        Ok((name, html)) => {
            let mut r = html_response(StatusCode::OK, html);
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r.into_response()
        }
        Err(e) => error_page(s.lang, Some(&s), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_come_newest_year_first_then_its_quarters_and_months() {
        let cell = |p: &str| Published {
            indicator: "x".into(),
            label_fr: String::new(),
            label_en: String::new(),
            theme: crate::indicators::Theme::FoodSecurity,
            unit: "%".into(),
            territory: "lyon".into(),
            period: Period::parse(p).unwrap(),
            breakdown_by: None,
            breakdown: None,
            value: Some(1.0),
            n: Some(20),
            suppressed: false,
        };
        let cells: Vec<Published> = ["2023", "2024-02", "2024", "2024-Q1", "2024-01", "2024"]
            .into_iter()
            .map(cell)
            .collect();
        let got: Vec<String> = periods(&cells, &["lyon"])
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(got, ["2024", "2024-Q1", "2024-01", "2024-02", "2023"]);
        assert!(periods(&cells, &["toulouse"]).is_empty());
    }
}
