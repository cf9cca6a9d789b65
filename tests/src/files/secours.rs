//! Secours Catholique reception and aid exports (partners §3), read by the
//! `secours-catholique-aid` connector (streams `aids` and `households`):
//! `accueils_<equipe>_<yyyy>.csv`, Windows-1252, `;`, CRLF.
//!
//! Three files, in this order: `accueils_lyon-3_2024.csv` (team `Lyon 3`),
//! `accueils_villeurbanne_2024.csv` (team `Villeurbanne`, reusing the same
//! dossier numbers: identifiers are local to their team), and a corrected
//! re-send of the Lyon file under the same name (in `resend/`): its
//! `31/02/2024` row fixed to `29/02/2024`, one valid row removed.
//!
//! Quirks, each at a known place: Windows-1252 `€` and accents, mojibake
//! (UTF-8 bytes inside the Windows-1252 file), dates `dd/mm/yyyy`, `dd/mm/yy`,
//! ISO and Excel serials, decimal commas, `15,00 €`, `1 234,50` with a space or
//! U+00A0, `NC`/`?`/`-`, postcodes `1000` (→ 01000), `69 008`, `69003 CEDEX`,
//! a unique city in the postcode cell, an ambiguous city alone (`Saint-Denis`),
//! `99999`, `2 x chèque 15€` with `Montant` empty or the total, free-text aid
//! types, a negative *reste à vivre*, incomes as amounts and as bands, a quoted
//! comment with `;` inside, a TOTAL line, a repeated header, blank lines and
//! lines of separators, trailing `;`, a re-exported block (the same rows twice)
//! and a household renumbered after a move (a new dossier in the other team).
//! Invalid rows: `31/02/2024`, `29/02/2023`, a missing date, a missing dossier,
//! `99999`, `690`, an unreadable amount, a `2 x` whose total does not match, an
//! unknown composition, an ambiguous city.
//!
//! A row is refused or taken as a whole: both streams refuse an invalid row
//! with the same reason and field (the connector judges the residence with the
//! hub's gazetteer rules: `99999` and a `Saint-Denis` alone refuse the row's
//! aid with its household).
//!
//! Counting: `rows_total` counts the data rows of all three files (each row is
//! read once by each stream); `quarantined` counts the quarantine entries
//! open after reading all three in order through both streams (one per line,
//! reason and field: a row both streams refuse is one entry; the first Lyon
//! version's entries close when it is re-sent); `stored` holds the
//! distinct `distributions` and `households` left at the end; `rows` describe
//! rows of the Villeurbanne file and of the final Lyon file. Keys:
//! `team|dossier|yyyy-mm-dd|aid type|unit cents or ?|ordinal` and `team|dossier`.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{ExpectedRow, FileSet, Outcome, sum_by_reason};
use crate::Territory;
use crate::places;

pub const CONNECTOR: &str = "secours-catholique-aid";

const HEADER: &str = "Date passage;N° dossier;Equipe;Composition;Nb adultes;Nb enfants;CP;Commune;Ressources mensuelles;Reste à vivre;Type aide;Montant;Commentaire";

/// A cell: text written as Windows-1252, or raw bytes (mojibake).
#[derive(Clone, Debug)]
enum Cell {
    T(String),
    Raw(Vec<u8>),
}

fn t(s: impl Into<String>) -> Cell {
    Cell::T(s.into())
}

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

fn encode(cell: &Cell) -> Vec<u8> {
    match cell {
        Cell::Raw(b) => b.clone(),
        Cell::T(s) if s.contains(';') || s.contains('"') => {
            cp1252(&format!("\"{}\"", s.replace('"', "\"\"")))
        }
        Cell::T(s) => cp1252(s),
    }
}

/// What becomes of a row in one stream.
#[derive(Clone, Debug)]
enum Fate {
    /// Stored under these keys (several for `2 x …`), with the values to check.
    Stored(Vec<(String, BTreeMap<String, Value>)>),
    Rejected(&'static str, &'static str),
}

#[derive(Clone, Debug)]
struct Row {
    cells: Vec<Cell>,
    trailing: bool,
    aids: Fate,
    household: Fate,
    /// The household as stored once the row is valid (a corrected re-send).
    household_if_valid: Fate,
}

impl Row {
    /// A row is refused or taken as a whole: both streams refuse it alike.
    fn refuse(&mut self, reason: &'static str, field: &'static str) {
        self.aids = Fate::Rejected(reason, field);
        self.household = Fate::Rejected(reason, field);
    }
}

