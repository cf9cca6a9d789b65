//! Exports read back by a real reader (pyarrow, see `partner_sim::reader`)
//! on whichever backend `VIVRES_TEST_DATABASE_URL` names.

use std::collections::BTreeMap;

use serde_json::Value as J;
use time::macros::date;

use super::*;
use crate::model::EntityKind;
use crate::warehouse::testing::TestDb;
use crate::warehouse::{BatchWrite, Child, Provenance, Row};

/// Order lines written through the warehouse's real write path.
const LINES: usize = 5_000;

struct Line {
    key: [u8; 16],
    territory: &'static str,
    date: time::Date,
    quantity: f64,
    paid: Option<i64>,
    discount: Option<f64>,
    donation: bool,
}

fn lines() -> Vec<Line> {
    (0..LINES)
        .map(|i| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&(i as u64).to_be_bytes());
            key[15] = 0xa5;
            Line {
                key,
                territory: if i % 3 == 0 { "toulouse" } else { "lyon" },
                date: date!(2024 - 01 - 01) + time::Duration::days((i % 366) as i64),
                quantity: i as f64 * 0.25,
                paid: (i % 7 != 0).then_some(i as i64 * 10),
                discount: (i % 2 == 0).then_some(12.5),
                donation: i % 5 == 0,
            }
        })
        .collect()
}

