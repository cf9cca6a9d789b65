//! Cocagne gardens' IAE pathway exports (partners §1), read by the
//! `cocagne-gardens` connector's `pathways` stream:
//! `parcours_iae_<jardin>_<yyyy>.csv`, Windows-1252, `;`,
//! `Matricule;Nom;Date entrée;Date sortie;Heures hebdo;Motif de sortie;Heures de formation`.
//!
//! Three files, in this order: the 2023 export, the 2024 export, and a
//! corrected re-send of the 2024 export under the same name (in `resend/`):
//! one unknown label fixed, one row's hours changed, one row gone (its pathway
//! must disappear). Quirks: Windows-1252 accents, exit labels in capitals
//! without accents, with extra spaces and as mojibake, dates as `dd/mm/yyyy`,
//! `dd/mm/yy`, ISO and Excel serials, decimal commas, `NC`, blank lines, lines
//! of separators, a repeated header, trailing `;`, a quoted name with `;`
//! inside, CRLF and LF, a re-exported block (the same pathways twice, the later
//! line wins) and pathways still open in 2023 that exit in 2024 (the later file
//! wins). Invalid rows: unknown labels, exits before entries, impossible entry
//! and exit dates, missing matricules.
//!
//! Counting: `rows_total` counts the data rows of all three files; `quarantined`
//! counts every reject of reading all three in order (the first 2024 version's
//! too); `stored["pathways"]` is the distinct pathways left at the end;
//! `rows` describe the 2023 file and the final version of the 2024 file.
//! Keys are `<garden>/<matricule>/<entry yyyy-mm-dd>`: the source's
//! configuration must name the same `garden` ([`GARDEN`]).

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{ExpectedRow, FileSet, Outcome, sum_by_reason};

/// The garden of every file (the connector's `garden` setting).
pub const GARDEN: &str = "jardin-lyon";

const HEADER: [&str; 7] = [
    "Matricule",
    "Nom",
    "Date entrée",
    "Date sortie",
    "Heures hebdo",
    "Motif de sortie",
    "Heures de formation",
];

const LABELS: [(&str, &str); 17] = [
    ("Embauche en CDI non aidé", "durable"),
    ("Embauche en CDD de 6 mois ou plus", "durable"),
    ("Mission d'intérim de 6 mois ou plus", "durable"),
    ("Intégration dans la fonction publique", "durable"),
    ("Création ou reprise d'entreprise", "durable"),
    ("Embauche en CDD de moins de 6 mois", "transition"),
    ("Mission d'intérim de moins de 6 mois", "transition"),
    (
        "Contrat aidé chez un employeur de droit commun",
        "transition",
    ),
    ("Entrée en formation qualifiante", "positive"),
    ("Embauche dans une autre structure de l'IAE", "positive"),
    ("Demandeur d'emploi", "other"),
    ("Inactif", "other"),
    ("Sans nouvelles", "other"),
    ("Décès", "neutralised"),
    ("Déménagement", "neutralised"),
    ("Maladie de longue durée", "neutralised"),
    ("Départ à la retraite", "neutralised"),
];

const UNKNOWN_LABELS: [&str; 4] = [
    "Fin de contrat",
    "Parti sans laisser d'adresse",
    "Autre",
    "Abandon",
];

const SURNAMES: [&str; 10] = [
    "Lefèvre", "Martin", "Benali", "Nguyen", "Moreau", "Da Silva", "Traoré", "Garçon", "Rousseau",
    "Kowalski",
];
const FIRST_NAMES: [&str; 8] = [
    "Hélène",
    "Jean",
    "Fatoumata",
    "Loïc",
    "Zoé",
    "Mehdi",
    "Anaïs",
    "Noël",
];

const WEEKLY: [(&str, f64); 5] = [
    ("26", 26.0),
    ("20", 20.0),
    ("24,5", 24.5),
    ("35", 35.0),
    ("30,0", 30.0),
];
const TRAINING: [(&str, Option<f64>); 5] = [
    ("", None),
    ("0", Some(0.0)),
    ("12", Some(12.0)),
    ("40,5", Some(40.5)),
    ("NC", None),
];

