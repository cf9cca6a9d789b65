//! CIVAM farm diagnostics (partners §4), read by the `civam-diagnostics`
//! connector: one IDEA4 calculator export `idea4_<farm id>.json` per farm and
//! the farm register `fermes.csv`.
//!
//! The JSON files cycle through both shapes (one-element arrays, scalars),
//! numbers as strings (some with a decimal comma), calculator versions on both
//! sides of 4.2.5 (grassland share as a fraction or a percentage) and of 4.3.0
//! (A5, A8), each version with its own item list (a 4.2.1 export holds 2 items
//! for A8, 3 for A15, 2 for A17, 3 for B1, 2 for B12 and 6 for B19, and writes
//! `MTD_11` as `69 - Rhône` and `MTD_13` as a number, as the real one published
//! with IDEATools does), every livestock value (`0`, `1`, `2`,
//! `1 - monogastrique`, …), with and without pesticide use, shares that
//! trigger A5 and A8, `A1` item 2 at 4, survey years `2023` and `2022-2023`,
//! items not assessed (`""`, `null`) and items absent from the file (the
//! indicator is computed from the items it holds). One file is not valid JSON
//! (`malformed_file`), and one farm's file is re-sent corrected under the same
//! name (in `resend/`, last in `files`). Expected scores are computed here
//! independently of the connector.
//!
//! `fermes.csv`: UTF-8 with BOM, `;`, CRLF, a postcode without its leading
//! zero, a postcode with a space, a quoted name with `;`, trailing `;`, blank
//! lines, a repeated header, a farm listed twice (the later line wins), and
//! invalid rows: a postcode that cannot be cleaned (`unknown_postcode`, `CP`),
//! a non-French postcode (hub: `unknown_postcode`, `location.postcode`), an
//! ambiguous commune alone (hub: `unresolved_location`, `location.commune`), an
//! unknown O/N (`unknown_label`), an empty identifier (`missing_required`).
//!
//! Counting: each JSON file is one row (the re-sent one too); `stored` has
//! `diagnostics` (distinct farm × survey year) and `sites`; `quarantined`
//! counts every reject of reading all `files` in order.
//! Diagnostic rows (`line` 1) give `farm`, `survey_year`, `method`,
//! `method_version`, `departement` and, from the `scores` column, `items`,
//! `indicators`, `components` and `dimensions`: code → value (null = not
//! assessed).

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::{ExpectedRow, FileSet, Outcome};
use crate::Territory;

const IDEA4_CSV: &str = include_str!("../../../hub/data/idea4.csv");

/// Items per indicator, as calculators 4.2.4 on export them (119 items).
const ITEMS: [u32; 53] = [
    2, 3, 1, 2, 3, 3, 2, 1, 1, 1, 1, 3, 3, 2, 4, 3, 4, 1, 2, // A1–A19
    2, 2, 3, 1, 3, 2, 3, 3, 3, 4, 3, 3, 2, 3, 2, 4, 3, 3, 5, 2, 1, 2, 2, // B1–B23
    2, 1, 1, 2, 3, 1, 1, 1, 2, 1, 1, // C1–C11
];

/// Items per indicator in a 4.2.1 export (118 items): A8, A15, A17, B1, B12
/// and B19 differ.
const ITEMS_4_2_1: [u32; 53] = [
    2, 3, 1, 2, 3, 3, 2, 2, 1, 1, 1, 3, 3, 2, 3, 3, 2, 1, 2, // A1–A19
    3, 2, 3, 1, 3, 2, 3, 3, 3, 4, 3, 2, 2, 3, 2, 4, 3, 3, 6, 2, 1, 2, 2, // B1–B23
    2, 1, 1, 2, 3, 1, 1, 1, 2, 1, 1, // C1–C11
];

/// The item list of a calculator version's exports.
fn layout(version: [u64; 3]) -> &'static [u32; 53] {
    if version_lt(&version, &[4, 2, 4]) {
        &ITEMS_4_2_1
    } else {
        &ITEMS
    }
}