#[derive(Clone, Debug)]
enum Line {
    Row(Row),
    Blank,
    Separators,
    Header,
    Total,
}

/// A household's attributes, constant across its rows.
#[derive(Clone, Debug)]
struct Household {
    dossier: String,
    composition: (&'static str, &'static str),
    adults: u32,
    children: u32,
    cp: String,
    commune: String,
    postcode: Option<&'static str>,
    /// `residence_in_territory` as the hub stores it (`None`: unknown).
    in_territory: Option<bool>,
    income: (String, &'static str),
    reste: (String, &'static str),
}

const COMPOSITIONS: [(&str, &str); 5] = [
    ("Personne seule", "single"),
    ("Couple sans enfant", "couple-without-children"),
    ("Couple avec enfants", "couple-with-children"),
    ("Famille monoparentale", "single-parent"),
    ("Autre", "other"),
];

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    ((yoe + era * 400 + i64::from(m <= 2)) as i32, m, d)
}

fn iso(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A date in one of the partners' forms (half `dd/mm/yyyy`).
fn render_date(rng: &mut ChaCha8Rng, days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    match rng.random_range(0..10u8) {
        0..=4 => format!("{d:02}/{m:02}/{y:04}"),
        5 | 6 => format!("{d:02}/{m:02}/{:02}", y % 100),
        7 => format!("{y:04}-{m:02}-{d:02}"),
        _ => (days - days_from_civil(1899, 12, 30)).to_string(),
    }
}

fn euros(rng: &mut ChaCha8Rng, cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let e = format!("{sign}{}", cents.abs() / 100);
    let c = cents.abs() % 100;
    match rng.random_range(0..5u8) {
        0 if c == 0 => format!("{e}"),
        0 => format!("{e},{c}"),
        1 => format!("{e},{c:02}"),
        2 => format!("{e},{c:02} €"),
        3 => format!("{e}.{c:02}"),
        _ => format!("{e},{c:02}€"),
    }
}

/// An amount of at least 1 000 €, thousands separated by a space or U+00A0.
fn thousands(rng: &mut ChaCha8Rng, cents: i64) -> String {
    let e = cents / 100;
    let sep = if rng.random_bool(0.5) { " " } else { "\u{a0}" };
    format!("{}{sep}{:03},{:02}", e / 1000, e % 1000, cents % 100)
}

fn band_of(cents: i64) -> &'static str {
    match cents {
        i64::MIN..30_000 => "<300",
        30_000..60_000 => "300-599",
        60_000..90_000 => "600-899",
        90_000..120_000 => "900-1199",
        _ => "1200+",
    }
}

fn money_or_band(rng: &mut ChaCha8Rng, cents: i64) -> (String, &'static str) {
    let band = band_of(cents);
    let text = match rng.random_range(0..6u8) {
        0 => band.to_string(),
        1 if cents >= 100_000 => thousands(rng, cents),
        _ => euros(rng, cents),
    };
    (text, band)
}

struct Gen {
    rng: ChaCha8Rng,
    comment_no: u32,
    raw: Vec<String>,
    territory: Territory,
}

impl Gen {
    fn comment(&mut self) -> String {
        self.comment_no += 1;
        let c = match self.comment_no % 4 {
            0 => format!(
                "Mme Zorglub-{} suivie par l'assistante sociale",
                self.comment_no
            ),
            1 => format!(
                "Commentaire confidentiel SC{:05}; santé fragile",
                self.comment_no
            ),
            2 => format!("M. Quenotte-{} titre de séjour en cours", self.comment_no),
            _ => String::new(),
        };
        if !c.is_empty() {
            self.raw.push(c.clone());
        }
        c
    }

