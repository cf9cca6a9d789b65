//! Indicator definitions: data, not code. Each file `config/indicators/<id>.toml`
//! defines one indicator (labels, evaluation theme, unit, a plain-French
//! description of the computation, its query and its minimum cell size), so
//! coordinators and evaluators add or change one without recompiling. A
//! definition is checked when loaded; an invalid one is refused with its file,
//! its field and the reason.
//!
//! The query's contract: it reads the warehouse only and returns, per
//! territory and period, four columns in this order: `territory`, `period`
//! (`YYYY-MM`), `value` (a DOUBLE PRECISION: PostgreSQL makes `100.0 * …`
//! a NUMERIC, so cast it), and `n`, the number of distinct households or
//! people the value rests on (what small-cell suppression compares to
//! `min_cell`). A test runs every shipped query on SQLite and PostgreSQL.
//! `{name}` in the query stands for the number of `[parameters]` `name`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

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
}

/// The nine evaluation themes the partners co-constructed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Words no indicator query may contain: it reads, and reads only.
const WRITES: [&str; 14] = [
    "insert", "update", "delete", "drop", "alter", "create", "attach", "detach", "pragma", "copy",
    "grant", "truncate", "vacuum", "merge",
];

impl Definition {
    /// The query with its parameters in place.
    pub fn sql(&self) -> String {
        let mut sql = self.query.clone();
        for (name, value) in &self.parameters {
            sql = sql.replace(&format!("{{{name}}}"), &value.to_string());
        }
        sql
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
        // Every `{name}` left names a parameter the file does not define.
        let sql = self.sql();
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

#[cfg(test)]
mod tests;
