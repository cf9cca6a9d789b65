//! Hand-checked farms: every special rule, both share units, both JSON shapes,
//! not assessed ≠ 0, the real calculator export (4.2.8), and exports of the
//! calculator's other item layouts (4.2.1, 4.2.9).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use vivres_sdk::inbox::InboxFile;
use vivres_sdk::model::{Diagnostic, Entity, Item, RejectReason, ScoreLevel, SiteKind};

use crate::diagnostic::read_file;
use crate::idea4::Method;

fn method() -> Method {
    Method::load().expect("embedded idea4.csv")
}

const REAL: &[u8] = include_bytes!("../data/idea4_626547.json");
/// Written for these tests in the layout of a real calculator 4.2.1 export
/// (as IDEATools' `idea_example_1.json`): scalars, numbers as numbers,
/// `MTD_11` as `NN - name`, and its own item list (A8: 2 items, A15: 3,
/// A17: 2, B1: 3, B12: 2, B19: 6; 118 items).
const CALC_4_2_1: &[u8] = include_bytes!("../data/idea4_200417.json");
/// Written for these tests in the layout of a real calculator 4.2.9 export
/// (as IDEATools' `idea_example_2.json`): one-element arrays, 119 items.
const CALC_4_2_9: &[u8] = include_bytes!("../data/idea4_580311.json");

/// Items per indicator in a 4.2.8 export (the real one above), the layout the
/// synthetic farms below are written in.
const ITEMS_4_2_8: [(&str, u32); 53] = [
    ("A1", 2),
    ("A2", 3),
    ("A3", 1),
    ("A4", 2),
    ("A5", 3),
    ("A6", 3),
    ("A7", 2),
    ("A8", 1),
    ("A9", 1),
    ("A10", 1),
    ("A11", 1),
    ("A12", 3),
    ("A13", 3),
    ("A14", 2),
    ("A15", 4),
    ("A16", 3),
    ("A17", 4),
    ("A18", 1),
    ("A19", 2),
    ("B1", 2),
    ("B2", 2),
    ("B3", 3),
    ("B4", 1),
    ("B5", 3),
    ("B6", 2),
    ("B7", 3),
    ("B8", 3),
    ("B9", 3),
    ("B10", 4),
    ("B11", 3),
    ("B12", 3),
    ("B13", 2),
    ("B14", 3),
    ("B15", 2),
    ("B16", 4),
    ("B17", 3),
    ("B18", 3),
    ("B19", 5),
    ("B20", 2),
    ("B21", 1),
    ("B22", 2),
    ("B23", 2),
    ("C1", 2),
    ("C2", 1),
    ("C3", 1),
    ("C4", 2),
    ("C5", 3),
    ("C6", 1),
    ("C7", 1),
    ("C8", 1),
    ("C9", 2),
    ("C10", 1),
    ("C11", 1),
];

fn diag(item: &Item) -> &Diagnostic {
    match &item.entity {
        Entity::Diagnostic(d) => d,
        other => panic!("not a diagnostic: {other:?}"),
    }
}

fn level(d: &Diagnostic, level: ScoreLevel) -> BTreeMap<String, Option<f64>> {
    d.scores
        .iter()
        .filter(|s| s.level == level)
        .map(|s| (s.code.clone(), s.value))
        .collect()
}

fn ind(d: &Diagnostic, code: &str) -> Option<f64> {
    level(d, ScoreLevel::Indicator)[code]
}

fn read(json: &Value) -> Item {
    let bytes = serde_json::to_vec(json).unwrap();
    read_file(&method(), "idea4_F1.json", &bytes).expect("a diagnostic")
}

/// Every item of a 4.2.8 export at 1, scalar shape, calculator 4.3.1,
/// herbivores, share 50 %, pesticide use; `meta` and `items` override (an
/// item `-IDEA_…` with a null value is removed).
fn farm(meta: &[(&str, Value)], items: &[(&str, Value)]) -> Value {
    let mut its = Map::new();
    for (code, n) in ITEMS_4_2_8 {
        for k in 1..=n {
            its.insert(crate::idea4::item_code(code, k), json!(1));
        }
    }
    for (k, v) in items {
        if v.is_null() && k.starts_with('-') {
            its.remove(&k[1..]);
        } else {
            its.insert(k.to_string(), v.clone());
        }
    }
    let mut md = Map::new();
    for (k, v) in [
        ("MTD_00", json!("4.3.1")),
        ("MTD_01", json!("F1")),
        ("MTD_13", json!("2023")),
        ("MTD_14", json!("2")),
        ("MTD_15", json!(50)),
        ("MTD_16", json!("1")),
    ] {
        md.insert(k.into(), v);
    }
    for (k, v) in meta {
        md.insert(k.to_string(), v.clone());
    }
    json!({"metadonnees": md, "items": its})
}