    fn household(&mut self, dossier: String) -> Household {
        let rng = &mut self.rng;
        let composition = COMPOSITIONS[rng.random_range(0..COMPOSITIONS.len())];
        let (adults, children) = match composition.1 {
            "single" => (1, 0),
            "couple-without-children" => (2, 0),
            "couple-with-children" => (2, rng.random_range(1..5)),
            "single-parent" => (1, rng.random_range(1..4)),
            _ => (rng.random_range(2..4), rng.random_range(0..3)),
        };
        let inside = places::inside(self.territory);
        let (all_outside, straddling) = places::shared_postcodes(self.territory);
        // `postcode`: what the hub stores, checked only when the cell has digits;
        // then whether it lies in the territory.
        let (cp, commune, postcode, in_territory): (String, String, Option<&'static str>, _) =
            match rng.random_range(0..12u8) {
                0 => (
                    "1000".into(),
                    "Bourg-en-Bresse".into(),
                    Some("01000"),
                    Some(false),
                ),
                1 => {
                    let (_, c) = places::unique_city(self.territory);
                    (c.into(), String::new(), None, Some(true))
                }
                2 => ("69 008".into(), "Lyon".into(), Some("69008"), Some(true)),
                3 => (
                    "69003 CEDEX".into(),
                    "Lyon".into(),
                    Some("69003"),
                    Some(true),
                ),
                4 => ("38200".into(), "Vienne".into(), Some("38200"), Some(false)),
                // Shared by communes of several EPCIs, no name that settles it.
                5 => (
                    all_outside.into(),
                    String::new(),
                    Some(all_outside),
                    Some(false),
                ),
                6 => (straddling.into(), String::new(), Some(straddling), None),
                _ => {
                    let (pc, c) = inside[rng.random_range(0..inside.len())];
                    (pc.into(), c.into(), Some(pc), Some(true))
                }
            };
        let income = rng.random_range(0..1_600_00i64);
        let reste = rng.random_range(-200_00..900_00i64);
        let income = money_or_band(rng, income);
        let reste = money_or_band(rng, reste);
        Household {
            dossier,
            composition,
            adults,
            children,
            cp,
            commune,
            postcode,
            in_territory,
            income,
            reste,
        }
    }

    /// A composition label as teams write it.
    fn composition_text(&mut self, label: &str) -> String {
        match self.rng.random_range(0..6u8) {
            0 => label.to_uppercase(),
            1 => format!(" {label} "),
            _ => label.to_string(),
        }
    }

    fn number(&mut self, n: u32) -> String {
        if self.rng.random_range(0..10u8) == 0 {
            format!("{n},0")
        } else {
            n.to_string()
        }
    }
}

/// An aid type cell, its kind, the unit amount and `Montant` cell, the label.
struct Aid {
    type_cell: Cell,
    montant: String,
    kind: &'static str,
    key_type: String,
    count: u32,
    unit: Option<i64>,
    label: Option<String>,
}

fn aid(g: &mut Gen) -> Aid {
    let rng = &mut g.rng;
    let simple = |cell: &str, kind: &'static str, montant: String, unit: Option<i64>| Aid {
        type_cell: t(cell),
        montant,
        kind,
        key_type: kind.to_string(),
        count: 1,
        unit,
        label: None,
    };
    match rng.random_range(0..20u8) {
        0..=5 => {
            let cents = [1500, 2000, 3000, 1550][rng.random_range(0..4)];
            simple(
                "Chèque alimentaire",
                "food-voucher",
                euros(rng, cents),
                Some(cents),
            )
        }
        6 => {
            // Mojibake: the UTF-8 bytes of `è` inside a Windows-1252 file.
            let mut a = simple("", "food-voucher", "20".into(), Some(2000));
            a.type_cell = Cell::Raw(b"Ch\xC3\xA8que alimentaire".to_vec());
            a
        }
        7..=8 => {
            let cents = [5000, 4000][rng.random_range(0..2)];
            simple(
                "Carte prépayée",
                "prepaid-card",
                euros(rng, cents),
                Some(cents),
            )
        }
        9..=11 => {
            let m = ["", "NC", "-", "?"][rng.random_range(0..4)];
            simple("Colis", "parcel", m.into(), None)
        }
        12 => simple("Repas", "meal", String::new(), None),
        13 => simple("Orientation", "referral", "-".into(), None),
        14..=16 => {
            let (n, unit) = [(2u32, 1500i64), (3, 1000), (2, 2000)][rng.random_range(0..3)];
            let text = format!("{n} x chèque {}€", unit / 100);
            let montant = match rng.random_range(0..3u8) {
                0 => String::new(),
                1 => format!("{}", i64::from(n) * unit / 100),
                _ => format!("{},00 €", i64::from(n) * unit / 100),
            };
            Aid {
                type_cell: t(text.clone()),
                montant,
                kind: "food-voucher",
                key_type: "food-voucher".into(),
                count: n,
                unit: Some(unit),
                label: Some(text),
            }
        }
        17 => Aid {
            type_cell: t("Vestiaire"),
            montant: String::new(),
            kind: "other",
            key_type: "vestiaire".into(),
            count: 1,
            unit: None,
            label: Some("Vestiaire".into()),
        },
        _ => {
            let cents = 123_450;
            let montant = thousands(rng, cents);
            Aid {
                type_cell: t("Aide à l'énergie"),
                montant,
                kind: "other",
                key_type: "aide a l'energie".into(),
                count: 1,
                unit: Some(cents),
                label: Some("Aide à l'énergie".into()),
            }
        }
    }
}

fn household_values(h: &Household) -> BTreeMap<String, Value> {
    let mut v = BTreeMap::new();
    v.insert("composition".into(), json!(h.composition.1));
    v.insert("adults".into(), json!(h.adults));
    v.insert("children".into(), json!(h.children));
    v.insert("size".into(), json!(h.adults + h.children));
    if let Some(pc) = h.postcode {
        v.insert("residence_postcode".into(), json!(pc));
    }
    v.insert("residence_in_territory".into(), json!(h.in_territory));
    v.insert("income_band".into(), json!(h.income.1));
    v.insert("reste_a_vivre_band".into(), json!(h.reste.1));
    v
}

/// A row of household `h` at `days` with `aid`.
fn row(g: &mut Gen, team: &str, h: &Household, days: i64, aid: Aid) -> Row {
    let date = render_date(&mut g.rng, days);
    let comp = g.composition_text(h.composition.0);
    let adults = g.number(h.adults);
    let children = g.number(h.children);
    let comment = g.comment();
    let cells = vec![
        t(date),
        t(h.dossier.clone()),
        t(team),
        t(comp),
        t(adults),
        t(children),
        t(h.cp.clone()),
        t(h.commune.clone()),
        t(h.income.0.clone()),
        t(h.reste.0.clone()),
        aid.type_cell.clone(),
        t(aid.montant.clone()),
        t(comment),
    ];
    let unit_key = aid.unit.map_or("?".to_string(), |u| u.to_string());
    let keys = (1..=aid.count)
        .map(|ordinal| {
            let key = format!(
                "{team}|{}|{}|{}|{unit_key}|{ordinal}",
                h.dossier,
                iso(days),
                aid.key_type
            );
            let mut v = BTreeMap::new();
            v.insert("date".into(), json!(iso(days)));
            v.insert("kind".into(), json!(aid.kind));
            v.insert("amount_cents".into(), json!(aid.unit));
            v.insert("ordinal".into(), json!(ordinal));
            v.insert("site".into(), json!(team));
            v.insert("label".into(), json!(aid.label));
            (key, v)
        })
        .collect();
    let trailing = g.rng.random_range(0..8u8) == 0;
    let household = Fate::Stored(vec![(format!("{team}|{}", h.dossier), household_values(h))]);
    Row {
        cells,
        trailing,
        aids: Fate::Stored(keys),
        household: household.clone(),
        household_if_valid: household,
    }
}

/// The deliberately invalid (or hub-refused) rows of a file, `k` from 0.
fn invalid_rows(g: &mut Gen, team: &str, next_dossier: &mut u32, year: i32) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut fresh = |g: &mut Gen| {
        *next_dossier += 1;
        let d = format!("SCD{}", *next_dossier);
        g.raw.push(d.clone());
        d
    };
    let day = days_from_civil(year, 3, 12);
    let mk = |g: &mut Gen, dossier: String| {
        let mut h = g.household(dossier);
        h.cp = "69003".into();
        h.commune = "Lyon".into();
        h.postcode = Some("69003");
        h.in_territory = Some(true);
        let a = Aid {
            type_cell: t("Repas"),
            montant: "5".into(),
            kind: "meal",
            key_type: "meal".into(),
            count: 1,
            unit: Some(500),
            label: None,
        };
        let r = row(g, team, &h, day, a);
        (h, r)
    };
    // Impossible dates.
    for bad in ["31/02/2024", "29/02/2023"] {
        let (_, mut r) = {
            let d = fresh(g);
            mk(g, d)
        };
        r.cells[0] = t(bad);
        r.refuse("invalid_date", "Date passage");
        rows.push(r);
    }
    // No date.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[0] = t("");
    r.refuse("missing_required", "Date passage");
    rows.push(r);
    // No dossier.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[1] = t("");
    r.refuse("missing_required", "N° dossier");
    rows.push(r);
    // Not a French postcode: the connector refuses the row, as the hub would its
    // household.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[6] = t("99999");
    r.cells[7] = t("");
    r.refuse("unknown_postcode", "CP");
    rows.push(r);
    // Not a postcode at all.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[6] = t("690");
    r.refuse("unknown_postcode", "CP");
    rows.push(r);
    // An ambiguous city alone: the row is refused, its aid with its household.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[6] = t("");
    r.cells[7] = t(places::ambiguous_city(g.territory));
    r.refuse("unresolved_location", "Commune");
    rows.push(r);
    // Unreadable amount.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[11] = t("douze");
    r.refuse("invalid_amount", "Montant");
    rows.push(r);
    // A `2 x` whose total matches neither the count nor the unit.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[10] = t("2 x chèque 15€");
    r.cells[11] = t("25");
    r.refuse("invalid_amount", "Montant");
    rows.push(r);
    // A composition outside the list.
    let (_, mut r) = {
        let d = fresh(g);
        mk(g, d)
    };
    r.cells[3] = t("Colocation");
    r.refuse("unknown_label", "Composition");
    rows.push(r);
    rows
}

