//! UGESS grocery till exports and card registers (partners §5), read by the
//! `ugess-groceries` connector (streams `sales` and `cards`).
//!
//! Files, in this order: `beneficiaires_bron.csv` (Windows-1252, CRLF),
//! `ventes_bron_2024-03.csv` (UTF-8 with BOM, LF), `ventes_bron_2024-04.csv`
//! (Windows-1252, CRLF), and a corrected re-send of the March export under the
//! same name (in `resend/`): its `31/02/2024` line fixed to `29/02/2024`, one
//! valid line removed. The grocery (the cards' scope) is `bron`.
//!
//! Quirks: `€` in both encodings, accents, mojibake, dates in every form,
//! times `HH:MM`, `HH:MM:SS` and `HHhMM`, decimal commas, `1,10 €`, `1 050,00`
//! with U+202F, `NC`/`?`/`-`, returns (negative quantities, stored), food-bank
//! donations (`PU public` `Don BA` or `0`), an unreadable `PU payé` beside a
//! good `Total` (stored), a card missing from the register (stored), postcodes
//! `1000`, `69 500`, `69500 CEDEX`, a city, an ambiguous city, `99999`,
//! postcodes shared by communes of several EPCIs (all outside the territory:
//! stored outside; inside and outside: unknown), a TOTAL
//! line, a repeated header, blank lines, lines of separators, trailing `;`, a
//! re-exported block. Invalid rows: impossible dates and times, missing
//! cards and articles, unreadable quantities and amounts, rights ending
//! before they start, an unknown composition, `690`.
//!
//! Counting as in [`super::secours`]: `rows_total` = data rows of all files;
//! `quarantined` = every reject (connector and hub) of reading them in order;
//! `stored["order_lines"]`, `stored["households"]` = distinct keys at the end.
//! Keys: `bron|yyyy-mm-dd|HH:MM:SS|card|article|quantity` and `bron|card`.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{ExpectedRow, FileSet, Outcome, sum_by_reason};
use crate::Territory;
use crate::places;

pub const CONNECTOR: &str = "ugess-groceries";
pub const GROCERY: &str = "bron";

const SALES_HEADER: &str =
    "Date;Heure;N° carte;Article;EAN;Catégorie;Qté;Unité;PU public;PU payé;Remise %;Total";
const CARDS_HEADER: &str = "N° carte;Composition;CP;Droits du;Droits au;Plafond mensuel";

/// (article, EAN, category, unit, public price in cents, DFC type)
const ARTICLES: [(&str, &str, &str, &str, i64, &str); 14] = [
    ("Carottes", "", "Légumes", "kg", 180, "carrot"),
    ("Poireaux", "", "Légumes", "kg", 250, "leek"),
    ("Pommes golden", "", "Fruits", "kg", 220, "apple"),
    (
        "Lait demi-écrémé",
        "3250390000013",
        "Crèmerie",
        "L",
        110,
        "dairy-product",
    ),
    (
        "Yaourt nature x4",
        "3033490004521",
        "Crèmerie",
        "pce",
        150,
        "dairy-product",
    ),
    (
        "Pain de mie",
        "3228857000012",
        "Boulangerie",
        "pce",
        199,
        "bakery",
    ),
    (
        "Œufs plein air x6",
        "3760000000018",
        "Crèmerie",
        "pce",
        270,
        "egg",
    ),
    (
        "Lentilles vertes",
        "3175681000016",
        "Épicerie",
        "pce",
        165,
        "dried-vegetable",
    ),
    (
        "Jus d'orange",
        "3124480000011",
        "Boissons",
        "L",
        189,
        "drink",
    ),
    (
        "Savon de Marseille",
        "3080000000015",
        "Hygiène",
        "pce",
        230,
        "inedible",
    ),
    (
        "Jambon blanc",
        "3266980000012",
        "Boucherie",
        "pce",
        320,
        "meat-product",
    ),
    (
        "Pâtes",
        "3038350000013",
        "Épicerie",
        "pce",
        95,
        "local-grocery-store",
    ),
    (
        "Riz long",
        "3183280000014",
        "Épicerie",
        "pce",
        140,
        "local-grocery-store",
    ),
    (
        "Bougie parfumée",
        "3600000000012",
        "Divers",
        "pce",
        300,
        "unclassified",
    ),
];