async fn load(w: &Warehouse, data: &[Line]) {
    let run = w.start_run("shop", false).await.unwrap();
    for territory in ["lyon", "toulouse"] {
        let prov = Provenance {
            source: "shop".into(),
            stream: format!("sales-{territory}"),
            territory: territory.into(),
            network: "ugess".into(),
            run_id: run,
        };
        let rows: Vec<Row> = data
            .iter()
            .filter(|l| l.territory == territory)
            .map(|l| Row {
                kind: EntityKind::OrderLine,
                key: l.key,
                origin: None,
                hash: 1,
                children: Vec::new(),
                values: vec![
                    ("household", Value::Text(hex::encode(&l.key[..12]))),
                    ("site", Value::Text("Épicerie des Pentes".into())),
                    ("channel", Value::Text("grocery".into())),
                    ("date", Value::Date(l.date)),
                    ("time", Value::Null),
                    ("month", Value::Null),
                    ("product", Value::Text("Pommes; bio \"Gala\"".into())),
                    ("dfc_type", Value::Text("fruit".into())),
                    ("quantity", Value::Real(l.quantity)),
                    ("unit", Value::Text("kg".into())),
                    ("unit_price_paid_cents", Value::Null),
                    ("unit_reference_price_cents", Value::Null),
                    ("price_paid_cents", Value::opt_int(l.paid)),
                    ("reference_price_cents", Value::Int(1_000)),
                    (
                        "discount_percent",
                        l.discount.map_or(Value::Null, Value::Real),
                    ),
                    ("food_bank_donation", Value::Bool(l.donation)),
                ],
            })
            .collect();
        let n = rows.len() as u64;
        w.commit_batch(
            &prov,
            BatchWrite {
                rows,
                read: n,
                batches: 1,
                ..BatchWrite::default()
            },
        )
        .await
        .unwrap();
    }
    // A survey response with its answers (a child table) and an instant.
    let prov = Provenance {
        source: "kobo".into(),
        stream: "fies".into(),
        territory: "lyon".into(),
        network: "civam".into(),
        run_id: run,
    };
    let submitted = time::OffsetDateTime::from_unix_timestamp(1_710_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let table = crate::warehouse::schema::table(EntityKind::SurveyResponse);
    let values = table
        .columns
        .iter()
        .map(|c| {
            let v = match c.name {
                "wave" => Value::Text("T0".into()),
                "instrument" => Value::Text("fies".into()),
                "submitted_at" => Value::Timestamp(submitted),
                "raw_score" => Value::Int(5),
                "residence_in_territory" => Value::Bool(true),
                _ => Value::Null,
            };
            (c.name, v)
        })
        .collect();
    let children = (1..=8)
        .map(|i| Child {
            table: "survey_answers",
            values: vec![
                ("item", Value::Text(format!("fies_{i}"))),
                (
                    "answer",
                    Value::Text(if i <= 5 { "yes" } else { "no" }.into()),
                ),
            ],
        })
        .collect();
    w.commit_batch(
        &prov,
        BatchWrite {
            rows: vec![Row {
                kind: EntityKind::SurveyResponse,
                key: [7; 16],
                origin: None,
                hash: 1,
                values,
                children,
            }],
            read: 1,
            batches: 1,
            ..BatchWrite::default()
        },
    )
    .await
    .unwrap();
}

fn read(format: Format, path: &Path) -> J {
    partner_sim::reader::read(format.extension(), path).unwrap_or_else(|e| panic!("{e}"))
}

/// A cell as text, whatever the reader made of it.
fn cell(row: &J, column: &str) -> Option<String> {
    match &row[column] {
        J::Null => None,
        J::String(s) if s.is_empty() => None,
        J::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn num(s: Option<String>) -> Option<f64> {
    s.map(|s| {
        s.replace(',', ".")
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("not a number: {s}"))
    })
}

/// Every row of an export of the lines, checked against what was written.
fn check_rows(what: &str, rows: &[J], expected: &BTreeMap<String, &Line>) {
    assert_eq!(rows.len(), expected.len(), "{what}: row count");
    for row in rows {
        let key = cell(row, "key").unwrap_or_default();
        let line = expected
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: unexpected key {key}"));
        assert_eq!(
            cell(row, "territory").as_deref(),
            Some(line.territory),
            "{what}"
        );
        assert_eq!(cell(row, "source").as_deref(), Some("shop"), "{what}");
        assert_eq!(cell(row, "date"), Some(line.date.to_string()), "{what}");
        assert_eq!(
            num(cell(row, "quantity")),
            Some(line.quantity),
            "{what} {key}"
        );
        assert_eq!(
            num(cell(row, "price_paid_cents")),
            line.paid.map(|p| p as f64),
            "{what}"
        );
        assert_eq!(num(cell(row, "discount_percent")), line.discount, "{what}");
        assert_eq!(
            cell(row, "food_bank_donation").map(|b| b.to_lowercase()),
            Some(line.donation.to_string()),
            "{what}"
        );
        assert_eq!(
            cell(row, "site").as_deref(),
            Some("Épicerie des Pentes"),
            "{what}"
        );
        assert_eq!(
            cell(row, "product").as_deref(),
            Some("Pommes; bio \"Gala\""),
            "{what}"
        );
        assert_eq!(cell(row, "time"), None, "{what}");
    }
}

#[tokio::test]
async fn exports_read_back_with_pyarrow_in_every_format() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let data = lines();
    load(w, &data).await;
    let dir = tempfile::tempdir().unwrap();
    let all: BTreeMap<String, &Line> = data.iter().map(|l| (hex::encode(l.key), l)).collect();

    for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
        let out = dir.path().join(format!("lines.{}", format.extension()));
        let meta = to_file(w, "order_lines", format, &Filters::default(), false, &out)
            .await
            .unwrap();
        assert_eq!(meta.rows, Some(LINES as u64));
        let got = read(format, &out);
        let rows = got["rows"].as_array().unwrap();
        match format {
            Format::Csv => {
                assert_eq!(got["bom"], true, "the CSV starts with a BOM");
                let header = got["header_line"].as_str().unwrap();
                assert!(
                    header.starts_with("source;stream;key;territory;network;run_id;household"),
                    "{header}"
                );
                check_rows("csv", got["csv_rows"].as_array().unwrap(), &all);
                // pyarrow's own CSV reader sees the same table and types.
                assert_eq!(rows.len(), LINES);
                assert_eq!(got["types"]["quantity"], "double");
                assert_eq!(got["types"]["date"], "date32[day]");
                let side: J =
                    serde_json::from_slice(&std::fs::read(sidecar_path(&out)).unwrap()).unwrap();
                assert_eq!(side["rows"], LINES as u64);
                assert_eq!(side["dictionary_version"], schema::version());
                assert_eq!(side["hub_version"], env!("CARGO_PKG_VERSION"));
                assert_eq!(side["entity"], "order_lines");
                assert!(
                    side["exported_at"]
                        .as_str()
                        .is_some_and(|t| t.ends_with('Z'))
                );
            }
            Format::Jsonl => {
                assert_eq!(rows.len(), LINES, "pyarrow reads every line");
                assert_eq!(got["types"]["quantity"], "double");
                check_rows("jsonl", got["json_rows"].as_array().unwrap(), &all);
                assert!(sidecar_path(&out).exists());
            }
            Format::Parquet => {
                check_rows("parquet", rows, &all);
                let types = &got["types"];
                for (column, ty) in [
                    ("source", "string"),
                    ("key", "string"),
                    ("run_id", "int64"),
                    ("date", "date32[day]"),
                    ("quantity", "double"),
                    ("price_paid_cents", "int64"),
                    ("discount_percent", "double"),
                    ("food_bank_donation", "bool"),
                ] {
                    assert_eq!(types[column], ty, "parquet type of {column}");
                }
                let dict: Vec<&str> = got["dictionary"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|d| d.as_str())
                    .collect();
                for c in ["product", "territory", "channel"] {
                    assert!(dict.contains(&c), "{c} is not dictionary-encoded: {dict:?}");
                }
                let meta: J =
                    serde_json::from_str(got["metadata"]["vivres"].as_str().unwrap()).unwrap();
                assert_eq!(meta["rows"], LINES as u64);
                assert_eq!(meta["dictionary_version"], schema::version());
                assert_eq!(
                    got["metadata"]["vivres.hub_version"],
                    env!("CARGO_PKG_VERSION")
                );
                assert!(
                    !sidecar_path(&out).exists(),
                    "Parquet carries its metadata inside"
                );
            }
        }
    }

    // Filters: a territory and a period (both ends included).
    let filters = Filters {
        territories: vec!["lyon".into()],
        networks: vec!["ugess".into()],
        from: Some("2024-03-01".into()),
        to: Some("2024-03-31".into()),
    };
    let expected: BTreeMap<String, &Line> = data
        .iter()
        .filter(|l| {
            l.territory == "lyon"
                && l.date >= date!(2024 - 03 - 01)
                && l.date <= date!(2024 - 03 - 31)
        })
        .map(|l| (hex::encode(l.key), l))
        .collect();
    assert!(expected.len() > 100);
    let out = dir.path().join("march.parquet");
    let meta = to_file(w, "order_lines", Format::Parquet, &filters, false, &out)
        .await
        .unwrap();
    check_rows(
        "filtered parquet",
        read(Format::Parquet, &out)["rows"].as_array().unwrap(),
        &expected,
    );
    let embedded: J = serde_json::from_str(
        read(Format::Parquet, &out)["metadata"]["vivres"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        embedded["filters"]["territories"],
        serde_json::json!(["lyon"])
    );
    assert_eq!(embedded["filters"]["from"], "2024-03-01");
    assert_eq!(meta.rows, Some(expected.len() as u64));
    // Another network: nothing.
    let none = Filters {
        networks: vec!["vrac".into()],
        ..Filters::default()
    };
    let out = dir.path().join("none.parquet");
    let meta = to_file(w, "order_lines", Format::Parquet, &none, false, &out)
        .await
        .unwrap();
    assert_eq!(meta.rows, Some(0));
    assert_eq!(
        read(Format::Parquet, &out)["rows"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // French decimals.
    let out = dir.path().join("comma.csv");
    to_file(
        w,
        "order_lines",
        Format::Csv,
        &Filters::default(),
        true,
        &out,
    )
    .await
    .unwrap();
    let got = read(Format::Csv, &out);
    check_rows(
        "csv with decimal commas",
        got["csv_rows"].as_array().unwrap(),
        &all,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(";0,25;"), "quantities with a decimal comma");

    // An instant and a child table, filtered through its parent.
    let out = dir.path().join("responses.parquet");
    to_file(
        w,
        "survey_responses",
        Format::Parquet,
        &Filters::default(),
        false,
        &out,
    )
    .await
    .unwrap();
    let got = read(Format::Parquet, &out);
    assert_eq!(got["types"]["submitted_at"], "timestamp[us, tz=UTC]");
    assert_eq!(got["types"]["residence_in_territory"], "bool");
    assert_eq!(got["rows"][0]["submitted_at"], "2024-03-09T16:00:00Z");
    let march = Filters {
        from: Some("2024-03-09".into()),
        to: Some("2024-03-09".into()),
        ..Filters::default()
    };
    let out = dir.path().join("answers.csv");
    let meta = to_file(w, "survey_answers", Format::Csv, &march, false, &out)
        .await
        .unwrap();
    assert_eq!(meta.rows, Some(8));
    let got = read(Format::Csv, &out);
    let answers = got["csv_rows"].as_array().unwrap();
    assert!(
        answers
            .iter()
            .all(|r| r["key"] == hex::encode([7u8; 16]) && r["territory"] == "lyon")
    );
    let april = Filters {
        from: Some("2024-04-01".into()),
        ..Filters::default()
    };
    let meta = to_file(w, "survey_answers", Format::Jsonl, &april, false, &out)
        .await
        .unwrap();
    assert_eq!(meta.rows, Some(0));
}

#[test]
fn bad_requests_are_refused_with_what_to_fix() {
    let f = Filters::default();
    assert!(matches!(
        query("runs", &f),
        Err(ExportError::UnknownEntity(_))
    ));
    assert!(matches!(
        query("api_tokens", &f),
        Err(ExportError::UnknownEntity(_))
    ));
    let dated = Filters {
        from: Some("2024-01-01".into()),
        ..Filters::default()
    };
    assert!(matches!(
        query("products", &dated),
        Err(ExportError::NoPeriod(_))
    ));
    let bad = Filters {
        to: Some("31/01/2024".into()),
        ..Filters::default()
    };
    let e = query("order_lines", &bad).unwrap_err().to_string();
    assert!(e.contains("`to`") && e.contains("YYYY-MM-DD"), "{e}");
    let inverted = Filters {
        from: Some("2024-02-01".into()),
        to: Some("2024-01-01".into()),
        ..Filters::default()
    };
    assert!(matches!(
        query("order_lines", &inverted),
        Err(ExportError::EmptyPeriod { .. })
    ));
    assert!(Format::parse("xlsx").is_err());
    assert!(query("order_lines", &f).is_ok());
    assert!(query("survey_answers", &dated).is_ok());
}