#[test]
fn the_real_calculator_export_reads_as_is() {
    let item = read_file(&method(), "idea4_626547.json", REAL).unwrap();
    assert_eq!(item.key, "626547/2020");
    assert_eq!(item.origin.as_deref(), Some("idea4_626547.json"));
    let d = diag(&item);
    assert_eq!(d.farm, "626547");
    assert_eq!(d.method, "IDEA4");
    assert_eq!(d.method_version, "4.2.8");
    assert_eq!(d.survey_year, "2020");
    assert_eq!(d.area_ha, Some(25.6));
    assert_eq!(d.workers, Some(13.0));
    assert_eq!(
        d.farm_type.as_deref(),
        Some("2800 - Maraîchage et champignon")
    );
    assert_eq!(d.departement.as_deref(), Some("42"));
    // Computed by hand from the file (monogastrics, pesticide use, 4.2.8: share 0.6 %).
    let expected_indicators = [
        ("A1", 5.0),
        ("A2", 5.0),
        ("A3", 4.0),
        ("A4", 5.0),
        ("A5", 5.0),
        ("A6", 4.0),
        ("A7", 0.0),
        ("A8", 8.0),
        ("A9", 2.0),
        ("A10", 8.0),
        ("A11", 5.0),
        ("A12", 7.0),
        ("A13", 8.0),
        ("A14", 2.0),
        ("A15", 1.0),
        ("A16", 6.0),
        ("A17", 4.0),
        ("A18", 6.0),
        ("A19", 5.0),
        ("B1", 6.0),
        ("B2", 6.0),
        ("B3", 6.0),
        ("B4", 6.0),
        ("B5", 6.0),
        ("B6", 0.0),
        ("B7", 2.0),
        ("B8", 2.0),
        ("B9", 5.0),
        ("B10", 3.0),
        ("B11", 2.0),
        ("B12", 2.0),
        ("B13", 3.0),
        ("B14", 6.0),
        ("B15", 3.0),
        ("B16", 4.0),
        ("B17", 4.0),
        ("B18", 5.0),
        ("B19", 5.0),
        ("B20", 4.0),
        ("B21", 4.0),
        ("B22", 6.0),
        ("B23", 5.0),
        ("C1", 4.0),
        ("C2", 0.0),
        ("C3", 3.0),
        ("C4", 0.0),
        ("C5", 3.0),
        ("C6", 0.0),
        ("C7", 0.0),
        ("C8", 8.0),
        ("C9", 7.0),
        ("C10", 12.0),
        ("C11", 0.0),
    ];
    let got = level(d, ScoreLevel::Indicator);
    assert_eq!(got.len(), 53);
    for (code, v) in expected_indicators {
        assert_eq!(got[code], Some(v), "{code}");
    }
    let comps = level(d, ScoreLevel::Component);
    let expected_components = [
        ("COMP1", 20.0),
        ("COMP2", 12.0),
        ("COMP3", 15.0),
        ("COMP4", 18.0),
        ("COMP5", 20.0),
        ("COMP6", 25.0),
        ("COMP7", 19.0),
        ("COMP8", 22.0),
        ("COMP9", 24.0),
        ("COMP10", 7.0),
        ("COMP11", 3.0),
        ("COMP12", 15.0),
        ("COMP13", 12.0),
    ];
    for (code, v) in expected_components {
        assert_eq!(comps[code], Some(v), "{code}");
    }
    let dims = level(d, ScoreLevel::Dimension);
    assert_eq!(dims["A"], Some(85.0));
    assert_eq!(dims["B"], Some(90.0));
    assert_eq!(dims["C"], Some(37.0));
    assert_eq!(dims.len(), 3, "no overall score");
    // Items keep the file's codes and values (a negative item too).
    let items = level(d, ScoreLevel::Item);
    assert_eq!(items["IDEA_A15_4"], Some(-2.0));
    assert_eq!(items["IDEA_C11_1"], Some(0.0));
    // Maxima.
    let max = |code: &str| d.scores.iter().find(|s| s.code == code).and_then(|s| s.max);
    assert_eq!(max("A14"), Some(4.0));
    assert_eq!(max("COMP10"), Some(35.0));
    assert_eq!(max("C"), Some(100.0));
}