#[derive(Clone, Debug)]
enum Fate {
    Stored(String, BTreeMap<String, Value>),
    Rejected(&'static str, &'static str),
}

#[derive(Clone, Debug)]
enum Line {
    Row { cells: Vec<Vec<u8>>, fate: Fate },
    Blank,
    Separators,
    Header,
    Total,
}

#[derive(Clone, Copy, PartialEq)]
enum Enc {
    Utf8Bom,
    Cp1252,
}

fn encode(s: &str, enc: Enc) -> Vec<u8> {
    let quoted;
    let s = if s.contains(';') || s.contains('"') {
        quoted = format!("\"{}\"", s.replace('"', "\"\""));
        quoted.as_str()
    } else {
        s
    };
    match enc {
        Enc::Utf8Bom => s.as_bytes().to_vec(),
        Enc::Cp1252 => s
            .chars()
            .map(|c| match c {
                '€' => 0x80,
                'Œ' => 0x8C,
                'œ' => 0x9C,
                c => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            })
            .collect(),
    }
}

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn render_date(rng: &mut ChaCha8Rng, y: i32, m: u32, d: u32) -> String {
    match rng.random_range(0..10u8) {
        0..=5 => format!("{d:02}/{m:02}/{y:04}"),
        6 => format!("{d:02}/{m:02}/{:02}", y % 100),
        7 | 8 => format!("{y:04}-{m:02}-{d:02}"),
        _ => (days_from_civil(y, m, d) - days_from_civil(1899, 12, 30)).to_string(),
    }
}

fn money(rng: &mut ChaCha8Rng, cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let (e, c) = (cents.abs() / 100, cents.abs() % 100);
    match rng.random_range(0..4u8) {
        0 => format!("{sign}{e},{c:02}"),
        1 => format!("{sign}{e},{c:02} €"),
        2 => format!("{sign}{e}.{c:02}"),
        _ => format!("{sign}{e},{c:02}"),
    }
}

/// As the connector: `Qté × price`, rounded half away from zero.
fn times(q: f64, cents: i64) -> i64 {
    (q * cents as f64).round() as i64
}

fn qkey(q: f64) -> String {
    let r = (q * 1e6).round() / 1e6;
    if r == 0.0 { "0".into() } else { format!("{r}") }
}

struct Gen {
    rng: ChaCha8Rng,
    raw: Vec<String>,
    territory: Territory,
}

fn cards_file(g: &mut Gen, cards: &[String]) -> Vec<Line> {
    let territory = g.territory;
    let mut lines = Vec::new();
    let comps = [
        ("Personne seule", "single"),
        ("Couple sans enfant", "couple-without-children"),
        ("Couple avec enfants", "couple-with-children"),
        ("FAMILLE MONOPARENTALE", "single-parent"),
        ("Autre", "other"),
    ];
    let enc = Enc::Cp1252;
    for (i, card) in cards.iter().enumerate() {
        let rng = &mut g.rng;
        let mut v = BTreeMap::new();
        let comp = if rng.random_range(0..5u8) == 0 {
            let n = rng.random_range(1..7u32);
            v.insert("size".into(), json!(n));
            n.to_string()
        } else {
            let (label, id) = comps[rng.random_range(0..comps.len())];
            v.insert("composition".into(), json!(id));
            label.to_string()
        };
        let (all_outside, straddling) = places::shared_postcodes(territory);
        // The postcode the hub stores, and whether it is in the territory
        // (`None`: unknown).
        let (cp, pc, inside): (&str, Option<&str>, Option<bool>) = match rng.random_range(0..8u8) {
            0 => ("1000", Some("01000"), Some(false)),
            1 => ("69 500", Some("69500"), Some(true)),
            2 => ("69500 CEDEX", Some("69500"), Some(true)),
            3 => ("Villeurbanne", None, Some(true)),
            4 => ("69200", Some("69200"), Some(true)),
            5 => (all_outside, Some(all_outside), Some(false)),
            6 => (straddling, Some(straddling), None),
            _ => ("69500", Some("69500"), Some(true)),
        };
        if let Some(pc) = pc {
            v.insert("residence_postcode".into(), json!(pc));
        }
        v.insert("residence_in_territory".into(), json!(inside));
        let month = rng.random_range(1..=6u32);
        let from = render_date(rng, 2024, month, 1);
        let to = render_date(rng, 2024, month + 6, 30);
        v.insert("rights_from".into(), json!(format!("2024-{month:02}-01")));
        v.insert(
            "rights_to".into(),
            json!(format!("2024-{:02}-30", month + 6)),
        );
        let cap = [6000i64, 8000, 12050][rng.random_range(0..3)];
        v.insert("monthly_cap_cents".into(), json!(cap));
        let cap = money(rng, cap);
        let mut cells = vec![card.clone(), comp, cp.into(), from, to, cap];
        let fate = match i {
            1 => {
                cells[2] = "99999".into();
                Fate::Rejected("unknown_postcode", "residence.postcode")
            }
            2 => {
                cells[2] = "690".into();
                Fate::Rejected("unknown_postcode", "CP")
            }
            3 => {
                cells[2] = "Saint-Denis".into();
                Fate::Rejected("unresolved_location", "residence.commune")
            }
            4 => {
                cells[3] = "01/09/2024".into();
                cells[4] = "31/08/2024".into();
                Fate::Rejected("inconsistent_dates", "Droits au")
            }
            5 => {
                cells[3] = "31/02/2024".into();
                Fate::Rejected("invalid_date", "Droits du")
            }
            6 => {
                cells[5] = "beaucoup".into();
                Fate::Rejected("invalid_amount", "Plafond mensuel")
            }
            7 => {
                cells[1] = "Colocation".into();
                Fate::Rejected("unknown_label", "Composition")
            }
            8 => {
                cells[0] = String::new();
                Fate::Rejected("missing_required", "N° carte")
            }
            _ => Fate::Stored(format!("{GROCERY}|{card}"), v),
        };
        let mut cells: Vec<Vec<u8>> = cells.iter().map(|c| encode(c, enc)).collect();
        if i % 9 == 0 {
            cells.push(Vec::new()); // a trailing `;`
        }
        lines.push(Line::Row { cells, fate });
    }
    lines.insert(lines.len() / 2, Line::Blank);
    lines.insert(lines.len() / 3, Line::Header);
    lines.push(Line::Separators);
    lines
}