struct File {
    name: String,
    lines: Vec<Line>,
}

fn render(lines: &[Line]) -> Vec<u8> {
    let mut out = cp1252(HEADER);
    out.extend_from_slice(b"\r\n");
    for line in lines {
        match line {
            Line::Row(r) => {
                let cells: Vec<Vec<u8>> = r.cells.iter().map(encode).collect();
                out.extend(cells.join(&b';'));
                if r.trailing {
                    out.push(b';');
                }
            }
            Line::Blank => {}
            Line::Separators => out.extend_from_slice(b";;;;;;;;;;;;"),
            Line::Header => out.extend(cp1252(HEADER)),
            Line::Total => out.extend_from_slice(b"TOTAL;;;;;;;;;;;1234,50;"),
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `(physical line, row)` of each data row.
fn numbered(lines: &[Line]) -> Vec<(u64, &Row)> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Line::Row(r) => Some((i as u64 + 2, r)),
            _ => None,
        })
        .collect()
}

fn team_file(
    g: &mut Gen,
    team: &str,
    slug: &str,
    size: usize,
    next_dossier: &mut u32,
    dossiers: &[String],
) -> File {
    let households: Vec<Household> = dossiers.iter().map(|d| g.household(d.clone())).collect();
    let start = days_from_civil(2024, 1, 1);
    let mut lines = Vec::new();
    for _ in 0..size {
        let h = &households[g.rng.random_range(0..households.len())];
        let days = start + g.rng.random_range(0..366);
        let a = aid(g);
        lines.push(Line::Row(row(g, team, h, days, a)));
    }
    // Invalid rows spread over the file.
    for r in invalid_rows(g, team, next_dossier, 2024) {
        let at = g.rng.random_range(0..=lines.len());
        lines.insert(at, Line::Row(r));
    }
    // A re-exported block: the same three rows again.
    let block: Vec<Line> = lines
        .iter()
        .filter(|l| matches!(l, Line::Row(r) if matches!(r.aids, Fate::Stored(_))))
        .take(3)
        .cloned()
        .collect();
    lines.extend(block);
    // Not rows.
    let n = lines.len();
    lines.insert(n / 3, Line::Blank);
    lines.insert(n / 2, Line::Header);
    lines.insert(2 * n / 3, Line::Separators);
    lines.push(Line::Blank);
    lines.push(Line::Total);
    File {
        name: format!("accueils_{slug}_2024.csv"),
        lines,
    }
}