struct Ind {
    code: String,
    component: String,
    dimension: String,
    max: f64,
    component_max: f64,
}

fn method() -> Vec<Ind> {
    IDEA4_CSV
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Ind {
                code: f[4].into(),
                component: f[1].into(),
                dimension: f[0].into(),
                max: f[6].parse().unwrap_or(0.0),
                component_max: f[3].parse().unwrap_or(0.0),
            }
        })
        .collect()
}

fn item_code(ind: &str, n: u32) -> String {
    let (d, num) = ind.split_at(1);
    format!("IDEA_{d}{:02}_{n}", num.parse::<u32>().unwrap_or(0))
}

fn half_up(x: f64) -> f64 {
    (x + 0.5 + 1e-9).floor()
}

fn version_lt(a: &[u64], b: &[u64]) -> bool {
    a < b
}

/// What one farm's file says.
#[derive(Clone)]
struct Farm {
    id: String,
    version: [u64; 3],
    year: &'static str,
    livestock: u8,
    livestock_text: Value,
    /// As a fraction; written as a percentage from 4.2.5 on.
    share_pct: u32,
    pesticide: bool,
    /// Indicator → item values (None: not assessed).
    items: BTreeMap<String, Vec<Option<i64>>>,
    /// Items left out of the file entirely (absent).
    absent: Vec<String>,
    arrays: bool,
    strings: bool,
}

impl Farm {
    fn version_text(&self) -> String {
        format!(
            "{}.{}.{}",
            self.version[0], self.version[1], self.version[2]
        )
    }

    fn share_value(&self) -> Value {
        if !version_lt(&self.version, &[4, 2, 5]) {
            json!(self.share_pct)
        } else {
            json!(f64::from(self.share_pct) / 100.0)
        }
    }

    fn wrap(&self, v: Value) -> Value {
        let v = match (&v, self.strings) {
            (Value::Number(n), true) => Value::String(n.to_string().replace('.', ",")),
            _ => v,
        };
        if self.arrays { json!([v]) } else { v }
    }

    /// Exported as calculator 4.2.1 does: `MTD_11` as `69 - Rhône`, a numeric
    /// survey year as a number.
    fn writes_like_4_2_1(&self) -> bool {
        version_lt(&self.version, &[4, 2, 4])
    }

    fn json(&self) -> Value {
        let old = self.writes_like_4_2_1();
        let mut meta = Map::new();
        let mut put = |k: &str, v: Value| {
            meta.insert(k.to_string(), self.wrap(v));
        };
        put("MTD_00", json!(self.version_text()));
        put("MTD_01", json!(self.id));
        put("MTD_02", json!(25.6));
        put("MTD_03", json!(2));
        put("MTD_06", json!("2800 - Maraîchage et champignon"));
        put("MTD_11", json!(if old { "69 - Rhône" } else { "69" }));
        match self.year.parse::<u32>() {
            Ok(y) if old => put("MTD_13", json!(y)),
            _ => put("MTD_13", json!(self.year)),
        }
        put("MTD_14", self.livestock_text.clone());
        put("MTD_15", self.share_value());
        put("MTD_16", json!(if self.pesticide { "1" } else { "0" }));
        let mut items = Map::new();
        for (ind, values) in &self.items {
            for (i, v) in values.iter().enumerate() {
                let code = item_code(ind, i as u32 + 1);
                if self.absent.contains(&code) {
                    continue;
                }
                let value = match v {
                    Some(n) => self.wrap(json!(n)),
                    None if i % 2 == 0 => self.wrap(json!("")),
                    None => Value::Null,
                };
                items.insert(code, value);
            }
        }
        json!({"metadonnees": meta, "items": items})
    }