fn sales_file(g: &mut Gen, cards: &[String], month: u32, size: usize, enc: Enc) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut seconds = 9 * 3600;
    let days = if month == 4 { 30 } else { 31 };
    for i in 0..size + 12 {
        let rng = &mut g.rng;
        let day = 1 + (i * days as usize / (size + 12)) as u32;
        seconds = (seconds + rng.random_range(30..900)) % (10 * 3600) + 9 * 3600;
        let with_seconds = rng.random_bool(0.5);
        let s = if with_seconds {
            seconds
        } else {
            seconds - seconds % 60
        };
        let (h, mi, se) = (s / 3600, s % 3600 / 60, s % 60);
        let time = match rng.random_range(0..4u8) {
            _ if with_seconds => format!("{h:02}:{mi:02}:{se:02}"),
            0 => format!("{h}h{mi:02}"),
            _ => format!("{h:02}:{mi:02}"),
        };
        let time_key = format!("{h:02}:{mi:02}:{se:02}");
        let card = cards[rng.random_range(0..cards.len())].clone();
        let (article, ean, cat, unit, public, dfc) = ARTICLES[rng.random_range(0..ARTICLES.len())];
        let (q, qtext): (f64, String) = match (unit, rng.random_range(0..10u8)) {
            (_, 0) => (-1.0, "-1".into()),
            ("kg", 1..=4) => (1.5, "1,5".into()),
            ("kg", _) => (0.5, "0,5".into()),
            (_, 1..=3) => (2.0, "2".into()),
            _ => (1.0, "1".into()),
        };
        let donation = rng.random_range(0..8u8) == 0;
        let paid_unit = if donation { 0 } else { (public * 3 + 5) / 10 };
        let total = times(q, paid_unit);
        let public_text = match (donation, rng.random_bool(0.5)) {
            (true, true) => "Don BA".to_string(),
            (true, false) => "0".to_string(),
            _ => money(rng, public),
        };
        let date = render_date(rng, 2024, month, day);
        let iso = format!("2024-{month:02}-{day:02}");
        let remise = if donation { "" } else { "70" };
        let mut cells: Vec<String> = vec![
            date,
            time,
            card.clone(),
            article.into(),
            ean.into(),
            cat.into(),
            qtext,
            unit.into(),
            public_text,
            money(rng, paid_unit),
            remise.into(),
            money(rng, total),
        ];
        let norm_unit = match unit {
            "L" => "l",
            "pce" => "piece",
            u => u,
        };
        let mut v = BTreeMap::new();
        v.insert("product".into(), json!(article));
        v.insert("dfc_type".into(), json!(dfc));
        v.insert("quantity".into(), json!(q));
        v.insert("unit".into(), json!(norm_unit));
        v.insert("date".into(), json!(iso));
        v.insert("time".into(), json!(time_key));
        v.insert("channel".into(), json!("grocery"));
        v.insert("food_bank_donation".into(), json!(donation));
        v.insert(
            "reference_price_cents".into(),
            json!(if donation { 0 } else { times(q, public) }),
        );
        v.insert("price_paid_cents".into(), json!(total));
        let key = format!("{GROCERY}|{iso}|{time_key}|{card}|{article}|{}", qkey(q));
        let mut fate = Fate::Stored(key, v);
        // The deliberately odd lines, at fixed positions of each file.
        match i {
            2 => {
                cells[0] = "31/02/2024".into();
                fate = Fate::Rejected("invalid_date", "Date");
            }
            4 => {
                cells[2] = "NC".into();
                fate = Fate::Rejected("missing_required", "N° carte");
            }
            5 => {
                cells[6] = "deux".into();
                fate = Fate::Rejected("invalid_quantity", "Qté");
            }
            6 => {
                cells[11] = "abc".into();
                fate = Fate::Rejected("invalid_amount", "Total");
            }
            7 if !donation => {
                cells[8] = "n/a".into();
                fate = Fate::Rejected("invalid_amount", "PU public");
            }
            8 => {
                cells[1] = "25:61".into();
                fate = Fate::Rejected("invalid_date", "Heure");
            }
            9 => {
                cells[3] = String::new();
                fate = Fate::Rejected("missing_required", "Article");
            }
            10 => {
                // Unreadable `PU payé` beside a good `Total`: stored.
                cells[9] = "??".into();
                if let Fate::Stored(_, v) = &mut fate {
                    v.insert("unit_price_paid_cents".into(), Value::Null);
                }
            }
            11 if enc == Enc::Utf8Bom => {
                // Mojibake inside the UTF-8 file, repaired to the same article.
                cells[3] = article
                    .replace('é', "Ã©")
                    .replace('è', "Ã¨")
                    .replace('â', "Ã¢");
            }
            _ => {}
        }
        let mut bytes: Vec<Vec<u8>> = cells.iter().map(|c| encode(c, enc)).collect();
        if i % 11 == 3 {
            bytes.push(Vec::new());
        }
        lines.push(Line::Row { cells: bytes, fate });
    }
    // A big amount with U+202F thousands (UTF-8 file only: not in Windows-1252).
    if enc == Enc::Utf8Bom {
        let card = cards[0].clone();
        let mut v = BTreeMap::new();
        v.insert("reference_price_cents".into(), json!(105_000));
        v.insert("price_paid_cents".into(), json!(31_500));
        v.insert("dfc_type".into(), json!("unclassified"));
        let cells = [
            format!("28/{month:02}/2024"),
            "18:00:00".into(),
            card.clone(),
            "Panier garni".into(),
            String::new(),
            "Divers".into(),
            "1".into(),
            "pce".into(),
            "1\u{202f}050,00 €".into(),
            "315,00 €".into(),
            "70".into(),
            "315,00 €".into(),
        ];
        lines.push(Line::Row {
            cells: cells.iter().map(|c| encode(c, enc)).collect(),
            fate: Fate::Stored(
                format!("{GROCERY}|2024-{month:02}-28|18:00:00|{card}|Panier garni|1"),
                v,
            ),
        });
    }
    // A re-exported block.
    let block: Vec<Line> = lines[12..15].to_vec();
    lines.extend(block);
    let n = lines.len();
    lines.insert(n / 4, Line::Blank);
    lines.insert(n / 2, Line::Header);
    lines.insert(3 * n / 4, Line::Separators);
    lines.push(Line::Total);
    lines
}

