//! Indicators: definitions as data, computed on the warehouse and published
//! with small-cell suppression.
//!
//! Each file `config/indicators/<id>.toml` defines one indicator (labels,
//! evaluation theme, unit, a plain-French description of the computation, its
//! query and its minimum cell size), so coordinators and evaluators add or
//! change one without recompiling. A definition is checked when loaded; an
//! invalid one is refused with its file, its field and the reason.
//!
//! The query's contract: it reads the warehouse only and returns, per
//! territory and period, the columns `territory`, `period`, `value` (a DOUBLE
//! PRECISION: PostgreSQL makes `100.0 * …` a NUMERIC, so cast it) and `n`,
//! the number of distinct households or people the value rests on (what
//! small-cell suppression compares to `min_cell`); a definition with a
//! `breakdown` also returns a `breakdown` column (a network, a channel…;
//! NULL on the row of all of them together). In the query:
//! - `{name}` stands for the number of `[parameters]` `name`;
//! - `{period(EXPR)}` for the period of a date, timestamp or `YYYY-MM` text:
//!   `YYYY-MM`, `YYYY-Qn` or `YYYY`, since the hub runs each query once per
//!   kind of period, from the definition's `granularity` up to the year (a
//!   distinct count per year is not the sum of the months');
//! - `{month(EXPR)}`, `{quarter(EXPR)}`, `{year(EXPR)}` for the month,
//!   quarter or year of EXPR whatever the kind of period: a query that
//!   names neither `{period(…)}` nor `{granularity}` runs once and returns
//!   every kind of period itself (work shared between them is done once);
//! - `{month_index(EXPR)}` for a month as a number (year × 12 + month − 1),
//!   to compare months ("the last 6 months");
//! - `{granularity}` for the kind of period being computed (`'month'`,
//!   `'quarter'` or `'year'`), to read the pre-aggregates
//!   `household_periods` and `product_periods` (one row per period of each
//!   kind, kept exact by every sync: see the data dictionary) with
//!   `WHERE granularity = {granularity}`: the households, channels and
//!   periods of a million order lines and distributions without reading
//!   them again.
//!
//! Queries run read-only with a time limit on both backends
//! (`warehouse/indicators.rs`); a test runs every shipped one on SQLite and
//! PostgreSQL with a hand-computed dataset.

pub mod format;
pub mod suppression;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::warehouse::Warehouse;

#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: field `{field}`: {reason}")]
    Invalid {
        file: String,
        field: String,
        reason: String,
    },
    #[error("indicator `{id}`: {source}")]
    Query {
        id: String,
        source: crate::warehouse::WarehouseError,
    },
    #[error("indicator `{id}`: the query returned the period `{period}`, not a {granularity}")]
    Period {
        id: String,
        period: String,
        granularity: &'static str,
    },
    #[error("indicator `{id}`: the query returned two rows for {territory} {period}{}", .breakdown.as_deref().map(|b| format!(" ({b})")).unwrap_or_default())]
    Duplicate {
        id: String,
        territory: String,
        period: String,
        breakdown: Option<String>,
    },
    #[error("unknown territory `{0}` (known: {1})")]
    UnknownTerritory(String, String),
    #[error("unknown indicator `{0}` (known: {1})")]
    UnknownIndicator(String, String),
    #[error(
        "`{0}` is not a period: expected a year (`2024`), a quarter (`2024-Q1`) or a month (`2024-03`)"
    )]
    BadPeriod(String),
}

/// The nine evaluation themes the partners co-constructed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Sécurité alimentaire.
    FoodSecurity,
    /// Pratiques alimentaires.
    DietaryPractices,
    /// Lien social.
    SocialTies,
    /// Soin, prendre soin.
    Care,
    /// Compétences.
    Skills,
    /// Insertion par l'activité économique.
    WorkIntegration,
    /// Pouvoir d'agir.
    Empowerment,
    /// Démocratie alimentaire.
    FoodDemocracy,
    /// Systèmes alimentaires territoriaux durables.
    SustainableFoodSystems,
}

/// The smallest number of people a published cell may rest on, unless a
/// definition says more.
pub const DEFAULT_MIN_CELL: u32 = 11;

fn default_min_cell() -> u32 {
    DEFAULT_MIN_CELL
}

/// The kinds of period an indicator is published for, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Month,
    Quarter,
    Year,
}