/// Checks every indicator, component and dimension of `d`.
/// `indicators` and `components` are `CODE=value` words.
fn assert_scores(d: &Diagnostic, indicators: &str, components: &str, dimensions: [f64; 3]) {
    for (expected, lvl, n) in [
        (indicators, ScoreLevel::Indicator, 53),
        (components, ScoreLevel::Component, 13),
    ] {
        let got = level(d, lvl);
        let words: Vec<&str> = expected.split_whitespace().collect();
        assert_eq!((got.len(), words.len()), (n, n));
        for w in words {
            let (code, v) = w.split_once('=').unwrap();
            assert_eq!(got[code], Some(v.parse().unwrap()), "{} {code}", d.farm);
        }
    }
    let dims = level(d, ScoreLevel::Dimension);
    assert_eq!(
        [dims["A"], dims["B"], dims["C"]],
        dimensions.map(Some),
        "{}",
        d.farm
    );
}

/// Each calculator version exports its own items per indicator: every
/// indicator is computed from the items its file holds (expected values
/// computed from §4's rules by a separate script, not by this crate).
#[test]
fn exports_of_several_calculator_versions() {
    // 4.2.1: herbivores, pesticide use, share 0.82 as a fraction (A5 = 5, A8 the sum).
    let item = read_file(&method(), "idea4_200417.json", CALC_4_2_1).unwrap();
    assert_eq!(item.key, "200417/2021");
    let d = diag(&item);
    assert_eq!(d.method_version, "4.2.1");
    assert_eq!(d.departement.as_deref(), Some("69"), "`69 - Rhône`");
    assert_eq!(d.area_ha, Some(54.5));
    let items = level(d, ScoreLevel::Item);
    assert_eq!(items.len(), 118, "the file's items, no more");
    assert!(items.contains_key("IDEA_A15_3") && !items.contains_key("IDEA_A15_4"));
    assert!(items.contains_key("IDEA_A08_2") && items.contains_key("IDEA_B19_6"));
    assert_scores(
        d,
        "A1=5 A2=5 A3=0 A4=3 A5=5 A6=5 A7=1 A8=3 A9=1 A10=5 A11=1 A12=3 A13=6 A14=2 A15=4 \
         A16=2 A17=5 A18=2 A19=0 B1=5 B2=2 B3=6 B4=1 B5=4 B6=3 B7=3 B8=5 B9=5 B10=3 B11=3 \
         B12=2 B13=2 B14=6 B15=6 B16=6 B17=2 B18=5 B19=6 B20=2 B21=3 B22=2 B23=4 C1=15 \
         C2=7 C3=2 C4=5 C5=4 C6=1 C7=1 C8=8 C9=2 C10=2 C11=3",
        "COMP1=18 COMP2=9 COMP3=7 COMP4=15 COMP5=9 COMP6=18 COMP7=25 COMP8=25 COMP9=17 \
         COMP10=24 COMP11=11 COMP12=10 COMP13=5",
        [58.0, 85.0, 50.0],
    );

    // 4.2.9: no livestock, no pesticide use (A14 = 4), share 0 % as a percentage.
    let item = read_file(&method(), "idea4_580311.json", CALC_4_2_9).unwrap();
    assert_eq!(item.key, "580311/2022");
    let d = diag(&item);
    assert_eq!(d.departement.as_deref(), Some("01"));
    assert_eq!(level(d, ScoreLevel::Item).len(), 119);
    assert_scores(
        d,
        "A1=2 A2=5 A3=3 A4=3 A5=2 A6=6 A7=0 A8=5 A9=0 A10=5 A11=4 A12=8 A13=7 A14=4 A15=3 \
         A16=6 A17=3 A18=0 A19=0 B1=6 B2=3 B3=6 B4=2 B5=3 B6=0 B7=3 B8=5 B9=3 B10=3 B11=2 \
         B12=3 B13=2 B14=6 B15=0 B16=6 B17=5 B18=3 B19=3 B20=3 B21=3 B22=5 B23=1 C1=10 \
         C2=0 C3=2 C4=7 C5=10 C6=0 C7=1 C8=4 C9=8 C10=2 C11=4",
        "COMP1=15 COMP2=11 COMP3=9 COMP4=20 COMP5=9 COMP6=20 COMP7=21 COMP8=20 COMP9=15 \
         COMP10=12 COMP11=18 COMP12=12 COMP13=6",
        [64.0, 76.0, 48.0],
    );
}

