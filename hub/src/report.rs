//! Indicators as people read them: the table of a territory and a period
//! (suppressed cells said as such, « secret statistique »), charts drawn on
//! the hub as inline SVG (`report/svg.rs`), and `vivres report`'s one
//! self-contained HTML file (inline CSS and SVG, no script, nothing fetched)
//! for the partners' meetings. The console's indicators pages render the
//! same tables and charts with these functions.

mod svg;

use std::path::Path;

use anyhow::{Context, bail};
use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use crate::console::Lang;
use crate::indicators::{Definition, Period, Published, Theme};
pub use svg::{Datum, bars, line};

/// The report's stylesheet, inlined in its `<style>`.
const CSS: &str = include_str!("../assets/report.css");

/// A value as people read it: at most one decimal, the language's separators.
pub fn fmt_value(lang: Lang, v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    let sign = if r < 0.0 { "-" } else { "" };
    let tenths = (r.abs() * 10.0).round() as u64;
    let (int, frac) = (tenths / 10, tenths % 10);
    let dec = match lang {
        Lang::Fr => ',',
        Lang::En => '.',
    };
    if frac == 0 {
        format!("{sign}{}", lang.num(int))
    } else {
        format!("{sign}{}{dec}{frac}", lang.num(int))
    }
}

/// A definition's unit in the reader's language.
pub fn unit(lang: Lang, unit: &str) -> String {
    let fr = match unit {
        "households" => "foyers",
        "kg/household/month" => "kg/foyer/mois",
        "participations/household" => "participations/foyer",
        "percentage points" => "points de %",
        "€/household" => "€/foyer",
        other => other,
    };
    match lang {
        Lang::Fr => fr.to_string(),
        Lang::En => unit.to_string(),
    }
}

/// An evaluation theme's name.
pub fn theme(lang: Lang, t: Theme) -> &'static str {
    match t {
        Theme::FoodSecurity => lang.t("Sécurité alimentaire", "Food security"),
        Theme::DietaryPractices => lang.t("Pratiques alimentaires", "Dietary practices"),
        Theme::SocialTies => lang.t("Lien social", "Social ties"),
        Theme::Care => lang.t("Soin, prendre soin", "Care"),
        Theme::Skills => lang.t("Compétences", "Skills"),
        Theme::WorkIntegration => lang.t("Insertion par l'activité économique", "Work integration"),
        Theme::Empowerment => lang.t("Pouvoir d'agir", "Empowerment"),
        Theme::FoodDemocracy => lang.t("Démocratie alimentaire", "Food democracy"),
        Theme::SustainableFoodSystems => lang.t(
            "Systèmes alimentaires territoriaux durables",
            "Sustainable local food systems",
        ),
    }
}

/// What a breakdown's column names.
fn breakdown_by(lang: Lang, by: &str) -> String {
    let fr = match by {
        "network" => "réseau",
        "channel" => "canal",
        "aid_type" => "type d'aide",
        "dimension" => "dimension",
        "waves" => "vagues",
        other => other,
    };
    match lang {
        Lang::Fr => fr.to_string(),
        Lang::En => by.replace('_', " "),
    }
}

/// An indicator's label in the reader's language.
pub fn label(lang: Lang, def: &Definition) -> &str {
    match lang {
        Lang::Fr => &def.label_fr,
        Lang::En => &def.label_en,
    }
}

/// A colon, with French's space before it.
pub fn colon(lang: Lang) -> &'static str {
    lang.t(" : ", ": ")
}

/// "secret statistique", said the same way everywhere.
pub fn secrecy(lang: Lang) -> &'static str {
    lang.t("secret statistique", "statistical secrecy")
}

/// The cells of one indicator at a territory and a period, the total first.
pub fn cells_at<'a>(
    cells: &'a [Published],
    indicator: &str,
    territory: &str,
    period: Period,
) -> Vec<&'a Published> {
    let mut out: Vec<&Published> = cells
        .iter()
        .filter(|c| c.indicator == indicator && c.territory == territory && c.period == period)
        .collect();
    out.sort_by(|a, b| a.breakdown.cmp(&b.breakdown));
    out
}