/// The warehouse as the hub would hold it: table → key → (origin, file, line).
#[derive(Default)]
struct Sim {
    tables: BTreeMap<&'static str, BTreeMap<String, (String, String, u64)>>,
    /// File name → reason → entries: the entries of its latest version
    /// (those of an earlier version close when it is re-sent).
    quarantined: BTreeMap<String, BTreeMap<String, usize>>,
    rows: usize,
}

impl Sim {
    fn read(&mut self, label: &str, f: &File) {
        for t in self.tables.values_mut() {
            t.retain(|_, (origin, _, _)| *origin != f.name);
        }
        let mut quarantined: BTreeMap<String, usize> = BTreeMap::new();
        for (line, r) in numbered(&f.lines) {
            self.rows += 1;
            // The hub files one entry per line, reason and field: a row both
            // streams refuse alike is one entry.
            let mut refusals = std::collections::BTreeSet::new();
            for (table, fate) in [("distributions", &r.aids), ("households", &r.household)] {
                match fate {
                    Fate::Stored(keys) => {
                        for (k, _) in keys {
                            self.tables
                                .entry(table)
                                .or_default()
                                .insert(k.clone(), (f.name.clone(), label.to_string(), line));
                        }
                    }
                    Fate::Rejected(reason, field) => {
                        if refusals.insert((*reason, field.to_string())) {
                            *quarantined.entry((*reason).to_string()).or_default() += 1;
                        }
                    }
                }
            }
        }
        self.quarantined.insert(f.name.clone(), quarantined);
    }
}

