//! The IDEA4 method: its 53 indicators in 13 components and 3 dimensions
//! (`data/idea4.csv`, a copy of `shared/data/idea4.csv`), and the scores
//! exactly as partners §4 defines them.
//!
//! - an indicator's raw value is the sum of its items, except the special rules
//!   A1, A5 (calculator before 4.3.0), A7, A8 (calculator up to 4.3.0), A14, A19,
//!   B2 and B23;
//! - its score is that value rounded half up, bounded to `[0, max]`;
//! - a component is the sum of its indicators' scores bounded to `[0, max]`;
//! - a dimension is the sum of its components (out of 100); no overall score.
//!
//! Each calculator version exports its own list of items per indicator (a
//! 4.2.1 export holds 3 items for A15, 2 for A17 and B12, 2 for A8, 6 for B19;
//! 4.2.8 holds 4, 4, 3, 1 and 5), so an indicator is computed from the items
//! the file holds, never from an expected count (partners §"Rulings").
//!
//! Not assessed is never 0: an indicator is missing when one of its items is
//! not assessed (`""`, `null`), when the file holds none of its items, or when
//! its rule needs something the file does not give (a metadata value, or the
//! one item the rule takes: A7 with monogastrics is item 2); a missing
//! indicator makes its component and its dimension missing.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use vivres_sdk::model::{Score, ScoreLevel};

const IDEA4_CSV: &str = include_str!("../data/idea4.csv");

#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorDef {
    pub code: String,
    pub component: String,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComponentDef {
    pub code: String,
    pub dimension: String,
    pub max: f64,
}

/// The method's structure, in the order of `idea4.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub indicators: Vec<IndicatorDef>,
    pub components: Vec<ComponentDef>,
    pub dimensions: Vec<String>,
}

impl Method {
    /// The embedded method table. It is a compile-time constant checked by the
    /// tests, so a parse failure here is a build defect, reported as `None`.
    pub fn load() -> Option<Method> {
        let mut indicators = Vec::new();
        let mut components: Vec<ComponentDef> = Vec::new();
        let mut dimensions: Vec<String> = Vec::new();
        for line in IDEA4_CSV.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 7 {
                return None;
            }
            let (dimension, component, component_max, indicator, indicator_max) =
                (f[0], f[1], f[3], f[4], f[6]);
            let component_max: f64 = component_max.trim().parse().ok()?;
            let indicator_max: f64 = indicator_max.trim().parse().ok()?;
            if !dimensions.iter().any(|d| d == dimension) {
                dimensions.push(dimension.to_string());
            }
            if !components.iter().any(|c| c.code == component) {
                components.push(ComponentDef {
                    code: component.to_string(),
                    dimension: dimension.to_string(),
                    max: component_max,
                });
            }
            indicators.push(IndicatorDef {
                code: indicator.to_string(),
                component: component.to_string(),
                max: indicator_max,
            });
        }
        Some(Method {
            indicators,
            components,
            dimensions,
        })
    }

    pub fn indicator(&self, code: &str) -> Option<&IndicatorDef> {
        self.indicators.iter().find(|i| i.code == code)
    }
}