impl Granularity {
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Month => "month",
            Granularity::Quarter => "quarter",
            Granularity::Year => "year",
        }
    }

    /// This one and every coarser one.
    pub fn and_coarser(self) -> impl Iterator<Item = Granularity> {
        [Granularity::Month, Granularity::Quarter, Granularity::Year]
            .into_iter()
            .filter(move |g| *g >= self)
    }

    /// The SQL (SQLite and PostgreSQL alike) for the period of `expr`.
    fn period_sql(self, expr: &str) -> String {
        let text = format!("CAST(({expr}) AS TEXT)");
        match self {
            Granularity::Month => format!("substr({text}, 1, 7)"),
            Granularity::Quarter => format!(
                "(substr({text}, 1, 4) || '-Q' || CAST((CAST(substr({text}, 6, 2) AS INTEGER) + 2) / 3 AS TEXT))"
            ),
            Granularity::Year => format!("substr({text}, 1, 4)"),
        }
    }
}

fn month_index_sql(expr: &str) -> String {
    let text = format!("CAST(({expr}) AS TEXT)");
    format!(
        "(CAST(substr({text}, 1, 4) AS INTEGER) * 12 + CAST(substr({text}, 6, 2) AS INTEGER) - 1)"
    )
}

/// A year, a quarter or a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Year(i32),
    /// Year and quarter (1–4).
    Quarter(i32, u8),
    /// Year and month (1–12).
    Month(i32, u8),
}

impl Period {
    /// `2024`, `2024-Q1` or `2024-03`.
    pub fn parse(s: &str) -> Result<Period, IndicatorError> {
        let bad = || IndicatorError::BadPeriod(s.to_string());
        let year = |y: &str| -> Result<i32, IndicatorError> {
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) {
                y.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        match s.split_once('-') {
            None => Ok(Period::Year(year(s)?)),
            Some((y, rest)) => {
                let y = year(y)?;
                if let Some(q) = rest.strip_prefix('Q') {
                    match q.parse::<u8>() {
                        Ok(q @ 1..=4) if rest.len() == 2 => Ok(Period::Quarter(y, q)),
                        _ => Err(bad()),
                    }
                } else {
                    match rest.parse::<u8>() {
                        Ok(m @ 1..=12) if rest.len() == 2 => Ok(Period::Month(y, m)),
                        _ => Err(bad()),
                    }
                }
            }
        }
    }

    pub fn granularity(self) -> Granularity {
        match self {
            Period::Year(_) => Granularity::Year,
            Period::Quarter(..) => Granularity::Quarter,
            Period::Month(..) => Granularity::Month,
        }
    }

    /// The period that contains this one (a month's quarter, a quarter's year).
    pub fn parent(self) -> Option<Period> {
        match self {
            Period::Year(_) => None,
            Period::Quarter(y, _) => Some(Period::Year(y)),
            Period::Month(y, m) => Some(Period::Quarter(y, m.div_ceil(3))),
        }
    }

    pub fn year(self) -> i32 {
        match self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => y,
        }
    }