/// The head of an indicators table.
pub fn table_head(lang: Lang) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (lang.t("Indicateur", "Indicator")) }
            th scope="col" { (lang.t("Valeur", "Value")) }
            th scope="col" { (lang.t("Personnes ou foyers (n)", "People or households (n)")) }
        } }
    }
}

/// The rows of one indicator at a territory and a period: the total, then
/// each value of its breakdown. A suppressed cell says so and shows neither
/// value nor `n`. `link`: where the indicator's name leads (its charts).
pub fn rows(lang: Lang, def: &Definition, at: &[&Published], link: Option<&str>) -> Markup {
    let u = unit(lang, &def.unit);
    let name = html! {
        @match link {
            Some(href) => { a href=(href) { (label(lang, def)) } }
            None => { (label(lang, def)) }
        }
    };
    html! {
        @if at.is_empty() {
            tr data-indicator=(def.id) data-breakdown="" {
                th scope="row" { (name) }
                td.missing colspan="2" { (lang.t("pas de données pour cette période", "no data for this period")) }
            }
        }
        @for c in at {
            tr class=[c.suppressed.then_some("suppressed")] data-indicator=(def.id)
                data-breakdown=(c.breakdown.as_deref().unwrap_or("")) {
                th scope="row" class=[c.breakdown.is_some().then_some("sub")] {
                    @match (&c.breakdown, &def.breakdown) {
                        (Some(b), Some(by)) => { (breakdown_by(lang, by)) (colon(lang)) (b) }
                        (Some(b), None) => { (b) }
                        (None, _) => { (name) }
                    }
                }
                @match (c.suppressed, c.value) {
                    (true, _) => {
                        td.n.secret { (secrecy(lang)) }
                        td.n { abbr title=(lang.t("masqué", "suppressed")) { "—" } }
                    }
                    (false, Some(v)) => {
                        td.n { (fmt_value(lang, v)) " " (u) }
                        td.n { (c.n.map(|n| lang.num(n.max(0) as u64)).unwrap_or_default()) }
                    }
                    (false, None) => {
                        td.n.missing { (lang.t("non calculable", "not computable")) }
                        td.n { (c.n.map(|n| lang.num(n.max(0) as u64)).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// A chart in a figure, with its caption and its figures as a table.
fn figure(lang: Lang, caption: &str, chart: Markup, data: &[Datum], u: &str) -> Markup {
    html! {
        figure.chart-box {
            figcaption { (caption) }
            (chart)
            details {
                summary { (lang.t("Les données du graphique (tableau)", "The chart's data (table)")) }
                table {
                    thead { tr {
                        th scope="col" { "" }
                        th scope="col" { (lang.t("Valeur", "Value")) }
                    } }
                    tbody {
                        @for d in data {
                            tr class=[d.suppressed.then_some("suppressed")] {
                                th scope="row" { (d.label) }
                                td.n {
                                    @match (d.suppressed, d.value) {
                                        (true, _) => { (secrecy(lang)) }
                                        (false, Some(v)) => { (fmt_value(lang, v)) " " (u) }
                                        (false, None) => { (lang.t("pas de données", "no data")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn datum(label: String, c: Option<&Published>) -> Datum {
    Datum {
        label,
        value: c.and_then(|c| c.value),
        suppressed: c.is_some_and(|c| c.suppressed),
    }
}

/// Bars per territory: one indicator's total at one period.
pub fn bars_per_territory(
    lang: Lang,
    def: &Definition,
    cells: &[Published],
    period: Period,
    territories: &[(&str, &str)],
) -> Markup {
    let data: Vec<Datum> = territories
        .iter()
        .map(|(id, name)| {
            let total = cells.iter().find(|c| {
                c.indicator == def.id
                    && c.territory == *id
                    && c.period == period
                    && c.breakdown.is_none()
            });
            datum(name.to_string(), total)
        })
        .collect();
    let u = unit(lang, &def.unit);
    let title = format!(
        "{} — {}, {period}",
        label(lang, def),
        lang.t("par territoire", "by territory")
    );
    let desc = describe(lang, &data, &u);
    let chart = bars(lang, "chart-territories", &title, &desc, &u, &data);
    figure(lang, &title, chart, &data, &u)
}

/// The periods a line shows for one indicator, territory and period: the
/// published periods within it at the indicator's finest granularity; if
/// fewer than two, every published period of its own granularity.
fn series(def: &Definition, cells: &[Published], territory: &str, period: Period) -> Vec<Period> {
    let mine = || {
        cells
            .iter()
            .filter(|c| c.indicator == def.id && c.territory == territory && c.breakdown.is_none())
    };
    let mut within: Vec<Period> = mine()
        .filter(|c| c.period != period && period.contains(c.period))
        .filter(|c| c.period.granularity() == def.granularity)
        .map(|c| c.period)
        .collect();
    if within.len() < 2 {
        within = mine()
            .filter(|c| c.period.granularity() == period.granularity())
            .map(|c| c.period)
            .collect();
    }
    within.sort();
    within.dedup();
    within
}

/// A line over periods: one indicator's total for one territory. `None`
/// when fewer than two periods are published.
pub fn line_over_periods(
    lang: Lang,
    def: &Definition,
    cells: &[Published],
    territory: (&str, &str),
    period: Period,
) -> Option<Markup> {
    let periods = series(def, cells, territory.0, period);
    if periods.len() < 2 {
        return None;
    }
    let data: Vec<Datum> = periods
        .iter()
        .map(|p| {
            let c = cells.iter().find(|c| {
                c.indicator == def.id
                    && c.territory == territory.0
                    && c.period == *p
                    && c.breakdown.is_none()
            });
            datum(p.to_string(), c)
        })
        .collect();
    let u = unit(lang, &def.unit);
    let title = format!(
        "{} — {}, {}",
        label(lang, def),
        territory.1,
        lang.t("au fil des périodes", "over periods")
    );
    let desc = describe(lang, &data, &u);
    let chart = line(lang, "chart-periods", &title, &desc, &u, &data);
    Some(figure(lang, &title, chart, &data, &u))
}

/// Bars per value of the breakdown (the total first): one indicator at one
/// territory and period.
fn bars_per_breakdown(
    lang: Lang,
    def: &Definition,
    at: &[&Published],
    territory: &str,
    period: Period,
    id: &str,
) -> Markup {
    let data: Vec<Datum> = at
        .iter()
        .map(|c| {
            let name = match &c.breakdown {
                Some(b) => b.clone(),
                None => lang.t("ensemble", "all").to_string(),
            };
            datum(name, Some(*c))
        })
        .collect();
    let u = unit(lang, &def.unit);
    let title = format!("{} — {territory}, {period}", label(lang, def));
    let desc = describe(lang, &data, &u);
    let chart = bars(lang, id, &title, &desc, &u, &data);
    figure(lang, &title, chart, &data, &u)
}

/// The chart's figures in one sentence, for its `desc`.
fn describe(lang: Lang, data: &[Datum], u: &str) -> String {
    data.iter()
        .map(|d| match (d.suppressed, d.value) {
            (true, _) => format!("{}{}{}", d.label, colon(lang), secrecy(lang)),
            (false, Some(v)) => format!("{}{}{} {u}", d.label, colon(lang), fmt_value(lang, v)),
            (false, None) => format!(
                "{}{}{}",
                d.label,
                colon(lang),
                lang.t("pas de données", "no data")
            ),
        })
        .collect::<Vec<_>>()
        .join(lang.t(" ; ", "; "))
}

/// The whole report of a territory and a period: every indicator's
/// definition in plain French, its table and its chart; one HTML file that
/// needs nothing else.
pub fn document(
    lang: Lang,
    defs: &[Definition],
    cells: &[Published],
    territory: (&str, &str),
    period: Period,
    generated: &str,
) -> Markup {
    let title = format!(
        "{} — {}, {period}",
        lang.t("Indicateurs", "Indicators"),
        territory.1
    );
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (title) }
                    p.hint { (lang.t("Rapport produit par Vivres le ", "Report made by Vivres on ")) (generated) "." }
                    p { (lang.t(
                        "Chaque indicateur est calculé sur l'entrepôt de Vivres à partir des données pseudonymisées des partenaires. « secret statistique » : la cellule repose sur trop peu de personnes (moins que le minimum de l'indicateur), ou permettrait de retrouver une cellule masquée ; sa valeur n'est pas publiée.",
                        "Each indicator is computed on Vivres' warehouse from the partners' pseudonymised data. \"Statistical secrecy\": the cell rests on too few people (fewer than the indicator's minimum), or would let a suppressed cell be recomputed; its value is not published.",
                    )) }
                    nav aria-label=(lang.t("Sommaire", "Contents")) {
                        ol { @for d in defs { li { a href={ "#ind-" (d.id) } { (label(lang, d)) } } } }
                    }
                    @for d in defs {
                        @let at = cells_at(cells, &d.id, territory.0, period);
                        section.indicator id={ "ind-" (d.id) } {
                            h2 { (label(lang, d)) }
                            p.hint { (theme(lang, d.theme)) " · " (lang.t("unité : ", "unit: ")) (unit(lang, &d.unit))
                                " · " (lang.t("minimum par cellule : ", "smallest cell: ")) (d.min_cell) }
                            p.definition lang="fr" { (d.description_fr) }
                            div.scroll {
                                table {
                                    caption { (label(lang, d)) " — " (territory.1) ", " (period) }
                                    (table_head(lang))
                                    tbody { (rows(lang, d, &at, None)) }
                                }
                            }
                            @if let Some(chart) = line_over_periods(lang, d, cells, territory, period) {
                                (chart)
                            } @else if !at.is_empty() {
                                (bars_per_breakdown(lang, d, &at, territory.1, period, &format!("chart-{}", d.id)))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every definition and every published cell of the warehouse (all
/// territories and periods), as `indicators::publish` computes them.
pub async fn published(
    config: &crate::config::Config,
    warehouse: &crate::warehouse::Warehouse,
) -> Result<(Vec<Definition>, Vec<Published>), crate::indicators::IndicatorError> {
    let defs = crate::indicators::load_dir(&config.hub.indicators_dir)?;
    let cells =
        crate::indicators::compute(warehouse, &defs, crate::indicators::QUERY_TIME_LIMIT).await?;
    Ok((defs, cells))
}

/// Today, for the report's footer.
pub fn today(lang: Lang) -> String {
    let d = time::OffsetDateTime::now_utc().date();
    match lang {
        Lang::Fr => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        Lang::En => format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
    }
}

/// The report of one territory and period, as HTML text.
pub async fn render(
    config: &crate::config::Config,
    warehouse: &crate::warehouse::Warehouse,
    territory: &str,
    period: Period,
    lang: Lang,
) -> Result<String, crate::indicators::IndicatorError> {
    let t = config.territory(territory).ok_or_else(|| {
        let known: Vec<&str> = config.territories.iter().map(|t| t.id.as_str()).collect();
        crate::indicators::IndicatorError::UnknownTerritory(territory.to_string(), known.join(", "))
    })?;
    let (defs, cells) = published(config, warehouse).await?;
    let cells: Vec<Published> = cells.into_iter().filter(|c| c.territory == t.id).collect();
    Ok(document(lang, &defs, &cells, (&t.id, &t.name), period, &today(lang)).into_string())
}

/// `vivres report --territory T --period P --out FILE`.
pub async fn run(
    config_path: &Path,
    territory: &str,
    period: &str,
    out: &Path,
) -> anyhow::Result<i32> {
    let period = Period::parse(period)?;
    let config = crate::config::Config::load(config_path)?;
    if config.territory(territory).is_none() {
        let known: Vec<&str> = config.territories.iter().map(|t| t.id.as_str()).collect();
        bail!(
            "unknown territory `{territory}` (known: {})",
            known.join(", ")
        );
    }
    let warehouse = crate::warehouse::Warehouse::open(&config.database_url()).await?;
    let html = render(&config, &warehouse, territory, period, Lang::Fr).await?;
    std::fs::write(out, &html).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "report of {territory} for {period} written to {} ({} KB)",
        out.display(),
        html.len() / 1024
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_each_language() {
        assert_eq!(fmt_value(Lang::Fr, 1234.56), "1\u{202f}234,6");
        assert_eq!(fmt_value(Lang::En, 1234.56), "1,234.6");
        assert_eq!(fmt_value(Lang::Fr, 12.0), "12");
        assert_eq!(fmt_value(Lang::Fr, -0.25), "-0,3");
    }
}
