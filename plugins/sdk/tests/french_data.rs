//! The table of cases of the French-data rules (`crates/vivres-fr/cases.json`),
//! run through the SDK's `fr` as connectors call it: every rule of the table,
//! dates included (the crate runs the same table, the Python SDK too).

use serde_json::{Value, json};
use vivres_sdk::fr::{self, ParseError, Parsed};

fn outcome<T: Into<Value>>(r: Result<Parsed<T>, ParseError>) -> Value {
    match r {
        Ok(Parsed::Value(v)) => json!({"value": v.into()}),
        Ok(Parsed::Missing) => json!({"missing": true}),
        Err(_) => json!({"error": true}),
    }
}

/// The warehouse's label of a composition.
fn label(c: vivres_sdk::model::Composition) -> &'static str {
    use vivres_sdk::model::Composition::*;
    match c {
        Single => "single",
        CoupleWithoutChildren => "couple-without-children",
        CoupleWithChildren => "couple-with-children",
        SingleParent => "single-parent",
        Other => "other",
    }
}

#[test]
fn the_table_of_cases() {
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("../../../crates/vivres-fr/cases.json")).unwrap();
    let mut rules = std::collections::BTreeSet::new();
    for case in &cases {
        let rule = case["rule"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let got = match rule {
            "decimal" => outcome(fr::parse_decimal(input)),
            "cents" => outcome(fr::parse_cents(input)),
            "integer" => outcome(fr::parse_integer(input)),
            "postcode" => outcome(fr::clean_postcode(input)),
            "mojibake" => json!({"value": fr::repair_mojibake(input)}),
            "fold" => json!({"value": fr::fold_label(input)}),
            "missing" => json!({"value": fr::is_missing(input)}),
            "name_key" => json!({"value": vivres_fr::name_key(input)}),
            "composition" => outcome(fr::parse_composition(input).map(|p| p.map(label))),
            "date" => outcome(
                fr::parse_date(input)
                    .map(|p| p.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))),
            ),
            other => panic!("cases.json: unknown rule {other}"),
        };
        let mut want = case.as_object().unwrap().clone();
        want.remove("rule");
        want.remove("input");
        assert_eq!(got, Value::Object(want), "{rule} {input:?}");
        rules.insert(rule);
    }
    assert_eq!(rules.len(), 10, "{rules:?}");
}