    /// Whether `other` lies within this period (or is it).
    pub fn contains(self, other: Period) -> bool {
        let mut p = Some(other);
        while let Some(q) = p {
            if q == self {
                return true;
            }
            p = q.parent();
        }
        false
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Year(y) => write!(f, "{y:04}"),
            Period::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
            Period::Month(y, m) => write!(f, "{y:04}-{m:02}"),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn default_granularity() -> Granularity {
    Granularity::Month
}

/// One indicator, as its file defines it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Lowercase letters, digits and `_`; the file's name without `.toml`.
    pub id: String,
    pub label_fr: String,
    pub label_en: String,
    pub theme: Theme,
    /// What `value` counts: `%`, `households`, `kg/household/month`, `€`…
    pub unit: String,
    /// The computation in plain French, for the partners.
    pub description_fr: String,
    /// The query (see the module's documentation for its contract).
    pub query: String,
    /// Cells resting on fewer people are suppressed (at least 1; default 11).
    #[serde(default = "default_min_cell")]
    pub min_cell: u32,
    /// Numbers the query names as `{name}` (e.g. `max_distance_km = 150`).
    #[serde(default)]
    pub parameters: BTreeMap<String, f64>,
    /// The finest period it is published for (`month`, `quarter`, `year`;
    /// default `month`): farm diagnostics describe a year.
    #[serde(default = "default_granularity")]
    pub granularity: Granularity,
    /// What the `breakdown` column names (`network`, `channel`…), if the
    /// query returns one.
    #[serde(default)]
    pub breakdown: Option<String>,
}

/// Words no indicator query may contain: it reads, and reads only.
const WRITES: [&str; 14] = [
    "insert", "update", "delete", "drop", "alter", "create", "attach", "detach", "pragma", "copy",
    "grant", "truncate", "vacuum", "merge",
];

impl Definition {
    /// The query for periods of `granularity`, its parameters,
    /// `{granularity}`, `{period(…)}` and `{month_index(…)}` in place.
    pub fn sql_at(&self, granularity: Granularity) -> String {
        let mut sql = self.query.clone();
        for (name, value) in &self.parameters {
            sql = sql.replace(&format!("{{{name}}}"), &value.to_string());
        }
        sql = sql.replace("{granularity}", &format!("'{}'", granularity.name()));
        for (open, expand) in [
            (
                "{period(",
                &(|e: &str| granularity.period_sql(e)) as &dyn Fn(&str) -> String,
            ),
            ("{month(", &|e: &str| Granularity::Month.period_sql(e)),
            ("{quarter(", &|e: &str| Granularity::Quarter.period_sql(e)),
            ("{year(", &|e: &str| Granularity::Year.period_sql(e)),
            ("{month_index(", &month_index_sql),
        ] {
            while let Some(start) = sql.find(open) {
                let Some(len) = sql[start..].find(")}") else {
                    break;
                };
                let expr = sql[start + open.len()..start + len].to_string();
                sql.replace_range(start..start + len + 2, &expand(&expr));
            }
        }
        sql
    }

    /// The query at the definition's finest period.
    pub fn sql(&self) -> String {
        self.sql_at(self.granularity)
    }

    /// Whether the query returns every kind of period itself (it names
    /// neither `{period(…)}` nor `{granularity}`): it runs once.
    pub fn runs_once(&self) -> bool {
        !self.query.contains("{period(") && !self.query.contains("{granularity}")
    }

    fn validate(&self, file: &str, stem: &str) -> Result<(), IndicatorError> {
        let invalid = |field: &str, reason: String| IndicatorError::Invalid {
            file: file.to_string(),
            field: field.to_string(),
            reason,
        };
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(
                "id",
                format!(
                    "`{}` is not an id (lowercase letters, digits, `_`)",
                    self.id
                ),
            ));
        }
        if self.id != stem {
            return Err(invalid(
                "id",
                format!("`{}` must be the file's name (`{stem}.toml`)", self.id),
            ));
        }
        for (field, text) in [
            ("label_fr", &self.label_fr),
            ("label_en", &self.label_en),
            ("unit", &self.unit),
            ("description_fr", &self.description_fr),
            ("query", &self.query),
        ] {
            if text.trim().is_empty() {
                return Err(invalid(field, "must not be empty".to_string()));
            }
        }
        if self.min_cell == 0 {
            return Err(invalid(
                "min_cell",
                "must be at least 1 (cells resting on fewer people are suppressed)".to_string(),
            ));
        }
        let query = self.query.trim().trim_end_matches(';').trim_end();
        let lower = query.to_ascii_lowercase();
        if !(lower.starts_with("select") || lower.starts_with("with")) {
            return Err(invalid(
                "query",
                "must be one SELECT (or WITH … SELECT) statement".to_string(),
            ));
        }
        if query.contains(';') {
            return Err(invalid(
                "query",
                "must be one statement (no `;` inside)".to_string(),
            ));
        }
        let words: Vec<&str> = lower
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        if let Some(w) = WRITES.iter().find(|w| words.contains(w)) {
            return Err(invalid(
                "query",
                format!("must only read the warehouse (`{w}` is not allowed)"),
            ));
        }
        if let Some(b) = &self.breakdown
            && (b.is_empty()
                || !b
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            return Err(invalid(
                "breakdown",
                format!("`{b}` is not a name (lowercase letters, digits, `_`)"),
            ));
        }
        for (name, value) in &self.parameters {
            if !value.is_finite() {
                return Err(invalid(
                    &format!("parameters.{name}"),
                    "must be a finite number".to_string(),
                ));
            }
            if !self.query.contains(&format!("{{{name}}}")) {
                return Err(invalid(
                    &format!("parameters.{name}"),
                    format!("the query does not use `{{{name}}}`"),
                ));
            }
        }
        // Every `{name}` left names a parameter the file does not define (or
        // a `{period(` without its `)}`).
        let sql = self.sql();
        if let Some(open) = [
            "{period(",
            "{month(",
            "{quarter(",
            "{year(",
            "{month_index(",
        ]
        .iter()
        .find(|o| sql.contains(*o))
        {
            return Err(invalid("query", format!("`{open}` has no closing `)}}`")));
        }
        if let Some(start) = sql.find('{') {
            let name: String = sql[start + 1..].chars().take_while(|c| *c != '}').collect();
            return Err(invalid(
                "query",
                format!(
                    "`{{{name}}}` is not a parameter of this definition (add it under [parameters])"
                ),
            ));
        }
        Ok(())
    }
}