    /// The items the file holds of indicator `ind`: item number → value
    /// (`None`: not assessed).
    fn held(&self, ind: &str) -> BTreeMap<u32, Option<f64>> {
        self.items[ind]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 + 1, v.map(|n| n as f64)))
            .filter(|(n, _)| !self.absent.contains(&item_code(ind, *n)))
            .collect()
    }

    /// Item scores: code → value, for the items the file holds.
    fn expected_items(&self) -> Value {
        let mut out = Map::new();
        for ind in self.items.keys() {
            for (n, v) in self.held(ind) {
                out.insert(item_code(ind, n), json!(v));
            }
        }
        Value::Object(out)
    }

    /// Indicator, component and dimension scores, as §4 defines them: each
    /// indicator from the items the file holds, missing when one of them is
    /// not assessed or the file holds none.
    fn expected(&self, m: &[Ind]) -> (Value, Value, Value) {
        let share_at_least = |pct: u32| self.share_pct >= pct;
        let mut inds: BTreeMap<String, Option<f64>> = BTreeMap::new();
        let mut ordered = Vec::new();
        for ind in m {
            let held: Option<BTreeMap<u32, f64>> = self
                .held(&ind.code)
                .into_iter()
                .map(|(n, v)| v.map(|v| (n, v)))
                .collect();
            let score = held.filter(|h| !h.is_empty()).and_then(|h| {
                let item = |n: u32| h.get(&n).copied();
                let sum: f64 = h.values().sum();
                let min = h.values().copied().fold(f64::INFINITY, f64::min);
                let raw = match ind.code.as_str() {
                    "A1" if item(2) == Some(4.0) => 4.0,
                    "A5" if version_lt(&self.version, &[4, 3, 0]) && share_at_least(75) => 5.0,
                    "A7" => match self.livestock {
                        0 => 0.0,
                        1 => item(2)?,
                        _ => half_up(0.7 * item(1)? + 0.3 * item(2)?),
                    },
                    "A8" if !version_lt(&[4, 3, 0], &self.version) && self.share_pct > 95 => 8.0,
                    "A14" if !self.pesticide => 4.0,
                    "A14" | "A19" if self.livestock == 0 => item(1)?,
                    "A14" | "A19" => min,
                    "B2" if self.livestock == 0 => item(2)?,
                    "B2" => item(1)?,
                    "B23" if self.livestock == 0 => item(2)?,
                    "B23" => half_up(sum / h.len() as f64),
                    _ => sum,
                };
                Some(half_up(raw).clamp(0.0, ind.max))
            });
            inds.insert(ind.code.clone(), score);
            ordered.push(ind);
        }
        let mut comps: BTreeMap<String, Option<f64>> = BTreeMap::new();
        let mut dims: BTreeMap<String, Option<f64>> = BTreeMap::new();
        let mut comp_order: Vec<(String, String, f64)> = Vec::new();
        for ind in &ordered {
            if !comp_order.iter().any(|c| c.0 == ind.component) {
                comp_order.push((
                    ind.component.clone(),
                    ind.dimension.clone(),
                    ind.component_max,
                ));
            }
        }
        for (c, d, max) in &comp_order {
            let v = ordered
                .iter()
                .filter(|i| &i.component == c)
                .map(|i| inds[&i.code])
                .sum::<Option<f64>>()
                .map(|s| s.clamp(0.0, *max));
            comps.insert(c.clone(), v);
            let e = dims.entry(d.clone()).or_insert(Some(0.0));
            *e = e.and_then(|acc| v.map(|v| acc + v));
        }
        (json!(inds), json!(comps), json!(dims))
    }
}