pub fn write(out: &Path, seed: u64, size: usize) -> anyhow::Result<FileSet> {
    write_in(out, seed, size, Territory::Lyon)
}

/// The same files for households living in `territory`'s communes (the
/// row-level expectations describe Lyon's).
pub fn write_in(
    out: &Path,
    seed: u64,
    size: usize,
    territory: Territory,
) -> anyhow::Result<FileSet> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5EC0_u64),
        comment_no: 0,
        raw: Vec::new(),
        territory,
    };
    let size = size.max(20);
    // Dossier numbers shared by both teams (local to each).
    let pool = (size / 4).max(5);
    let dossiers: Vec<String> = (0..pool).map(|i| format!("SCD{}", 40_000 + i)).collect();
    g.raw.extend(dossiers.iter().cloned());
    let mut next_dossier = 90_000;
    let lyon = team_file(
        &mut g,
        "Lyon 3",
        "lyon-3",
        size,
        &mut next_dossier,
        &dossiers,
    );
    let mut villeurbanne_dossiers = dossiers.clone();
    // A household renumbered after a move: a new dossier in the other team.
    villeurbanne_dossiers.push("SCD77777".into());
    g.raw.push("SCD77777".into());
    let villeurbanne = team_file(
        &mut g,
        "Villeurbanne",
        "villeurbanne",
        size,
        &mut next_dossier,
        &villeurbanne_dossiers,
    );
    // The corrected re-send of the Lyon file.
    let mut fixed = File {
        name: lyon.name.clone(),
        lines: Vec::new(),
    };
    let mut removed = false;
    let mut valid_seen = 0;
    for l in &lyon.lines {
        match l {
            Line::Row(r) if matches!(&r.cells[0], Cell::T(d) if d == "31/02/2024") => {
                let mut r = r.clone();
                r.cells[0] = t("29/02/2024");
                let dossier = match &r.cells[1] {
                    Cell::T(d) => d.clone(),
                    Cell::Raw(_) => String::new(),
                };
                let day = iso(days_from_civil(2024, 2, 29));
                let key = format!("Lyon 3|{dossier}|{day}|meal|500|1");
                let mut v = BTreeMap::new();
                v.insert("date".into(), json!(day));
                v.insert("kind".into(), json!("meal"));
                v.insert("amount_cents".into(), json!(500));
                v.insert("ordinal".into(), json!(1));
                r.aids = Fate::Stored(vec![(key, v)]);
                r.household = r.household_if_valid.clone();
                fixed.lines.push(Line::Row(r));
            }
            Line::Row(r) if !removed && matches!(r.aids, Fate::Stored(_)) => {
                valid_seen += 1;
                if valid_seen == 5 {
                    removed = true; // the fifth valid row is gone
                } else {
                    fixed.lines.push(l.clone());
                }
            }
            other => fixed.lines.push(other.clone()),
        }
    }

    std::fs::create_dir_all(out.join("resend"))?;
    let paths = [
        out.join(&lyon.name),
        out.join(&villeurbanne.name),
        out.join("resend").join(&fixed.name),
    ];
    let mut sim = Sim::default();
    for (file, path) in [&lyon, &villeurbanne, &fixed].into_iter().zip(&paths) {
        std::fs::write(path, render(&file.lines))?;
    }
    sim.read("lyon-v1", &lyon);
    sim.read("villeurbanne", &villeurbanne);
    sim.read("lyon-v2", &fixed);

    // Row-level expectations: rows of the final files whose keys they own.
    let mut rows = Vec::new();
    for (label, f) in [("villeurbanne", &villeurbanne), ("lyon-v2", &fixed)] {
        let mut stored_aids = 0;
        for (line, r) in numbered(&f.lines) {
            for (table, fate) in [("distributions", &r.aids), ("households", &r.household)] {
                match fate {
                    Fate::Rejected(reason, field) => rows.push(ExpectedRow {
                        file: f.name.clone(),
                        line,
                        outcome: Outcome::Quarantined {
                            reason: (*reason).into(),
                            field: (*field).into(),
                        },
                    }),
                    Fate::Stored(keys)
                        if stored_aids < 12 || table == "households" && line % 7 == 0 =>
                    {
                        for (k, v) in keys {
                            let owner = sim.tables.get(table).and_then(|t| t.get(k));
                            if owner.is_some_and(|(_, l, ln)| l == label && *ln == line) {
                                if table == "distributions" {
                                    stored_aids += 1;
                                }
                                rows.push(ExpectedRow {
                                    file: f.name.clone(),
                                    line,
                                    outcome: Outcome::Stored {
                                        table: table.into(),
                                        key: k.clone(),
                                        values: v.clone(),
                                    },
                                });
                            }
                        }
                    }
                    Fate::Stored(_) => {}
                }
            }
        }
    }

    let mut raw = g.raw;
    raw.sort();
    raw.dedup();
    Ok(FileSet {
        connector: CONNECTOR.into(),
        files: paths.to_vec(),
        rows_total: sim.rows,
        stored: sim
            .tables
            .iter()
            .map(|(t, keys)| ((*t).to_string(), keys.len()))
            .collect(),
        quarantined: sum_by_reason(sim.quarantined.into_values()),
        raw_person_values: raw,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vivres-sim-sc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn deterministic_and_consistent() {
        let (a, b) = (tmp("a"), tmp("b"));
        let sa = write(&a, 7, 60).unwrap();
        let sb = write(&b, 7, 60).unwrap();
        for (fa, fb) in sa.files.iter().zip(&sb.files) {
            assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        }
        assert_eq!(sa.stored, sb.stored);
        assert_eq!(sa.files.len(), 3);
        assert_eq!(sa.files[0].file_name(), sa.files[2].file_name());
        assert_ne!(
            std::fs::read(&sa.files[0]).unwrap(),
            std::fs::read(&sa.files[2]).unwrap()
        );
        // A row both streams refuse is one quarantine entry.
        let q: usize = sa.quarantined.values().sum();
        assert!(q >= 10);
        // Two invalid dates per file, 31/02 fixed in the re-send: the first
        // Lyon version's entries close, the re-send's and Villeurbanne's stay.
        assert_eq!(sa.quarantined["invalid_date"], 2 + 1);
        assert_eq!(sa.quarantined["unresolved_location"], 2);
        assert!(sa.stored["distributions"] > 60);
        assert!(sa.stored["households"] > 10);
        assert!(sa.rows.iter().any(
            |r| matches!(&r.outcome, Outcome::Stored { table, .. } if table == "distributions")
        ));
        assert!(
            sa.rows.iter().any(
                |r| matches!(&r.outcome, Outcome::Stored { table, .. } if table == "households")
            )
        );
        // A row is refused or taken as a whole: every refused row is refused by
        // both streams, with the same reason and field.
        let mut lines: BTreeMap<(String, u64), Vec<(&str, &str)>> = BTreeMap::new();
        for r in &sa.rows {
            if let Outcome::Quarantined { reason, field } = &r.outcome {
                lines
                    .entry((r.file.clone(), r.line))
                    .or_default()
                    .push((reason, field));
            }
        }
        assert!(!lines.is_empty());
        for (at, fates) in &lines {
            assert_eq!(fates.len(), 2, "{at:?}: refused by one stream only");
            assert_eq!(fates[0], fates[1], "{at:?}");
        }
        let bytes = std::fs::read(&sa.files[0]).unwrap();
        assert!(bytes.contains(&0x80), "a Windows-1252 euro sign");
        assert!(std::str::from_utf8(&bytes).is_err());
        assert!(bytes.windows(4).any(|w| w == b"1000"));
        assert!(bytes.windows(10).any(|w| w == b"31/02/2024"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("TOTAL;"));
        assert!(text.contains("\r\n\r\n"));
        assert!(sa.raw_person_values.iter().any(|v| v.starts_with("SCD")));
        let _ = std::fs::remove_dir_all(a);
        let _ = std::fs::remove_dir_all(b);
    }
}