/// Reads and checks one definition file.
pub fn load_file(path: &Path) -> Result<Definition, IndicatorError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| IndicatorError::Read {
        file: file.clone(),
        source,
    })?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| IndicatorError::Parse {
        file: file.clone(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let def: Definition = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.into_inner().message().to_string();
        IndicatorError::Invalid {
            file: file.clone(),
            // serde names the root `.`: the missing or unknown field is in the reason.
            field: if path == "." {
                reason.split('`').nth(1).map(str::to_string).unwrap_or(path)
            } else {
                path
            },
            reason,
        }
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    def.validate(&file, stem)?;
    Ok(def)
}

/// Every `*.toml` of a directory, sorted by id.
pub fn load_dir(dir: &Path) -> Result<Vec<Definition>, IndicatorError> {
    let read_err = |source| IndicatorError::Read {
        file: dir.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| load_file(p)).collect()
}

/// How long one query may run before it is stopped.
pub const QUERY_TIME_LIMIT: Duration = Duration::from_secs(60);

/// One published cell: an indicator's value for a territory, a period and
/// (for a breakdown) one of its values, with the people it rests on.
/// A suppressed cell carries neither value nor `n`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Published {
    pub indicator: String,
    pub label_fr: String,
    pub label_en: String,
    pub theme: Theme,
    pub unit: String,
    pub territory: String,
    /// `2024`, `2024-Q1` or `2024-03`.
    #[schema(value_type = String)]
    pub period: Period,
    /// What the breakdown names (`network`, `channel`…), if any.
    pub breakdown_by: Option<String>,
    /// The breakdown's value; `None` on the total.
    pub breakdown: Option<String>,
    pub value: Option<f64>,
    pub n: Option<i64>,
    pub suppressed: bool,
}

/// What a reader asks for; empty lists ask for everything (every year for
/// periods).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub territories: Vec<String>,
    pub periods: Vec<Period>,
    pub indicators: Vec<String>,
}

impl Request {
    /// A request from the words of the CLI or the API.
    pub fn parse(
        territories: Vec<String>,
        periods: &[String],
        indicators: Vec<String>,
    ) -> Result<Request, IndicatorError> {
        Ok(Request {
            territories,
            periods: periods
                .iter()
                .map(|p| Period::parse(p))
                .collect::<Result<_, _>>()?,
            indicators,
        })
    }
}

/// What `vivres indicators`, `GET /api/v1/indicators` and the demo publish:
/// the definitions of `[hub] indicators_dir` (read now, so a changed one
/// counts at once), computed on the warehouse and suppressed, then the
/// cells the request asks for.
pub async fn publish(
    config: &crate::config::Config,
    w: &Warehouse,
    req: &Request,
) -> Result<Vec<Published>, IndicatorError> {
    let known: Vec<&str> = config.territories.iter().map(|t| t.id.as_str()).collect();
    if let Some(t) = req
        .territories
        .iter()
        .find(|t| !known.contains(&t.as_str()))
    {
        return Err(IndicatorError::UnknownTerritory(
            t.clone(),
            known.join(", "),
        ));
    }
    let mut defs = load_dir(&config.hub.indicators_dir)?;
    if let Some(i) = req
        .indicators
        .iter()
        .find(|i| !defs.iter().any(|d| &&d.id == i))
    {
        let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
        return Err(IndicatorError::UnknownIndicator(i.clone(), ids.join(", ")));
    }
    if !req.indicators.is_empty() {
        defs.retain(|d| req.indicators.contains(&d.id));
    }
    let cells = compute(w, &defs, QUERY_TIME_LIMIT).await?;
    Ok(select(cells, &req.territories, &req.periods))
}