/// One cell: text written as Windows-1252, or raw bytes (mojibake: UTF-8 bytes
/// in a Windows-1252 file).
#[derive(Clone, Debug)]
enum Cell {
    Text(String),
    Raw(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Fate {
    Stored {
        key: String,
        values: BTreeMap<String, Value>,
    },
    Bad {
        reason: &'static str,
        field: &'static str,
    },
}

#[derive(Clone, Debug)]
enum Line {
    Header,
    Blank,
    Separators,
    Data { cells: Vec<Cell>, fate: Fate },
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn iso(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A date in one of the extranet's forms.
fn render_date(rng: &mut ChaCha8Rng, days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    match rng.random_range(0..10u8) {
        0..=4 => format!("{d:02}/{m:02}/{y:04}"),
        5 | 6 => format!("{d:02}/{m:02}/{:02}", y % 100),
        7 | 8 => format!("{y:04}-{m:02}-{d:02}"),
        // Excel serial: days since 1899-12-30.
        _ => (days - days_from_civil(1899, 12, 30)).to_string(),
    }
}

/// An exit label as a coordinator or an export might write it.
fn render_label(rng: &mut ChaCha8Rng, label: &str) -> Cell {
    match rng.random_range(0..10u8) {
        0..=4 => Cell::Text(label.to_string()),
        5 => Cell::Text(strip_accents(label).to_uppercase()),
        6 => Cell::Text(format!(
            "  {}  ",
            label.replacen(' ', "  ", 2).to_lowercase()
        )),
        7 | 8 if !label.is_ascii() => Cell::Raw(label.as_bytes().to_vec()),
        _ => Cell::Text(label.to_string()),
    }
}

fn strip_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'â' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' => 'u',
            'ç' => 'c',
            'É' => 'E',
            other => other,
        })
        .collect()
}

/// Windows-1252 bytes of `s` (the generator only writes Latin-1 text and `€`).
fn cp1252(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '€' => 0x80,
            '’' => 0x92,
            'œ' => 0x9C,
            c => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        })
        .collect()
}

fn quote_if_needed(s: &str) -> String {
    if s.contains([';', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn render(lines: &[Line], crlf: bool, trailing: usize) -> Vec<u8> {
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match line {
            Line::Header => out.extend(cp1252(&HEADER.join(";"))),
            Line::Blank => {}
            Line::Separators => out.extend_from_slice(b";;;;;;"),
            Line::Data { cells, .. } => {
                for (j, cell) in cells.iter().enumerate() {
                    if j > 0 {
                        out.push(b';');
                    }
                    match cell {
                        Cell::Text(t) => out.extend(cp1252(&quote_if_needed(t))),
                        Cell::Raw(b) => out.extend_from_slice(b),
                    }
                }
                if trailing > 0 && i % trailing == 0 {
                    out.push(b';');
                }
            }
        }
        out.extend_from_slice(eol);
    }
    out
}

struct Gen {
    rng: ChaCha8Rng,
    next_matricule: u32,
    raw_person_values: Vec<String>,
}

impl Gen {
    fn person(&mut self) -> (String, String) {
        self.next_matricule += 1 + self.rng.random_range(0..3u32);
        let matricule = format!("PI{:07}", self.next_matricule);
        let surname = SURNAMES[self.rng.random_range(0..SURNAMES.len())];
        let first = FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())];
        let name = if self.rng.random_range(0..8u8) == 0 {
            format!("{surname}; {first}") // a quoted field with `;` inside
        } else {
            format!("{surname} {first}")
        };
        self.raw_person_values.push(matricule.clone());
        self.raw_person_values.push(format!("{surname} {first}"));
        (matricule, name)
    }

    /// A valid pathway entering in `year`; `open` forces no exit.
    fn valid(&mut self, year: i32, open: bool) -> (Vec<Cell>, Fate, Pathway) {
        let (matricule, name) = self.person();
        let entry = days_from_civil(
            year,
            self.rng.random_range(1..=12),
            self.rng.random_range(1..=28),
        );
        let exit = if open || self.rng.random_range(0..10u8) < 4 {
            None
        } else {
            Some(entry + self.rng.random_range(20..400))
        };
        let label = exit.map(|_| LABELS[self.rng.random_range(0..LABELS.len())]);
        let p = Pathway {
            matricule,
            name,
            entry,
            exit,
            label,
            weekly: WEEKLY[self.rng.random_range(0..WEEKLY.len())],
            training: TRAINING[self.rng.random_range(0..TRAINING.len())],
        };
        let (cells, fate) = self.cells(&p);
        (cells, fate, p)
    }

    fn cells(&mut self, p: &Pathway) -> (Vec<Cell>, Fate) {
        let cells = vec![
            Cell::Text(p.matricule.clone()),
            Cell::Text(p.name.clone()),
            Cell::Text(render_date(&mut self.rng, p.entry)),
            Cell::Text(
                p.exit
                    .map(|d| render_date(&mut self.rng, d))
                    .unwrap_or_default(),
            ),
            Cell::Text(p.weekly.0.to_string()),
            p.label
                .map(|(l, _)| render_label(&mut self.rng, l))
                .unwrap_or(Cell::Text(String::new())),
            Cell::Text(p.training.0.to_string()),
        ];
        (cells, p.fate())
    }

    /// An invalid row of kind `k`.
    fn invalid(&mut self, year: i32, k: usize) -> (Vec<Cell>, Fate) {
        let (matricule, name) = self.person();
        let entry = days_from_civil(
            year,
            self.rng.random_range(1..=12),
            self.rng.random_range(1..=28),
        );
        let t = |s: String| Cell::Text(s);
        let mut cells = vec![
            t(matricule),
            t(name),
            t(render_date(&mut self.rng, entry)),
            t(String::new()),
            t("26".into()),
            t(String::new()),
            t("0".into()),
        ];
        let fate = match k % 5 {
            0 => {
                cells[3] = t(render_date(&mut self.rng, entry + 90));
                cells[5] = t(UNKNOWN_LABELS[self.rng.random_range(0..UNKNOWN_LABELS.len())].into());
                Fate::Bad {
                    reason: "unknown_label",
                    field: "Motif de sortie",
                }
            }
            1 => {
                let before = entry - self.rng.random_range(1..60);
                cells[3] = t(render_date(&mut self.rng, before));
                cells[5] = t("Inactif".into());
                Fate::Bad {
                    reason: "inconsistent_dates",
                    field: "Date sortie",
                }
            }
            2 => {
                cells[2] = t(format!("31/02/{year}"));
                Fate::Bad {
                    reason: "invalid_date",
                    field: "Date entrée",
                }
            }
            3 => {
                cells[3] = t(format!("31/04/{year}"));
                cells[5] = t("Sans nouvelles".into());
                Fate::Bad {
                    reason: "invalid_date",
                    field: "Date sortie",
                }
            }
            _ => {
                cells[0] = t(String::new());
                Fate::Bad {
                    reason: "missing_required",
                    field: "Matricule",
                }
            }
        };
        (cells, fate)
    }
}

