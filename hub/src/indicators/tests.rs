//! Definitions: the shipped ones load and their queries run on the test
//! backend (`VIVRES_TEST_DATABASE_URL`: `.ci/run` runs both) with the
//! hand-computed value; invalid ones are refused with file, field and reason
//! (fixture pairs: `fixtures/x.toml` and the expected `fixtures/x.err`).

use std::path::PathBuf;

use super::*;
use crate::model::EntityKind;
use crate::warehouse::testing::TestDb;
use crate::warehouse::{BatchWrite, Provenance, Row, Value, schema};

fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/indicators")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/indicators/fixtures")
}

#[test]
fn shipped_definitions_load() {
    let defs = load_dir(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
    assert!(ids.contains(&"fies_moderate_or_severe"), "{ids:?}");
    assert!(ids.contains(&"households_reached"), "{ids:?}");
    let fies = defs
        .iter()
        .find(|d| d.id == "fies_moderate_or_severe")
        .unwrap();
    assert_eq!(fies.theme, Theme::FoodSecurity);
    assert_eq!(fies.min_cell, 11);
    assert!(fies.sql().contains("raw_score >= 4 "), "{}", fies.sql());
    let reached = defs.iter().find(|d| d.id == "households_reached").unwrap();
    assert_eq!(
        reached.min_cell, DEFAULT_MIN_CELL,
        "the default minimum cell"
    );
}

#[test]
fn invalid_definitions_are_refused_with_file_field_and_reason() {
    let dir = fixtures();
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let expected = std::fs::read_to_string(path.with_extension("err"))
            .unwrap_or_else(|_| panic!("{} has no .err beside it", path.display()));
        let err = load_file(&path)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()));
        let message = err.to_string().replace(&format!("{}/", dir.display()), "");
        assert_eq!(message, expected.trim_end(), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "{checked} fixtures");
    // A directory with one bad file is refused as a whole.
    let e = load_dir(&dir).unwrap_err();
    assert!(matches!(e, IndicatorError::Invalid { .. }), "{e}");
}

/// FIES responses: (territory, month, household, raw score).
fn responses() -> Vec<(&'static str, u8, String, Option<i64>)> {
    let mut out = Vec::new();
    // Lyon, March 2024: 12 complete responses, 5 scoring 4 or more; one
    // incomplete response (no raw score) that does not count.
    for i in 0..12 {
        out.push((
            "lyon",
            3,
            format!("l{i}"),
            Some(if i < 5 { 4 + i % 4 } else { i % 4 }),
        ));
    }
    out.push(("lyon", 3, "l-incomplete".to_string(), None));
    // Lyon, April 2024: 4 responses, 1 scoring 8.
    for i in 0..4 {
        out.push(("lyon", 4, format!("a{i}"), Some(if i == 0 { 8 } else { 3 })));
    }
    // Toulouse, March 2024: 2 responses, both 6.
    for i in 0..2 {
        out.push(("toulouse", 3, format!("t{i}"), Some(6)));
    }
    out
}

async fn load_responses(w: &crate::warehouse::Warehouse) {
    let run = w.start_run("kobo", false).await.unwrap();
    let table = schema::table(EntityKind::SurveyResponse);
    for territory in ["lyon", "toulouse"] {
        let prov = Provenance {
            source: format!("kobo-{territory}"),
            stream: "fies".into(),
            territory: territory.into(),
            network: "civam".into(),
            run_id: run,
        };
        let rows: Vec<Row> = responses()
            .into_iter()
            .enumerate()
            .filter(|(_, r)| r.0 == territory)
            .map(|(i, (_, month, household, score))| {
                let at =
                    time::Date::from_calendar_date(2024, time::Month::try_from(month).unwrap(), 10)
                        .unwrap()
                        .with_hms(12, 0, 0)
                        .unwrap()
                        .assume_utc();
                let values = table
                    .columns
                    .iter()
                    .map(|c| {
                        let v = match c.name {
                            "household" => Value::Text(household.clone()),
                            "wave" => Value::Text("T0".into()),
                            "instrument" => Value::Text("fies".into()),
                            "submitted_at" => Value::Timestamp(at),
                            "raw_score" => Value::opt_int(score),
                            _ => Value::Null,
                        };
                        (c.name, v)
                    })
                    .collect();
                Row {
                    kind: EntityKind::SurveyResponse,
                    key: [i as u8; 16],
                    origin: None,
                    hash: 1,
                    values,
                    children: Vec::new(),
                }
            })
            .collect();
        w.commit_batch(
            &prov,
            BatchWrite {
                read: rows.len() as u64,
                rows,
                batches: 1,
                ..BatchWrite::default()
            },
        )
        .await
        .unwrap();
    }
}

/// (territory, period, value, n) rows of a definition's query.
async fn cells(
    w: &crate::warehouse::Warehouse,
    def: &Definition,
) -> Vec<(String, String, f64, i64)> {
    let mut rows: Vec<(String, String, f64, i64)> = w
        .inspect(&def.sql())
        .await
        .unwrap_or_else(|e| panic!("{} on {:?}: {e}", def.id, w.backend()))
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), 4, "{}: territory, period, value, n", def.id);
            let text = |i: usize| r[i].clone().unwrap_or_default();
            (
                text(0),
                text(1),
                text(2).parse().unwrap_or(f64::NAN),
                text(3).parse().unwrap_or(-1),
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows
}

#[tokio::test]
async fn shipped_queries_give_the_hand_computed_values() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let defs = load_dir(&shipped_dir()).unwrap();
    // Every shipped query runs on an empty warehouse of this backend.
    for def in &defs {
        assert!(cells(w, def).await.is_empty(), "{}", def.id);
    }
    load_responses(w).await;
    let fies = defs
        .iter()
        .find(|d| d.id == "fies_moderate_or_severe")
        .unwrap();
    let got = cells(w, fies).await;
    let expected = [
        ("lyon", "2024-03", 100.0 * 5.0 / 12.0, 12),
        ("lyon", "2024-04", 25.0, 4),
        ("toulouse", "2024-03", 100.0, 2),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((t, p, v, n), (et, ep, ev, en)) in got.iter().zip(expected) {
        assert_eq!((t.as_str(), p.as_str(), *n), (et, ep, en), "{got:?}");
        assert!((v - ev).abs() < 1e-9, "{t} {p}: {v} != {ev}");
    }
    // Every shipped query still runs with data in the warehouse.
    for def in &defs {
        cells(w, def).await;
    }
}