#[test]
fn an_indicator_is_computed_from_the_items_the_file_holds() {
    // A 4.2.8 layout with the 4.2.1 item lists of A15, A17 and B12.
    let d = read(&farm(
        &[],
        &[
            ("IDEA_A15_1", json!(2)),
            ("-IDEA_A15_4", Value::Null),
            ("-IDEA_A17_3", Value::Null),
            ("-IDEA_A17_4", Value::Null),
            ("-IDEA_B12_3", Value::Null),
        ],
    ));
    let d = diag(&d);
    assert_eq!(ind(d, "A15"), Some(4.0), "2 + 1 + 1");
    assert_eq!(ind(d, "A17"), Some(2.0));
    assert_eq!(ind(d, "B12"), Some(2.0));
    let dims = level(d, ScoreLevel::Dimension);
    assert!(dims["A"].is_some() && dims["B"].is_some() && dims["C"].is_some());
    let items = level(d, ScoreLevel::Item);
    assert!(
        !items.contains_key("IDEA_A15_4"),
        "no item the file does not hold"
    );
    assert_eq!(items["IDEA_A15_1"], Some(2.0));
    // More items than another version exports count too.
    let d = read(&farm(&[], &[("IDEA_B19_6", json!(2))]));
    assert_eq!(ind(diag(&d), "B19"), Some(6.0), "5 × 1 + 2 bounded to 6");
    // A rule that names an item the file does not hold: A1 without item 2 is
    // the sum; A7 of monogastrics (item 2) is not assessed.
    let d = read(&farm(
        &[("MTD_14", json!("1"))],
        &[
            ("IDEA_A01_1", json!(3)),
            ("-IDEA_A01_2", Value::Null),
            ("-IDEA_A07_2", Value::Null),
        ],
    ));
    assert_eq!(ind(diag(&d), "A1"), Some(3.0));
    assert_eq!(ind(diag(&d), "A7"), None);
}

#[test]
fn departement_codes() {
    use crate::diagnostic::parse_departement;
    assert_eq!(parse_departement("42"), "42");
    assert_eq!(parse_departement("1"), "01");
    assert_eq!(parse_departement("32 - Gers"), "32");
    assert_eq!(parse_departement("2a - Corse-du-Sud"), "2A");
    assert_eq!(parse_departement("974"), "974");
    assert_eq!(parse_departement("Gers"), "Gers");
}

#[test]
fn a1_is_4_when_item_2_is_4() {
    let d = read(&farm(
        &[],
        &[("IDEA_A01_1", json!(3)), ("IDEA_A01_2", json!(4))],
    ));
    assert_eq!(ind(diag(&d), "A1"), Some(4.0));
    let d = read(&farm(
        &[],
        &[("IDEA_A01_1", json!(0)), ("IDEA_A01_2", json!(3))],
    ));
    assert_eq!(ind(diag(&d), "A1"), Some(3.0));
    let d = read(&farm(
        &[],
        &[("IDEA_A01_1", json!(4)), ("IDEA_A01_2", json!(3))],
    ));
    assert_eq!(ind(diag(&d), "A1"), Some(5.0), "7 bounded to 5");
}