fn render(header: &str, lines: &[Line], enc: Enc, crlf: bool) -> Vec<u8> {
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::new();
    if enc == Enc::Utf8Bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let cols = header.split(';').count();
    let header_bytes: Vec<u8> = match enc {
        Enc::Utf8Bom => header.as_bytes().to_vec(),
        Enc::Cp1252 => header
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect(),
    };
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(eol);
    for line in lines {
        match line {
            Line::Row { cells, .. } => out.extend(cells.join(&b';')),
            Line::Blank => {}
            Line::Separators => out.extend(vec![b';'; cols - 1]),
            Line::Header => out.extend_from_slice(&header_bytes),
            Line::Total => out.extend_from_slice(b"TOTAL;;;;;;;;;;;123,45"),
        }
        out.extend_from_slice(eol);
    }
    out
}

fn numbered(lines: &[Line]) -> impl Iterator<Item = (u64, &Fate)> {
    lines.iter().enumerate().filter_map(|(i, l)| match l {
        Line::Row { fate, .. } => Some((i as u64 + 2, fate)),
        _ => None,
    })
}

pub fn write(out: &Path, seed: u64, size: usize) -> anyhow::Result<FileSet> {
    write_in(out, seed, size, Territory::Lyon)
}

/// The same files for cards of households living in `territory`'s communes
/// (the row-level expectations describe Lyon's).
pub fn write_in(
    out: &Path,
    seed: u64,
    size: usize,
    territory: Territory,
) -> anyhow::Result<FileSet> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x06E5),
        raw: Vec::new(),
        territory,
    };
    let size = size.max(20);
    let n_cards = (size / 3).max(12);
    let cards: Vec<String> = (0..n_cards).map(|i| format!("UGC{}", 60_000 + i)).collect();
    g.raw.extend(cards.iter().cloned());
    let cards_lines = cards_file(&mut g, &cards);
    // Sales also come from a card that is not in the register: stored.
    let mut sale_cards = cards.clone();
    sale_cards.push("UGC69999".into());
    g.raw.push("UGC69999".into());
    let march = sales_file(&mut g, &sale_cards, 3, size, Enc::Utf8Bom);
    let april = sales_file(&mut g, &sale_cards, 4, size, Enc::Cp1252);
    // The corrected March re-send: the `31/02/2024` line fixed, one line gone.
    let mut fixed = Vec::new();
    let mut valid = 0;
    for l in &march {
        match l {
            Line::Row {
                cells,
                fate: Fate::Rejected("invalid_date", "Date"),
            } => {
                let mut cells = cells.clone();
                cells[0] = b"29/02/2024".to_vec();
                let v = BTreeMap::from([("date".to_string(), json!("2024-02-29"))]);
                let time = String::from_utf8_lossy(&cells[1]).to_string();
                let (h, m) = time.split_once([':', 'h']).unwrap_or(("0", "0"));
                let (m, s) = m.split_once(':').unwrap_or((m, "00"));
                let h: u32 = h.parse().unwrap_or(0);
                let time_key = format!("{h:02}:{m}:{s}");
                let card = String::from_utf8_lossy(&cells[2]).to_string();
                let article = String::from_utf8_lossy(&cells[3]).to_string();
                let q: f64 = String::from_utf8_lossy(&cells[6])
                    .replace(',', ".")
                    .parse()
                    .unwrap_or(0.0);
                let key = format!(
                    "{GROCERY}|2024-02-29|{time_key}|{card}|{article}|{}",
                    qkey(q)
                );
                fixed.push(Line::Row {
                    cells,
                    fate: Fate::Stored(key, v),
                });
            }
            Line::Row {
                fate: Fate::Stored(..),
                ..
            } => {
                valid += 1;
                if valid != 7 {
                    fixed.push(l.clone());
                }
            }
            other => fixed.push(other.clone()),
        }
    }

    let files = [
        (
            "beneficiaires_bron.csv",
            CARDS_HEADER,
            &cards_lines,
            Enc::Cp1252,
            true,
            "households",
        ),
        (
            "ventes_bron_2024-03.csv",
            SALES_HEADER,
            &march,
            Enc::Utf8Bom,
            false,
            "order_lines",
        ),
        (
            "ventes_bron_2024-04.csv",
            SALES_HEADER,
            &april,
            Enc::Cp1252,
            true,
            "order_lines",
        ),
        (
            "ventes_bron_2024-03.csv",
            SALES_HEADER,
            &fixed,
            Enc::Utf8Bom,
            false,
            "order_lines",
        ),
    ];
    std::fs::create_dir_all(out.join("resend"))?;
    let mut paths = Vec::new();
    let mut tables: BTreeMap<String, BTreeMap<String, (String, usize, u64)>> = BTreeMap::new();
    // Open entries: those of each file's latest version.
    let mut by_file: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut rows_total = 0;
    for (i, (name, header, lines, enc, crlf, table)) in files.iter().enumerate() {
        let path = if i == 3 {
            out.join("resend").join(name)
        } else {
            out.join(name)
        };
        std::fs::write(&path, render(header, lines, *enc, *crlf))?;
        paths.push(path);
        let t = tables.entry((*table).to_string()).or_default();
        t.retain(|_, (origin, _, _)| origin != name);
        let quarantined = by_file.entry((*name).to_string()).or_default();
        quarantined.clear();
        for (line, fate) in numbered(lines) {
            rows_total += 1;
            match fate {
                Fate::Stored(k, _) => {
                    t.insert(k.clone(), ((*name).to_string(), i, line));
                }
                Fate::Rejected(reason, _) => *quarantined.entry((*reason).into()).or_default() += 1,
            }
        }
    }
    let mut rows = Vec::new();
    for (i, (name, _, lines, _, _, table)) in files.iter().enumerate() {
        if i == 1 {
            continue; // replaced by its re-send
        }
        let mut checked = 0;
        for (line, fate) in numbered(lines) {
            let outcome = match fate {
                Fate::Rejected(reason, field) => Outcome::Quarantined {
                    reason: (*reason).into(),
                    field: (*field).into(),
                },
                Fate::Stored(k, v) => {
                    let owner = tables.get(*table).and_then(|t| t.get(k));
                    if checked >= 15 || !owner.is_some_and(|(_, f, l)| *f == i && *l == line) {
                        continue;
                    }
                    checked += 1;
                    Outcome::Stored {
                        table: (*table).into(),
                        key: k.clone(),
                        values: v.clone(),
                    }
                }
            };
            rows.push(ExpectedRow {
                file: (*name).into(),
                line,
                outcome,
            });
        }
    }
    Ok(FileSet {
        connector: CONNECTOR.into(),
        files: paths,
        rows_total,
        stored: tables.iter().map(|(t, k)| (t.clone(), k.len())).collect(),
        quarantined: sum_by_reason(by_file.into_values()),
        raw_person_values: g.raw,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("vivres-sim-ugess-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn deterministic_and_consistent() {
        let (a, b) = (tmp("a"), tmp("b"));
        let sa = write(&a, 11, 50).unwrap();
        let sb = write(&b, 11, 50).unwrap();
        for (fa, fb) in sa.files.iter().zip(&sb.files) {
            assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        }
        assert_eq!(sa.files.len(), 4);
        assert_eq!(sa.stored, sb.stored);
        assert_eq!(sa.quarantined, sb.quarantined);
        let q: usize = sa.quarantined.values().sum();
        // The re-sent file's first version counts no more.
        assert!(q >= 8 + 2 * 5, "{q}");
        assert!(sa.stored["order_lines"] > 80);
        assert!(sa.stored["households"] >= 8);
        let march = std::fs::read(&sa.files[1]).unwrap();
        assert!(march.starts_with(b"\xEF\xBB\xBF"));
        assert!(String::from_utf8(march).unwrap().contains("Don BA"));
        let cards = std::fs::read(&sa.files[0]).unwrap();
        assert!(cards.contains(&0x80) || cards.windows(4).any(|w| w == b"1000"));
        assert!(sa.rows.iter().any(|r| matches!(&r.outcome, Outcome::Quarantined { reason, .. } if reason == "invalid_quantity")));
        let _ = std::fs::remove_dir_all(a);
        let _ = std::fs::remove_dir_all(b);
    }
}

#[cfg(test)]
mod dump {
    /// `VIVRES_SIM_DUMP=dir cargo test -p vivres-tests dump_files -- --ignored`:
    /// writes both networks' files and their FileSet JSON, to check a connector by hand.
    #[test]
    #[ignore]
    fn dump_files() {
        let Ok(dir) = std::env::var("VIVRES_SIM_DUMP") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        for (name, set) in [
            (
                "secours",
                super::super::secours::write(&dir.join("secours"), 3, 200),
            ),
            ("ugess", super::write(&dir.join("ugess"), 3, 200)),
        ] {
            let set = set.unwrap();
            std::fs::write(
                dir.join(format!("{name}.json")),
                serde_json::to_string_pretty(&set).unwrap(),
            )
            .unwrap();
        }
    }
}