#[derive(Clone, Debug)]
struct Pathway {
    matricule: String,
    name: String,
    entry: i64,
    exit: Option<i64>,
    label: Option<(&'static str, &'static str)>,
    weekly: (&'static str, f64),
    training: (&'static str, Option<f64>),
}

impl Pathway {
    fn key(&self) -> String {
        format!("{GARDEN}/{}/{}", self.matricule, iso(self.entry))
    }

    fn fate(&self) -> Fate {
        let mut values = BTreeMap::new();
        values.insert("site".into(), json!(GARDEN));
        values.insert("entry_date".into(), json!(iso(self.entry)));
        values.insert("exit_date".into(), json!(self.exit.map(iso)));
        values.insert("weekly_hours".into(), json!(self.weekly.1));
        values.insert("exit_label".into(), json!(self.label.map(|l| l.0)));
        values.insert("exit_category".into(), json!(self.label.map(|l| l.1)));
        values.insert("training_hours".into(), json!(self.training.1));
        Fate::Stored {
            key: self.key(),
            values,
        }
    }
}

/// One export's lines: `n` data rows, every 7th invalid, blank and separator
/// lines, a repeated header, and a re-exported block of 3 valid rows.
/// `carried` are open pathways of an earlier year to repeat with an exit.
fn export(
    g: &mut Gen,
    year: i32,
    n: usize,
    carried: &[Pathway],
) -> (Vec<Line>, Vec<Pathway>, Vec<usize>) {
    let mut lines = vec![Line::Header];
    let mut valid: Vec<Pathway> = Vec::new();
    // Indices into `lines` of valid rows written once (candidates for corrections).
    let mut singles: Vec<usize> = Vec::new();
    let mut invalid_kind = year as usize;
    for (i, c) in carried.iter().enumerate() {
        let mut p = c.clone();
        p.exit = Some(p.entry + 200 + i as i64);
        p.label = Some(LABELS[(i * 5) % LABELS.len()]);
        let (cells, fate) = g.cells(&p);
        lines.push(Line::Data { cells, fate });
    }
    for i in 0..n {
        if i % 7 == 3 {
            let (cells, fate) = g.invalid(year, invalid_kind);
            invalid_kind += 1;
            lines.push(Line::Data { cells, fate });
        } else {
            let (cells, fate, p) = g.valid(year, i % 11 == 1);
            singles.push(lines.len());
            lines.push(Line::Data { cells, fate });
            valid.push(p);
        }
        if i % 13 == 5 {
            lines.push(Line::Blank);
        }
        if i % 17 == 9 {
            lines.push(Line::Separators);
        }
        if i == n / 2 {
            // A re-export: the header again, then the last 3 valid rows again
            // (the later line wins: training hours changed).
            lines.push(Line::Header);
            let again: Vec<Pathway> = valid.iter().rev().take(3).cloned().collect();
            for mut p in again {
                let idx = singles
                    .iter()
                    .position(|&l| matches!(&lines[l], Line::Data { fate: Fate::Stored { key, .. }, .. } if *key == p.key()));
                if let Some(idx) = idx {
                    singles.remove(idx);
                }
                p.training = ("7,5", Some(7.5));
                let (cells, fate) = g.cells(&p);
                lines.push(Line::Data { cells, fate });
            }
        }
    }
    (lines, valid, singles)
}

fn data_rows(lines: &[Line]) -> impl Iterator<Item = (u64, &Vec<Cell>, &Fate)> {
    lines.iter().enumerate().filter_map(|(i, l)| match l {
        Line::Data { cells, fate } => Some((i as u64 + 1, cells, fate)),
        _ => None,
    })
}

pub fn write(out: &Path, seed: u64, size: usize) -> anyhow::Result<FileSet> {
    write_in(out, seed, size, crate::Territory::Lyon)
}

/// The same files (pathways name no commune: `territory` changes nothing
/// but is taken like the other networks').
pub fn write_in(
    out: &Path,
    seed: u64,
    size: usize,
    _territory: crate::Territory,
) -> anyhow::Result<FileSet> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x1AE5_EED0),
        next_matricule: 1000 + (seed % 1000) as u32 * 7,
        raw_person_values: Vec::new(),
    };
    let n = size.max(30);
    let n23 = n / 2;
    let n24 = n - n23;
    let (lines23, valid23, _) = export(&mut g, 2023, n23, &[]);
    let carried: Vec<Pathway> = valid23
        .iter()
        .filter(|p| p.exit.is_none())
        .take(3)
        .cloned()
        .collect();
    let (lines24, _, singles24) = export(&mut g, 2024, n24, &carried);

    // The corrected re-send: the first unknown label fixed, one row's hours
    // changed, one row gone (a blank line keeps the other lines in place).
    let mut fixed = lines24.clone();
    if let Some(i) = fixed.iter().position(|l| {
        matches!(
            l,
            Line::Data {
                fate: Fate::Bad {
                    reason: "unknown_label",
                    ..
                },
                ..
            }
        )
    }) && let Line::Data { cells, .. } = &fixed[i]
    {
        let mut cells = cells.clone();
        cells[5] = Cell::Text("Entrée en formation qualifiante".into());
        let matricule = match &cells[0] {
            Cell::Text(m) => m.clone(),
            Cell::Raw(_) => String::new(),
        };
        // Re-read what the row says to build its expectation.
        let entry = parse_rendered_date(&cells[2]).unwrap_or(0);
        let exit = parse_rendered_date(&cells[3]);
        let p = Pathway {
            matricule,
            name: String::new(),
            entry,
            exit,
            label: Some(("Entrée en formation qualifiante", "positive")),
            weekly: ("26", 26.0),
            training: ("0", Some(0.0)),
        };
        fixed[i] = Line::Data {
            cells,
            fate: p.fate(),
        };
    }
    let changed = singles24.get(1).copied();
    let removed = singles24.get(2).copied();
    if let Some(i) = changed
        && let Line::Data { cells, fate } = &mut fixed[i]
    {
        cells[4] = Cell::Text("17,5".into());
        if let Fate::Stored { values, .. } = fate {
            values.insert("weekly_hours".into(), json!(17.5));
        }
    }
    if let Some(i) = removed {
        fixed[i] = Line::Blank;
    }

    let name23 = format!("parcours_iae_{GARDEN}_2023.csv");
    let name24 = format!("parcours_iae_{GARDEN}_2024.csv");
    std::fs::create_dir_all(out.join("resend"))?;
    let p23 = out.join(&name23);
    let p24 = out.join(&name24);
    let p24b = out.join("resend").join(&name24);
    std::fs::write(&p23, render(&lines23, true, 0))?;
    std::fs::write(&p24, render(&lines24, false, 5))?;
    std::fs::write(&p24b, render(&fixed, true, 5))?;

    // What the hub ends with: files in order, later wins, the re-send replaces.
    let mut set = FileSet {
        connector: "cocagne-gardens".into(),
        files: vec![p23, p24, p24b],
        ..FileSet::default()
    };
    // Open entries: those of each file's latest version.
    let mut by_file: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (name, lines) in [(&name23, &lines23), (&name24, &lines24), (&name24, &fixed)] {
        let mut q: BTreeMap<String, usize> = BTreeMap::new();
        for (_, _, fate) in data_rows(lines) {
            set.rows_total += 1;
            if let Fate::Bad { reason, .. } = fate {
                *q.entry(reason.to_string()).or_default() += 1;
            }
        }
        by_file.insert(name.as_str(), q);
    }
    set.quarantined = sum_by_reason(by_file.into_values());
    let mut final_values: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for lines in [&lines23, &fixed] {
        for (_, _, fate) in data_rows(lines) {
            if let Fate::Stored { key, values } = fate {
                final_values.insert(key.clone(), values.clone());
            }
        }
    }
    set.stored.insert("pathways".into(), final_values.len());
    for (name, lines) in [(&name23, &lines23), (&name24, &fixed)] {
        for (line, _, fate) in data_rows(lines) {
            let outcome = match fate {
                Fate::Stored { key, .. } => Outcome::Stored {
                    table: "pathways".into(),
                    key: key.clone(),
                    values: final_values.get(key).cloned().unwrap_or_default(),
                },
                Fate::Bad { reason, field } => Outcome::Quarantined {
                    reason: reason.to_string(),
                    field: field.to_string(),
                },
            };
            set.rows.push(ExpectedRow {
                file: name.clone(),
                line,
                outcome,
            });
        }
    }
    g.raw_person_values.sort();
    g.raw_person_values.dedup();
    set.raw_person_values = g.raw_person_values;
    Ok(set)
}

