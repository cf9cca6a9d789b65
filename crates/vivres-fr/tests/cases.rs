//! The table of cases (`cases.json`), run against this crate: the rules the hub
//! and the Rust SDK share. The SDK runs it through `vivres_sdk::fr` (dates
//! too), the Python SDK through `vivres_sdk.fr` (`plugins/python/sdk/tests`).

use serde_json::Value;
use vivres_fr::*;

/// What a parser gave, in the table's terms.
fn outcome<T: Into<Value>>(r: Result<Parsed<T>, ParseError>) -> Value {
    match r {
        Ok(Parsed::Value(v)) => serde_json::json!({"value": v.into()}),
        Ok(Parsed::Missing) => serde_json::json!({"missing": true}),
        Err(_) => serde_json::json!({"error": true}),
    }
}

fn expected(case: &Value) -> Value {
    let mut e = case.as_object().unwrap().clone();
    e.remove("rule");
    e.remove("input");
    Value::Object(e)
}

#[test]
fn the_table_of_cases() {
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("../cases.json")).expect("cases.json");
    let mut ran = std::collections::BTreeMap::new();
    for case in &cases {
        let rule = case["rule"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let text = |s: String| serde_json::json!({"value": s});
        let got = match rule {
            "decimal" => outcome(parse_decimal(input)),
            "cents" => outcome(parse_cents(input)),
            "integer" => outcome(parse_integer(input)),
            "postcode" => outcome(parse_postcode(input)),
            "mojibake" => text(repair_mojibake(input).into_owned()),
            "fold" => text(fold_label(input)),
            "missing" => serde_json::json!({"value": is_missing(input)}),
            "name_key" => text(name_key(input)),
            "composition" => outcome(parse_composition(input)),
            // Dates build the contract's date: the SDK runs them.
            "date" => continue,
            other => panic!("cases.json: unknown rule {other}"),
        };
        assert_eq!(got, expected(case), "{rule} {input:?}");
        *ran.entry(rule).or_insert(0) += 1;
    }
    assert_eq!(ran.len(), 9, "{ran:?}");
}