/// A calculator version, compared part by part (`4.2.10` < `4.3.0`).
#[derive(Debug, Clone)]
pub struct Version(pub Vec<u64>);

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Version {
    /// `4.2.8`, `v4.2.8`, `4.2.8-beta` (the leading digits of each part count).
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let mut parts = Vec::new();
        for part in s.split('.') {
            let digits: String = part
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if digits.is_empty() {
                break;
            }
            parts.push(digits.parse().ok()?);
            if digits.len() != part.trim().len() {
                break;
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(Version(parts))
        }
    }

    pub fn of(parts: &[u64]) -> Version {
        Version(parts.to_vec())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        for i in 0..n {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Livestock {
    None,
    Monogastrics,
    Herbivores,
}

/// `MTD_15` as the file gives it: a fraction (calculators before 4.2.5) or a
/// percentage (4.2.5 on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GrasslandShare {
    Fraction(f64),
    Percent(f64),
}

impl GrasslandShare {
    /// The file's value in the unit its calculator version writes.
    pub fn new(value: f64, version: &Version) -> GrasslandShare {
        if *version >= Version::of(&[4, 2, 5]) {
            GrasslandShare::Percent(value)
        } else {
            GrasslandShare::Fraction(value)
        }
    }

    /// Compared in the file's own unit, so that `75` (%) is exactly 0.75.
    fn at_least(self, fraction_hundredths: u32) -> bool {
        match self {
            GrasslandShare::Fraction(v) => v * 100.0 >= f64::from(fraction_hundredths) - 1e-9,
            GrasslandShare::Percent(v) => v >= f64::from(fraction_hundredths) - 1e-9,
        }
    }

    fn above(self, fraction_hundredths: u32) -> bool {
        match self {
            GrasslandShare::Fraction(v) => v * 100.0 > f64::from(fraction_hundredths) + 1e-9,
            GrasslandShare::Percent(v) => v > f64::from(fraction_hundredths) + 1e-9,
        }
    }
}

/// What the special rules depend on; `None` is "the file does not say".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Farm {
    pub version: Option<Version>,
    pub livestock: Option<Livestock>,
    pub grassland_share: Option<GrasslandShare>,
    pub pesticide_use: Option<bool>,
}

/// Items of the file: indicator code (`A1`) → item number → value (`None`: not assessed).
pub type Items = BTreeMap<String, BTreeMap<u32, Option<f64>>>;

/// Rounded half up: 2.5 → 3, -2.5 → -2. Tolerant of binary noise
/// (0.7 × 5 is 3.4999999999999996 in floating point, and is 3.5 here).
pub fn round_half_up(x: f64) -> f64 {
    (x + 0.5 + 1e-9).floor()
}

/// The raw value of an indicator from the items the file holds, all
/// assessed, or `None` when its rule needs something the file does not give.
fn raw_value(code: &str, items: &BTreeMap<u32, f64>, farm: &Farm) -> Option<f64> {
    let item = |n: u32| items.get(&n).copied();
    let sum: f64 = items.values().sum();
    let min = items.values().copied().reduce(f64::min);
    let v430 = Version::of(&[4, 3, 0]);
    match code {
        // Without an item 2 (not in that calculator's export), item 2 is not 4.
        "A1" => Some(if item(2) == Some(4.0) { 4.0 } else { sum }),
        "A5" => {
            if *farm.version.as_ref()? < v430 {
                Some(if farm.grassland_share?.at_least(75) {
                    5.0
                } else {
                    sum
                })
            } else {
                Some(sum)
            }
        }
        "A7" => match farm.livestock? {
            Livestock::None => Some(0.0),
            Livestock::Monogastrics => item(2),
            Livestock::Herbivores => Some(round_half_up(0.7 * item(1)? + 0.3 * item(2)?)),
        },
        "A8" => {
            if *farm.version.as_ref()? <= v430 {
                Some(if farm.grassland_share?.above(95) {
                    8.0
                } else {
                    sum
                })
            } else {
                Some(sum)
            }
        }
        "A14" => {
            if !farm.pesticide_use? {
                Some(4.0)
            } else if farm.livestock? == Livestock::None {
                item(1)
            } else {
                min
            }
        }
        "A19" => {
            if farm.livestock? == Livestock::None {
                item(1)
            } else {
                min
            }
        }
        "B2" => {
            if farm.livestock? == Livestock::None {
                item(2)
            } else {
                item(1)
            }
        }
        "B23" => {
            if farm.livestock? == Livestock::None {
                item(2)
            } else if items.is_empty() {
                None
            } else {
                Some(round_half_up(sum / items.len() as f64))
            }
        }
        _ => Some(sum),
    }
}

fn bounded(v: f64, max: f64) -> f64 {
    v.clamp(0.0, max)
}

/// Every score of a diagnostic: items (those the file holds, as it codes
/// them, in indicator order), then indicators, components and dimensions.
pub fn scores(method: &Method, items: &Items, farm: &Farm) -> Vec<Score> {
    let mut out = Vec::new();
    // Items.
    for ind in &method.indicators {
        for (n, value) in items.get(&ind.code).into_iter().flatten() {
            out.push(Score {
                level: ScoreLevel::Item,
                code: item_code(&ind.code, *n),
                value: *value,
                max: None,
            });
        }
    }
    // Indicators.
    let mut indicator_scores: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for ind in &method.indicators {
        let value = indicator_score(ind, items.get(&ind.code), farm);
        indicator_scores.insert(ind.code.as_str(), value);
        out.push(Score {
            level: ScoreLevel::Indicator,
            code: ind.code.clone(),
            value,
            max: Some(ind.max),
        });
    }
    // Components.
    let mut component_scores: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for comp in &method.components {
        let value = method
            .indicators
            .iter()
            .filter(|i| i.component == comp.code)
            .map(|i| indicator_scores.get(i.code.as_str()).copied().flatten())
            .sum::<Option<f64>>()
            .map(|s| bounded(s, comp.max));
        component_scores.insert(comp.code.as_str(), value);
        out.push(Score {
            level: ScoreLevel::Component,
            code: comp.code.clone(),
            value,
            max: Some(comp.max),
        });
    }
    // Dimensions.
    for dim in &method.dimensions {
        let comps = method.components.iter().filter(|c| &c.dimension == dim);
        let max: f64 = comps.clone().map(|c| c.max).sum();
        let value = comps
            .map(|c| component_scores.get(c.code.as_str()).copied().flatten())
            .sum::<Option<f64>>();
        out.push(Score {
            level: ScoreLevel::Dimension,
            code: dim.clone(),
            value,
            max: Some(max),
        });
    }
    out
}

/// One indicator's score from the items the file holds (`given`), `None`
/// when not assessed: no item at all, or any item blank or null.
pub fn indicator_score(
    ind: &IndicatorDef,
    given: Option<&BTreeMap<u32, Option<f64>>>,
    farm: &Farm,
) -> Option<f64> {
    let assessed: BTreeMap<u32, f64> = given?
        .iter()
        .map(|(n, v)| v.map(|v| (*n, v)))
        .collect::<Option<_>>()?;
    if assessed.is_empty() {
        return None;
    }
    let raw = raw_value(&ind.code, &assessed, farm)?;
    Some(bounded(round_half_up(raw), ind.max))
}

/// `IDEA_A01_1` for indicator `A1`, item 1.
pub fn item_code(indicator: &str, item: u32) -> String {
    let (dim, num) = indicator.split_at(1);
    let num: u32 = num.parse().unwrap_or(0);
    format!("IDEA_{dim}{num:02}_{item}")
}

/// `IDEA_A01_1` → (`A1`, 1); `None` for any other key.
pub fn parse_item_code(key: &str) -> Option<(String, u32)> {
    let rest = key.trim().strip_prefix("IDEA_")?;
    let (ind, item) = rest.split_once('_')?;
    let mut chars = ind.chars();
    let dim = chars.next()?.to_ascii_uppercase();
    if !matches!(dim, 'A' | 'B' | 'C') {
        return None;
    }
    let num = chars.as_str();
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if item.is_empty() || !item.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num: u32 = num.parse().ok()?;
    let item: u32 = item.parse().ok()?;
    Some((format!("{dim}{num}"), item))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn method() -> Method {
        Method::load().expect("embedded idea4.csv")
    }

    #[test]
    fn the_method_table() {
        let m = method();
        assert_eq!(m.indicators.len(), 53);
        assert_eq!(m.components.len(), 13);
        assert_eq!(m.dimensions, ["A", "B", "C"]);
        for d in &m.dimensions {
            let total: f64 = m
                .components
                .iter()
                .filter(|c| &c.dimension == d)
                .map(|c| c.max)
                .sum();
            assert_eq!(total, 100.0, "{d}");
        }
        assert_eq!(m.indicator("C1").map(|i| i.max), Some(20.0));
        assert_eq!(m.indicator("A14").map(|i| i.max), Some(4.0));
    }

    #[test]
    fn versions_compare_part_by_part() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("4.2.10") < v("4.3.0"));
        assert!(v("4.2.8") < v("4.2.10"));
        assert!(v("4.3") == v("4.3.0"));
        assert!(v("4.2.5") >= Version::of(&[4, 2, 5]));
        assert!(v("v4.3.1-beta") > v("4.3.0"));
        assert_eq!(Version::parse("abc"), None);
    }

    #[test]
    fn rounding_half_up() {
        assert_eq!(round_half_up(2.5), 3.0);
        assert_eq!(round_half_up(2.4999), 2.0);
        assert_eq!(round_half_up(0.7 * 5.0), 4.0);
        assert_eq!(round_half_up(-2.5), -2.0);
    }

    #[test]
    fn item_codes() {
        assert_eq!(parse_item_code("IDEA_A01_1"), Some(("A1".into(), 1)));
        assert_eq!(parse_item_code("IDEA_B23_2"), Some(("B23".into(), 2)));
        assert_eq!(parse_item_code("IDEA_D01_1"), None);
        assert_eq!(parse_item_code("MTD_01"), None);
        assert_eq!(item_code("A1", 1), "IDEA_A01_1");
        assert_eq!(item_code("C11", 1), "IDEA_C11_1");
    }
}