/// Days of a date this generator rendered (any of its forms).
fn parse_rendered_date(cell: &Cell) -> Option<i64> {
    let Cell::Text(s) = cell else { return None };
    if s.is_empty() {
        return None;
    }
    if let Ok(serial) = s.parse::<i64>() {
        return Some(serial + days_from_civil(1899, 12, 30));
    }
    if let Some((y, rest)) = s.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        return Some(days_from_civil(
            y.parse().ok()?,
            m.parse().ok()?,
            d.parse().ok()?,
        ));
    }
    let mut parts = s.split('/');
    let d: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let y: i32 = parts.next()?.parse().ok()?;
    let y = if y < 100 { 2000 + y } else { y };
    Some(days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vivres-sim-iae-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            days_from_civil(2024, 1, 1) - days_from_civil(1899, 12, 30),
            45292
        );
        for d in [-1000, 0, 19_000, 19_782, 20_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn deterministic_and_consistent() {
        let (a, b, c) = (tmp("a"), tmp("b"), tmp("c"));
        let sa = write(&a, 7, 60).unwrap();
        let sb = write(&b, 7, 60).unwrap();
        let sc = write(&c, 8, 60).unwrap();
        assert_eq!(sa.files.len(), 3);
        for (fa, fb) in sa.files.iter().zip(&sb.files) {
            assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        }
        assert_ne!(
            std::fs::read(&sa.files[0]).unwrap(),
            std::fs::read(&sc.files[0]).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&sa)
                .unwrap()
                .replace(a.to_str().unwrap(), ""),
            serde_json::to_string(&sb)
                .unwrap()
                .replace(b.to_str().unwrap(), "")
        );
        // Every reason is there; counts add up.
        for r in [
            "unknown_label",
            "inconsistent_dates",
            "invalid_date",
            "missing_required",
        ] {
            assert!(sa.quarantined.get(r).copied().unwrap_or(0) > 0, "{r}");
        }
        let bad: usize = sa.quarantined.values().sum();
        assert!(
            sa.stored["pathways"] + bad < sa.rows_total,
            "duplicates and the re-send"
        );
        // The files are Windows-1252 with a header of accents, and the same name twice.
        let bytes = std::fs::read(&sa.files[0]).unwrap();
        assert!(bytes.starts_with(b"Matricule;Nom;Date entr\xe9e;"));
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(sa.files[1].file_name(), sa.files[2].file_name());
        // Every matricule written is a raw person value.
        for row in &sa.rows {
            if let Outcome::Stored { key, .. } = &row.outcome {
                let m = key.split('/').nth(1).unwrap();
                assert!(sa.raw_person_values.iter().any(|v| v == m));
            }
        }
        for d in [a, b, c] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn sizes_scale() {
        let d = tmp("big");
        let s = write(&d, 1, 2000).unwrap();
        assert!(s.rows_total > 2000);
        assert!(s.stored["pathways"] > 1500);
        std::fs::remove_dir_all(d).unwrap();
    }
}