/// Every cell of each definition, for every territory and period the data
/// cover, suppressed by [`suppression`]: each query runs once per kind of
/// period (the definition's granularity up to the year), in one read-only
/// session per definition, under `limit`.
pub async fn compute(
    w: &Warehouse,
    defs: &[Definition],
    limit: Duration,
) -> Result<Vec<Published>, IndicatorError> {
    use futures::StreamExt as _;
    // Two at a time: the machine's cores, and PostgreSQL's pool.
    // Owned definitions: a future borrowing one from the iterator would not
    // be `Send` for every lifetime, which the API's handlers must be.
    let runs: Vec<_> = defs
        .iter()
        .cloned()
        .map(|d| async move { compute_one(w, &d, limit).await })
        .collect();
    let results: Vec<Result<Vec<Published>, IndicatorError>> =
        futures::stream::iter(runs).buffered(2).collect().await;
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

async fn compute_one(
    w: &Warehouse,
    def: &Definition,
    limit: Duration,
) -> Result<Vec<Published>, IndicatorError> {
    let once = def.runs_once();
    let granularities: Vec<Granularity> = if once {
        vec![def.granularity]
    } else {
        def.granularity.and_coarser().collect()
    };
    let queries: Vec<(String, bool)> = granularities
        .iter()
        .map(|g| (def.sql_at(*g), def.breakdown.is_some()))
        .collect();
    let results =
        w.indicator_cells(&queries, limit)
            .await
            .map_err(|source| IndicatorError::Query {
                id: def.id.clone(),
                source,
            })?;
    // Per territory: (period, breakdown) -> (value, n).
    type Cells = BTreeMap<(Period, Option<String>), (Option<f64>, i64)>;
    let mut by_territory: BTreeMap<String, Cells> = BTreeMap::new();
    for (g, rows) in granularities.iter().zip(results) {
        for row in rows {
            let period = Period::parse(&row.period)
                .ok()
                .filter(|p| p.granularity() == *g || (once && p.granularity() > *g))
                .ok_or_else(|| IndicatorError::Period {
                    id: def.id.clone(),
                    period: row.period.clone(),
                    granularity: match (once, g) {
                        (true, Granularity::Month) => "month, quarter or year",
                        (true, Granularity::Quarter) => "quarter or year",
                        _ => g.name(),
                    },
                })?;
            let cells = by_territory.entry(row.territory.clone()).or_default();
            let key = (period, row.breakdown.clone());
            if cells.contains_key(&key) {
                return Err(IndicatorError::Duplicate {
                    id: def.id.clone(),
                    territory: row.territory,
                    period: period.to_string(),
                    breakdown: row.breakdown,
                });
            }
            cells.insert(key, (row.value.filter(|v| v.is_finite()), row.n));
        }
    }
    let mut out = Vec::new();
    for (territory, cells) in by_territory {
        let mut grid: Vec<suppression::Cell> = cells
            .iter()
            .map(|((period, breakdown), (_, n))| suppression::Cell {
                period: *period,
                breakdown: breakdown.clone(),
                n: *n,
                suppressed: false,
            })
            .collect();
        suppression::suppress(&mut grid, def.min_cell);
        for (cell, (_, (value, n))) in grid.into_iter().zip(cells) {
            out.push(Published {
                indicator: def.id.clone(),
                label_fr: def.label_fr.clone(),
                label_en: def.label_en.clone(),
                theme: def.theme,
                unit: def.unit.clone(),
                territory: territory.clone(),
                period: cell.period,
                breakdown_by: def.breakdown.clone(),
                breakdown: cell.breakdown,
                value: if cell.suppressed { None } else { value },
                n: if cell.suppressed { None } else { Some(n) },
                suppressed: cell.suppressed,
            });
        }
    }
    Ok(out)
}

/// The cells a request asks for: of these territories (empty: all) and
/// these periods (empty: every year), in the order indicator, territory,
/// period, breakdown (the total first).
pub fn select(
    mut cells: Vec<Published>,
    territories: &[String],
    periods: &[Period],
) -> Vec<Published> {
    cells.retain(|c| {
        (territories.is_empty() || territories.contains(&c.territory))
            && if periods.is_empty() {
                c.period.granularity() == Granularity::Year
            } else {
                periods.contains(&c.period)
            }
    });
    cells.sort_by(|a, b| {
        (&a.indicator, &a.territory, a.period, &a.breakdown).cmp(&(
            &b.indicator,
            &b.territory,
            b.period,
            &b.breakdown,
        ))
    });
    cells
}

#[cfg(test)]
mod tests;