fn farm(rng: &mut ChaCha8Rng, m: &[Ind], i: usize, id: String) -> Farm {
    const VERSIONS: [[u64; 3]; 6] = [
        [4, 2, 4],
        [4, 2, 8],
        [4, 2, 1],
        [4, 2, 10],
        [4, 3, 0],
        [4, 3, 1],
    ];
    // Shifted every six farms, so that each version meets each quirk below.
    let version = VERSIONS[(i + i / 6) % VERSIONS.len()];
    let livestock_forms: [(u8, Value); 6] = [
        (0, json!("0")),
        (1, json!("1")),
        (2, json!("2")),
        (1, json!("1 - monogastrique")),
        (2, json!("2 - herbivore")),
        (0, json!(0)),
    ];
    let (livestock, livestock_text) = livestock_forms[i % livestock_forms.len()].clone();
    let share_pct = [97, 80, 40, 96, 75, 95, 10][i % 7];
    let mut items = BTreeMap::new();
    for (ind, n) in m.iter().zip(layout(version)) {
        let values: Vec<Option<i64>> = (0..*n)
            .map(|_| {
                Some(
                    rng.random_range(-1..=(ind.max as i64 / 2).max(1) + 1)
                        .max(0),
                )
            })
            .collect();
        items.insert(ind.code.clone(), values);
    }
    // A1 item 2 at 4 for every third farm; a negative item now and then.
    if i % 3 == 0
        && let Some(a1) = items.get_mut("A1")
    {
        a1[1] = Some(4);
    }
    if i % 4 == 1
        && let Some(last) = items.get_mut("A15").and_then(|a15| a15.last_mut())
    {
        *last = Some(-2);
    }
    // Herbivores with A7 items giving an exact half (0.7 × 5 = 3.5 → 4).
    if i % 5 == 2
        && let Some(a7) = items.get_mut("A7")
    {
        a7[0] = Some(5);
        a7[1] = Some(0);
    }
    let mut absent = Vec::new();
    match i % 6 {
        4 => {
            // Not assessed: a blank or null item.
            let ind = &m[rng.random_range(0..m.len())];
            if let Some(v) = items.get_mut(&ind.code) {
                v[0] = None;
            }
        }
        5 => {
            // An item the file does not hold: its indicator is computed from
            // the others (missing when it had no other).
            let ind = &m[rng.random_range(0..m.len())];
            let n = items.get(&ind.code).map_or(1, Vec::len) as u32;
            absent.push(item_code(&ind.code, n));
        }
        _ => {}
    }
    let old = version_lt(&version, &[4, 2, 4]);
    Farm {
        id,
        version,
        year: if i % 4 == 3 { "2022-2023" } else { "2023" },
        livestock,
        livestock_text,
        share_pct,
        pesticide: i % 3 != 2,
        items,
        absent,
        // The 4.2.1 exporter writes scalars, numbers as numbers.
        arrays: !old && i % 2 == 0,
        strings: !old && i % 3 == 0,
    }
}

fn diagnostic_row(f: &Farm, m: &[Ind], file: &str) -> ExpectedRow {
    let (indicators, components, dimensions) = f.expected(m);
    let mut values = BTreeMap::new();
    values.insert("farm".into(), json!(f.id));
    values.insert("survey_year".into(), json!(f.year));
    values.insert("method".into(), json!("IDEA4"));
    values.insert("method_version".into(), json!(f.version_text()));
    values.insert("departement".into(), json!("69"));
    values.insert("items".into(), f.expected_items());
    values.insert("indicators".into(), indicators);
    values.insert("components".into(), components);
    values.insert("dimensions".into(), dimensions);
    ExpectedRow {
        file: file.into(),
        line: 1,
        outcome: Outcome::Stored {
            table: "diagnostics".into(),
            key: format!("{}/{}", f.id, f.year),
            values,
        },
    }
}

const REGISTER_HEADER: &str =
    "Identifiant;Nom;SIRET;CP;Commune;Groupe CIVAM;Vente en circuit court (O/N)";

pub fn write(out: &Path, seed: u64, size: usize) -> anyhow::Result<FileSet> {
    write_in(out, seed, size, Territory::Lyon)
}