#[test]
fn a5_before_4_3_0_with_both_share_units() {
    // 4.2.4: a fraction; 0.75 is enough.
    let d = read(&farm(
        &[("MTD_00", json!("4.2.4")), ("MTD_15", json!(0.75))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), Some(5.0));
    let d = read(&farm(
        &[("MTD_00", json!("4.2.4")), ("MTD_15", json!("0,74"))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), Some(3.0));
    // 4.2.5 on: a percentage.
    let d = read(&farm(
        &[("MTD_00", json!("4.2.5")), ("MTD_15", json!("75"))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), Some(5.0));
    let d = read(&farm(
        &[("MTD_00", json!("4.2.10")), ("MTD_15", json!(74.9))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), Some(3.0));
    // A percentage of 0.8 is 0.008: not grassland.
    let d = read(&farm(
        &[("MTD_00", json!("4.2.8")), ("MTD_15", json!(0.8))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), Some(3.0));
    // 4.3.0 on: the sum, whatever the share.
    let d = read(&farm(
        &[("MTD_00", json!("4.3.0")), ("MTD_15", json!(100))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), Some(3.0));
    // Before 4.3.0 without a share: not assessable.
    let d = read(&farm(
        &[("MTD_00", json!("4.2.8")), ("MTD_15", json!(""))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A5"), None);
    assert_eq!(level(diag(&d), ScoreLevel::Component)["COMP1"], None);
}

#[test]
fn a7_by_livestock() {
    let items = [("IDEA_A07_1", json!(5)), ("IDEA_A07_2", json!(0))];
    let d = read(&farm(&[("MTD_14", json!("0"))], &items));
    assert_eq!(ind(diag(&d), "A7"), Some(0.0));
    let d = read(&farm(
        &[("MTD_14", json!("1 - monogastrique"))],
        &[("IDEA_A07_1", json!(5)), ("IDEA_A07_2", json!(6))],
    ));
    assert_eq!(ind(diag(&d), "A7"), Some(6.0));
    // round(0.7 × 5 + 0.3 × 0) = round(3.5) = 4, half up despite binary noise.
    let d = read(&farm(&[("MTD_14", json!(2))], &items));
    assert_eq!(ind(diag(&d), "A7"), Some(4.0));
    let d = read(&farm(
        &[("MTD_14", json!("2 - herbivore"))],
        &[("IDEA_A07_1", json!(3)), ("IDEA_A07_2", json!(4))],
    ));
    assert_eq!(ind(diag(&d), "A7"), Some(3.0), "2.1 + 1.2 = 3.3");
    // Unknown livestock: not assessable (A7, A14, A19, B2, B23).
    let d = read(&farm(&[("MTD_14", Value::Null)], &items));
    for code in ["A7", "A19", "B2", "B23"] {
        assert_eq!(ind(diag(&d), code), None, "{code}");
    }
    // An unreadable livestock label is quarantined.
    let bytes = serde_json::to_vec(&farm(&[("MTD_14", json!("beaucoup"))], &[])).unwrap();
    let r = read_file(&method(), "idea4_F1.json", &bytes).unwrap_err();
    assert_eq!(
        (r.reason, r.field.as_str()),
        (RejectReason::UnknownLabel, "MTD_14")
    );
}

#[test]
fn a8_up_to_4_3_0() {
    let d = read(&farm(
        &[("MTD_00", json!("4.3.0")), ("MTD_15", json!(96))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A8"), Some(8.0));
    let d = read(&farm(
        &[("MTD_00", json!("4.3.0")), ("MTD_15", json!(95))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A8"), Some(1.0), "95 % is not above 0.95");
    let d = read(&farm(
        &[("MTD_00", json!("4.2.0")), ("MTD_15", json!("0.96"))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A8"), Some(8.0));
    let d = read(&farm(
        &[("MTD_00", json!("4.3.1")), ("MTD_15", json!(100))],
        &[],
    ));
    assert_eq!(ind(diag(&d), "A8"), Some(1.0));
}

#[test]
fn a14_a19_b2_b23() {
    let items = [
        ("IDEA_A14_1", json!(3)),
        ("IDEA_A14_2", json!(1)),
        ("IDEA_A19_1", json!(5)),
        ("IDEA_A19_2", json!(2)),
        ("IDEA_B02_1", json!(5)),
        ("IDEA_B02_2", json!(2)),
        ("IDEA_B23_1", json!(3)),
        ("IDEA_B23_2", json!(2)),
    ];
    // No pesticide: A14 = 4 whatever the items.
    let d = read(&farm(&[("MTD_16", json!("0"))], &items));
    assert_eq!(ind(diag(&d), "A14"), Some(4.0));
    // Pesticides, no livestock: item 1 (A14, A19), item 2 (B2, B23).
    let d = read(&farm(&[("MTD_14", json!("0"))], &items));
    let d = diag(&d);
    assert_eq!(ind(d, "A14"), Some(3.0));
    assert_eq!(ind(d, "A19"), Some(5.0));
    assert_eq!(ind(d, "B2"), Some(2.0));
    assert_eq!(ind(d, "B23"), Some(2.0));
    // Livestock: the smallest item (A14, A19), item 1 (B2), the rounded mean (B23: 2.5 → 3).
    let d = read(&farm(&[("MTD_14", json!("1"))], &items));
    let d = diag(&d);
    assert_eq!(ind(d, "A14"), Some(1.0));
    assert_eq!(ind(d, "A19"), Some(2.0));
    assert_eq!(ind(d, "B2"), Some(5.0));
    assert_eq!(ind(d, "B23"), Some(3.0));
    // Unknown pesticide use: A14 not assessable.
    let d = read(&farm(&[("MTD_16", json!(""))], &items));
    assert_eq!(ind(diag(&d), "A14"), None);
}

#[test]
fn not_assessed_is_never_zero_and_propagates() {
    for blank in [
        json!(""),
        Value::Null,
        json!([]),
        json!([null]),
        json!([""]),
    ] {
        let d = read(&farm(&[], &[("IDEA_B16_3", blank.clone())]));
        let d = diag(&d);
        assert_eq!(ind(d, "B16"), None, "{blank}");
        assert_eq!(level(d, ScoreLevel::Item)["IDEA_B16_3"], None);
        assert_eq!(level(d, ScoreLevel::Component)["COMP8"], None);
        assert_eq!(level(d, ScoreLevel::Component)["COMP9"], Some(11.0));
        assert_eq!(level(d, ScoreLevel::Dimension)["B"], None);
        assert!(level(d, ScoreLevel::Dimension)["A"].is_some());
    }
    // No item at all in the file: missing.
    let d = read(&farm(
        &[],
        &[("-IDEA_C09_1", Value::Null), ("-IDEA_C09_2", Value::Null)],
    ));
    let d = diag(&d);
    assert_eq!(ind(d, "C9"), None);
    assert_eq!(level(d, ScoreLevel::Component)["COMP12"], None);
    assert_eq!(level(d, ScoreLevel::Dimension)["C"], None);
    assert!(!level(d, ScoreLevel::Item).contains_key("IDEA_C09_1"));
    // A real 0 is a score.
    let d = read(&farm(
        &[],
        &[("IDEA_C09_1", json!(0)), ("IDEA_C09_2", json!("0"))],
    ));
    assert_eq!(ind(diag(&d), "C9"), Some(0.0));
}

#[test]
fn bounds_and_rounding() {
    // Negative sum → 0.
    let d = read(&farm(
        &[],
        &[
            ("IDEA_A15_1", json!(0)),
            ("IDEA_A15_2", json!(0)),
            ("IDEA_A15_3", json!(0)),
            ("IDEA_A15_4", json!(-2)),
        ],
    ));
    assert_eq!(ind(diag(&d), "A15"), Some(0.0));
    // Decimal items, as strings with a comma: 1,5 + 1 = 2.5 → 3.
    let d = read(&farm(
        &[],
        &[("IDEA_A04_1", json!("1,5")), ("IDEA_A04_2", json!(["1"]))],
    ));
    assert_eq!(ind(diag(&d), "A4"), Some(3.0));
    // A component above its maximum is bounded: COMP1 all items 5 → 25 → 20.
    let many: Vec<(String, Value)> = [
        "IDEA_A01_1",
        "IDEA_A02_1",
        "IDEA_A03_1",
        "IDEA_A04_1",
        "IDEA_A05_1",
    ]
    .iter()
    .map(|c| (c.to_string(), json!(5)))
    .collect();
    let refs: Vec<(&str, Value)> = many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let d = read(&farm(&[], &refs));
    assert_eq!(level(diag(&d), ScoreLevel::Component)["COMP1"], Some(20.0));
    // With every item at 1 (herbivores, 4.3.1): dimension A is the sum of its components.
    let d = read(&farm(&[], &[]));
    let d = diag(&d);
    let comps = level(d, ScoreLevel::Component);
    let a: f64 = ["COMP1", "COMP2", "COMP3", "COMP4", "COMP5"]
        .iter()
        .map(|c| comps[*c].unwrap())
        .sum();
    assert_eq!(level(d, ScoreLevel::Dimension)["A"], Some(a));
}

#[test]
fn both_json_shapes_and_numbers_as_strings_agree() {
    let arrays = String::from_utf8(REAL.to_vec()).unwrap();
    let doc: Value = serde_json::from_str(&arrays).unwrap();
    // Unwrap every one-element array into a scalar, numbers into strings.
    fn flatten(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), flatten(v))).collect())
            }
            Value::Array(a) if a.len() == 1 => flatten(&a[0]),
            Value::Number(n) => Value::String(n.to_string().replace('.', ",")),
            other => other.clone(),
        }
    }
    let scalars = serde_json::to_vec(&flatten(&doc)).unwrap();
    let a = read_file(&method(), "idea4_626547.json", REAL).unwrap();
    let b = read_file(&method(), "idea4_626547.json", &scalars).unwrap();
    assert_eq!(a.key, b.key);
    assert_eq!(diag(&a).scores, diag(&b).scores);
    assert_eq!(diag(&b).area_ha, Some(25.6));
}

#[test]
fn survey_year_range_and_farm_id_from_the_name() {
    let d = read(&farm(
        &[("MTD_13", json!(["2022-2023"])), ("MTD_01", Value::Null)],
        &[],
    ));
    assert_eq!(d.key, "F1/2022-2023");
    let bytes = serde_json::to_vec(&farm(&[("MTD_13", json!(""))], &[])).unwrap();
    let r = read_file(&method(), "idea4_F1.json", &bytes).unwrap_err();
    assert_eq!(
        (r.reason, r.field.as_str()),
        (RejectReason::MissingRequired, "MTD_13")
    );
}

#[test]
fn a_file_that_is_not_json_is_one_malformed_file_reject() {
    for body in [
        &b"{\"metadonnees\": {\"MTD_00\": [\"4.2"[..],
        b"",
        b"<html>",
        b"[1, 2]",
    ] {
        let r = read_file(&method(), "idea4_X.json", body).unwrap_err();
        assert_eq!(r.reason, RejectReason::MalformedFile);
        assert_eq!(r.field, "file");
        assert_eq!(r.origin.as_deref(), Some("idea4_X.json"));
        assert!(!r.raw.is_empty() || body.is_empty());
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vivres-civam-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn inbox_file(dir: &Path, seq: u64, name: &str, body: &[u8]) -> InboxFile {
    let id = format!("{seq:08}-{}", "a".repeat(64));
    let d = dir.join(&id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), body).unwrap();
    InboxFile {
        id,
        seq,
        sha256: "a".repeat(64),
        name: name.into(),
        path: d.join(name),
    }
}

#[test]
fn diagnostics_stream_batches_files_and_replaces_origins() {
    let dir = tmp("diag");
    let good = serde_json::to_vec(&farm(&[], &[])).unwrap();
    let files = vec![
        inbox_file(&dir, 1, "idea4_F1.json", &good),
        inbox_file(&dir, 2, "idea4_F2.json", b"{not json"),
        inbox_file(&dir, 3, "idea4_F1.json", &good),
    ];
    let b = crate::read_diagnostics(None, &files).unwrap();
    assert_eq!(b.items.len(), 1);
    assert_eq!(b.rejects.len(), 1);
    assert_eq!(b.rejects[0].reason, RejectReason::MalformedFile);
    assert_eq!(b.replace_origins, ["idea4_F1.json", "idea4_F2.json"]);
    assert!(b.more, "the re-sent F1 waits for the next batch");
    let b = crate::read_diagnostics(b.state.as_deref(), &files).unwrap();
    assert_eq!(b.items.len(), 1);
    assert_eq!(b.replace_origins, ["idea4_F1.json"]);
    assert!(!b.more);
    let b = crate::read_diagnostics(b.state.as_deref(), &files).unwrap();
    assert!(b.items.is_empty() && !b.more);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_farm_register() {
    let dir = tmp("farms");
    let body = "\u{feff}Identifiant;Nom;SIRET;CP;Commune;Groupe CIVAM;Vente en circuit court (O/N)\r\n\
        F1;GAEC des Tilleuls;123 456 789 00012;1000;Bourg-en-Bresse;CIVAM 01;O\r\n\
        ;;;;;;\r\n\
        F2;\"La Ferme; du Pré\";;69 008;Lyon;CIVAM Rhône;n\r\n\
        Identifiant;Nom;SIRET;CP;Commune;Groupe CIVAM;Vente en circuit court (O/N)\r\n\
        F3;X;;690;Lyon;G;O\r\n\
        F4;Y;;69008;Lyon;G;peut-être\r\n\
        ;Z;;69008;Lyon;G;O\r\n\
        F5;Les Ã©pis;;;Villeurbanne;G;\r\n";
    let files = vec![inbox_file(&dir, 1, "fermes.csv", body.as_bytes())];
    let b = crate::read_farms(None, &files).unwrap();
    assert_eq!(b.replace_origins, ["fermes.csv"]);
    assert_eq!(b.items.len(), 3);
    assert_eq!(b.rejects.len(), 3);
    let site = |i: usize| match &b.items[i].entity {
        Entity::Site(s) => s.clone(),
        _ => panic!(),
    };
    assert_eq!(b.items[0].key, "F1");
    let s = site(0);
    assert_eq!(s.kind, SiteKind::Farm);
    assert_eq!(s.siret.as_deref(), Some("12345678900012"));
    let loc = s.location.unwrap();
    assert_eq!(loc.postcode.as_deref(), Some("01000"));
    assert_eq!(loc.commune.as_deref(), Some("Bourg-en-Bresse"));
    assert_eq!(s.group.as_deref(), Some("CIVAM 01"));
    assert_eq!(s.short_circuit, Some(true));
    let s = site(1);
    assert_eq!(s.name.as_deref(), Some("La Ferme; du Pré"));
    assert_eq!(s.short_circuit, Some(false));
    assert_eq!(s.location.unwrap().postcode.as_deref(), Some("69008"));
    let s = site(2);
    assert_eq!(s.name.as_deref(), Some("Les épis"));
    assert_eq!(s.short_circuit, None);
    let reasons: Vec<(RejectReason, &str, Option<u64>)> = b
        .rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str(), r.line))
        .collect();
    assert_eq!(
        reasons,
        [
            (RejectReason::UnknownPostcode, "CP", Some(6)),
            (
                RejectReason::UnknownLabel,
                "Vente en circuit court (O/N)",
                Some(7)
            ),
            (RejectReason::MissingRequired, "Identifiant", Some(8)),
        ]
    );
    assert!(
        b.items
            .iter()
            .all(|i| i.origin.as_deref() == Some("fermes.csv"))
    );
    assert!(!b.more);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_register_without_identifiant_is_malformed() {
    let dir = tmp("farms-bad");
    let files = vec![inbox_file(&dir, 1, "fermes.csv", b"Nom;CP\nX;69001\n")];
    let b = crate::read_farms(None, &files).unwrap();
    assert_eq!(b.rejects.len(), 1);
    assert_eq!(b.rejects[0].reason, RejectReason::MalformedFile);
    assert!(!b.more);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_names_and_config() {
    assert!(crate::is_diagnostic_file("idea4_626547.json"));
    assert!(crate::is_diagnostic_file("IDEA4_F-12.JSON"));
    assert!(!crate::is_diagnostic_file("idea4_.json"));
    assert!(!crate::is_diagnostic_file("fermes.csv"));
    assert!(crate::is_register_file("fermes.csv"));
    assert!(crate::is_register_file("Fermes_civam-69.csv"));
    assert!(serde_json::from_str::<crate::Config>("{}").is_ok());
    assert!(
        serde_json::from_str::<crate::Config>(r#"{"x": 1}"#)
            .unwrap_err()
            .to_string()
            .contains("x: unknown field")
    );
}

/// The register through the SDK's harness: a long register and a re-sent
/// version resume from every checkpoint to the same farms.
#[test]
fn the_register_resumes_from_every_checkpoint() {
    let mut body = String::from("Identifiant;Nom;CP;Commune\n");
    for i in 0..(crate::ROWS_PER_BATCH + 3) {
        body.push_str(&format!("F{i};Ferme {i};69008;Lyon\n"));
    }
    body.push_str("TOTAL;;;\n;;;\nF-X;;690;Lyon\n");
    let mut inbox = vivres_sdk::testing::TempInbox::new("civam-farms");
    inbox
        .add("fermes.csv", body.as_bytes())
        .add("notes.csv", b"ignored")
        .add("fermes.csv", b"Identifiant;CP\nF1;01000\n");
    let files: Vec<InboxFile> = inbox
        .files()
        .into_iter()
        .filter(|f| crate::is_register_file(&f.name))
        .collect();
    let run = vivres_sdk::testing::assert_resumes(|state| crate::read_farms(state, &files));
    assert_eq!(run.items.len(), crate::ROWS_PER_BATCH + 3 + 1);
    assert_eq!(run.replace_origins, ["fermes.csv"; 2]);
    let r = &run.rejects[0];
    assert_eq!(
        (r.reason, r.field.as_str(), r.line, r.key.as_deref()),
        (
            RejectReason::UnknownPostcode,
            "CP",
            Some(crate::ROWS_PER_BATCH as u64 + 7),
            Some("F-X")
        )
    );
}