/// The same files for farms in `territory`'s communes (the row-level
/// expectations describe Lyon's).
pub fn write_in(
    out: &Path,
    seed: u64,
    size: usize,
    territory: Territory,
) -> anyhow::Result<FileSet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC1_7A11);
    let m = method();
    anyhow::ensure!(m.len() == 53, "idea4.csv: 53 indicators expected");
    let n = size.clamp(14, 10_000);
    let base = 100_000 + (seed % 800_000) as usize;
    let ids: Vec<String> = (0..n).map(|i| (base + i * 7).to_string()).collect();
    let mut set = FileSet {
        connector: "civam-diagnostics".into(),
        ..FileSet::default()
    };

    // Diagnostics.
    let mut farms = Vec::new();
    let mut final_rows: BTreeMap<String, ExpectedRow> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let f = farm(&mut rng, &m, i, id.clone());
        let name = format!("idea4_{id}.json");
        let path = out.join(&name);
        let body = if i % 2 == 0 {
            serde_json::to_vec_pretty(&f.json())?
        } else {
            serde_json::to_vec(&f.json())?
        };
        std::fs::write(&path, body)?;
        set.files.push(path);
        set.rows_total += 1;
        final_rows.insert(name.clone(), diagnostic_row(&f, &m, &name));
        farms.push(f);
    }
    // Not valid JSON: a truncated export.
    let broken = format!("idea4_{}.json", base + n * 7);
    let full = serde_json::to_vec(&farms[0].json())?;
    std::fs::write(out.join(&broken), &full[..full.len() / 2])?;
    set.files.push(out.join(&broken));
    set.rows_total += 1;
    *set.quarantined.entry("malformed_file".into()).or_default() += 1;
    final_rows.insert(
        broken.clone(),
        ExpectedRow {
            file: broken,
            line: 1,
            outcome: Outcome::Quarantined {
                reason: "malformed_file".into(),
                field: "file".into(),
            },
        },
    );

    // Farm register.
    let inside = crate::places::inside(territory);
    let mut lines: Vec<(String, Option<Outcome>)> = vec![(REGISTER_HEADER.into(), None)];
    let mut sites: BTreeMap<String, usize> = BTreeMap::new();
    let groups = ["CIVAM du Rhône", "CIVAM 01", "Groupe Monts du Lyonnais"];
    for (i, id) in ids.iter().enumerate() {
        let (mut cp, commune) = inside[i % inside.len()];
        let mut cp_text = cp.to_string();
        if i % 9 == 4 {
            (cp, cp_text) = ("01000", "1000".into());
        } else if i % 9 == 6 {
            cp_text = format!("{} {}", &cp[..2], &cp[2..]);
        }
        let commune = if cp == "01000" {
            "Bourg-en-Bresse"
        } else {
            commune
        };
        let name = if i % 8 == 3 {
            format!("\"GAEC des Tilleuls; ferme {i}\"")
        } else {
            format!("Ferme n°{i} des Prés")
        };
        let shown_name = name.trim_matches('"').to_string();
        let siret = format!("{} {} {} {:05}", 400 + i % 500, 123, 456, i);
        let on = if i % 2 == 0 { "O" } else { "n" };
        let group = groups[i % groups.len()];
        let trailing = if i % 5 == 0 { ";" } else { "" };
        let mut values = BTreeMap::new();
        values.insert("kind".into(), json!("farm"));
        values.insert("name".into(), json!(shown_name));
        values.insert("location_postcode".into(), json!(cp));
        values.insert("site_group".into(), json!(group));
        values.insert("short_circuit".into(), json!(i % 2 == 0));
        values.insert("siret".into(), json!(siret.replace(' ', "")));
        let text = format!("{id};{name};{siret};{cp_text};{commune};{group};{on}{trailing}");
        sites.insert(id.clone(), lines.len());
        lines.push((
            text,
            Some(Outcome::Stored {
                table: "sites".into(),
                key: id.clone(),
                values,
            }),
        ));
        if i % 7 == 2 {
            lines.push((String::new(), None));
        }
        if i % 11 == 5 {
            lines.push((";;;;;;".into(), None));
        }
        if i == n / 2 {
            lines.push((REGISTER_HEADER.into(), None));
        }
    }
    // The first farm again (a re-export): the later line wins.
    let again = sites.get(&ids[0]).and_then(|&l| lines.get(l).cloned());
    if let Some((
        text,
        Some(Outcome::Stored {
            table,
            key,
            mut values,
        }),
    )) = again
    {
        let text = text.replace(";O", ";N").replace(";n", ";N");
        values.insert("short_circuit".into(), json!(false));
        if let Some(&first) = sites.get(&ids[0]) {
            lines[first].1 = Some(Outcome::Stored {
                table: table.clone(),
                key: key.clone(),
                values: values.clone(),
            });
        }
        lines.push((text, Some(Outcome::Stored { table, key, values })));
    }
    let extra = base + n * 7 + 7;
    let bad = |reason: &str, field: &str| {
        Some(Outcome::Quarantined {
            reason: reason.into(),
            field: field.into(),
        })
    };
    lines.push((
        format!("{extra};Ferme A;;690;Lyon;G;O"),
        bad("unknown_postcode", "CP"),
    ));
    lines.push((
        format!("{};Ferme B;;99999;Nulle-Part;G;O", extra + 1),
        bad("unknown_postcode", "location.postcode"),
    ));
    lines.push((
        format!("{};Ferme C;;;Saint-Denis;G;O", extra + 2),
        bad("unresolved_location", "location.commune"),
    ));
    lines.push((
        format!("{};Ferme D;;69001;Lyon;G;peut-être", extra + 3),
        bad("unknown_label", "Vente en circuit court (O/N)"),
    ));
    lines.push((
        "; Ferme E;;69001;Lyon;G;O".into(),
        bad("missing_required", "Identifiant"),
    ));
    let mut body = b"\xEF\xBB\xBF".to_vec();
    for (text, _) in &lines {
        body.extend_from_slice(text.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    let register = out.join("fermes.csv");
    std::fs::write(&register, body)?;
    set.files.push(register);
    let mut register_rows = Vec::new();
    for (i, (_, outcome)) in lines.iter().enumerate() {
        if let Some(outcome) = outcome {
            set.rows_total += 1;
            if let Outcome::Quarantined { reason, .. } = outcome {
                *set.quarantined.entry(reason.clone()).or_default() += 1;
            }
            register_rows.push(ExpectedRow {
                file: "fermes.csv".into(),
                line: i as u64 + 1,
                outcome: outcome.clone(),
            });
        }
    }
    set.stored.insert("sites".into(), sites.len());

    // A corrected re-send of one farm's export, under the same name.
    let k = 1.min(farms.len() - 1);
    let mut corrected = farms[k].clone();
    if let Some(b1) = corrected.items.get_mut("B1") {
        b1[0] = Some(b1[0].unwrap_or(0) + 1);
    }
    if let Some(c10) = corrected.items.get_mut("C10") {
        c10[0] = Some(3);
    }
    let name = format!("idea4_{}.json", corrected.id);
    std::fs::create_dir_all(out.join("resend"))?;
    let path = out.join("resend").join(&name);
    std::fs::write(&path, serde_json::to_vec_pretty(&corrected.json())?)?;
    set.files.push(path);
    set.rows_total += 1;
    final_rows.insert(name.clone(), diagnostic_row(&corrected, &m, &name));

    let keys: std::collections::BTreeSet<String> = farms
        .iter()
        .map(|f| format!("{}/{}", f.id, f.year))
        .collect();
    set.stored.insert("diagnostics".into(), keys.len());
    set.rows = final_rows.into_values().chain(register_rows).collect();
    set.raw_person_values = Vec::new();
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("vivres-sim-civam-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn deterministic_and_consistent() {
        let (a, b) = (tmp("a"), tmp("b"));
        let sa = write(&a, 3, 30).unwrap();
        let sb = write(&b, 3, 30).unwrap();
        assert_eq!(sa.files.len(), sb.files.len());
        for (fa, fb) in sa.files.iter().zip(&sb.files) {
            assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        }
        assert_eq!(sa.stored["diagnostics"], 30);
        assert_eq!(sa.quarantined["malformed_file"], 1);
        // 30 farms + 1 malformed + 1 re-send, register: 30 farms + 1 repeat + 5 invalid.
        assert_eq!(sa.rows_total, 32 + 36);
        assert_eq!(sa.stored["sites"], 30);
        let bad: usize = sa.quarantined.values().sum();
        assert_eq!(bad, 6);
        // The re-send comes last, under the name of an earlier file.
        let last = sa.files.last().unwrap();
        assert!(
            sa.files[..sa.files.len() - 1]
                .iter()
                .any(|f| f.file_name() == last.file_name())
        );
        for d in [a, b] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    fn all_ones(layout: &[u32; 53]) -> BTreeMap<String, Vec<Option<i64>>> {
        method()
            .iter()
            .zip(layout)
            .map(|(ind, n)| (ind.code.clone(), vec![Some(1); *n as usize]))
            .collect()
    }

    /// A hand-checked farm: A5 and A8 at a 97 % share (4.2.8), herbivores,
    /// C9 computed from the one item the file holds, C11 missing with none.
    #[test]
    fn expected_scores_of_a_hand_checked_farm() {
        let m = method();
        let f = Farm {
            id: "F".into(),
            version: [4, 2, 8],
            year: "2023",
            livestock: 2,
            livestock_text: json!("2"),
            share_pct: 97,
            pesticide: true,
            items: all_ones(&ITEMS),
            absent: vec!["IDEA_C09_2".into(), "IDEA_C11_1".into()],
            arrays: true,
            strings: false,
        };
        let (i, c, d) = f.expected(&m);
        assert_eq!(i["A5"], json!(5.0));
        assert_eq!(i["A8"], json!(8.0));
        assert_eq!(i["A7"], json!(1.0));
        assert_eq!(i["B23"], json!(1.0));
        assert_eq!(i["C9"], json!(1.0));
        assert_eq!(c["COMP12"], json!(2.0));
        assert_eq!(i["C11"], Value::Null);
        assert_eq!(c["COMP13"], Value::Null);
        assert_eq!(d["C"], Value::Null);
        assert!(d["A"].is_number());
        let v = f.json();
        assert!(v["items"].get("IDEA_C09_2").is_none());
        assert!(f.expected_items().get("IDEA_C09_2").is_none());
        assert_eq!(v["metadonnees"]["MTD_15"], json!([97]));
        assert_eq!(v["metadonnees"]["MTD_11"], json!(["69"]));
    }

    /// A 4.2.1 export: its own item list, written as that exporter does.
    #[test]
    fn a_calculator_4_2_1_export() {
        let m = method();
        let f = Farm {
            id: "F".into(),
            version: [4, 2, 1],
            year: "2023",
            livestock: 1,
            livestock_text: json!("1 - monogastrique"),
            share_pct: 40,
            pesticide: true,
            items: all_ones(layout([4, 2, 1])),
            absent: Vec::new(),
            arrays: false,
            strings: false,
        };
        let v = f.json();
        assert_eq!(v["items"].as_object().map(Map::len), Some(118));
        assert!(v["items"].get("IDEA_A15_3").is_some() && v["items"].get("IDEA_A15_4").is_none());
        assert_eq!(v["metadonnees"]["MTD_11"], json!("69 - Rhône"));
        assert_eq!(v["metadonnees"]["MTD_13"], json!(2023));
        assert_eq!(v["metadonnees"]["MTD_15"], json!(0.4));
        let (i, c, d) = f.expected(&m);
        assert_eq!(
            (&i["A15"], &i["A17"], &i["B12"]),
            (&json!(3.0), &json!(2.0), &json!(2.0))
        );
        assert_eq!(
            (&i["A8"], &i["B1"], &i["B19"]),
            (&json!(2.0), &json!(3.0), &json!(6.0))
        );
        assert!(c["COMP4"].is_number() && d["A"].is_number() && d["B"].is_number());
    }
}
