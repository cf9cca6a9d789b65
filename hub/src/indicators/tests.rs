//! Definitions: the shipped ones load and their queries run on the test
//! backend (`VIVRES_TEST_DATABASE_URL`: `.ci/run` runs both) with the
//! hand-computed value; invalid ones are refused with file, field and reason
//! (fixture pairs: `fixtures/x.toml` and the expected `fixtures/x.err`).

use std::path::PathBuf;

use super::*;
use crate::model::EntityKind;
use crate::warehouse::testing::TestDb;
use crate::warehouse::{BatchWrite, Child, Provenance, QueryCell, Row, Value, schema};

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

/// FIES responses: (territory, month, household, raw score); T0 but the
/// Lyon responses of October 2024 (T1).
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
    // Lyon, October 2024, wave T1: 5 responses, 1 scoring 5.
    for i in 0..5 {
        out.push((
            "lyon",
            10,
            format!("b{i}"),
            Some(if i == 0 { 5 } else { 1 }),
        ));
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
                            "wave" => Value::Text(if month == 10 { "T1" } else { "T0" }.into()),
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

/// The rows of a definition's query for periods of `g`, through the real
/// read-only path, sorted by territory, period and breakdown.
async fn rows_at(
    w: &crate::warehouse::Warehouse,
    def: &Definition,
    g: Granularity,
) -> Vec<QueryCell> {
    let mut rows = w
        .indicator_cells(
            &[(def.sql_at(g), def.breakdown.is_some())],
            QUERY_TIME_LIMIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{} on {:?}: {e}", def.id, w.backend()))
        .remove(0);
    // A query that runs once returns every kind of period.
    if def.runs_once() {
        rows.retain(|r| Period::parse(&r.period).is_ok_and(|p| p.granularity() == g));
    }
    rows.sort_by(|a, b| {
        (&a.territory, &a.period, &a.breakdown).cmp(&(&b.territory, &b.period, &b.breakdown))
    });
    rows
}

/// (territory, period, value, n) rows of a definition at its finest period.
async fn cells(
    w: &crate::warehouse::Warehouse,
    def: &Definition,
) -> Vec<(String, String, f64, i64)> {
    rows_at(w, def, def.granularity)
        .await
        .into_iter()
        .map(|r| (r.territory, r.period, r.value.unwrap_or(f64::NAN), r.n))
        .collect()
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
        ("lyon", "2024-10", 20.0, 5),
        ("toulouse", "2024-03", 100.0, 2),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((t, p, v, n), (et, ep, ev, en)) in got.iter().zip(expected) {
        assert_eq!((t.as_str(), p.as_str(), *n), (et, ep, en), "{got:?}");
        assert!((v - ev).abs() < 1e-9, "{t} {p}: {v} != {ev}");
    }
    // Every shipped query still runs with data in the warehouse, at every
    // kind of period, through the whole publication (suppression included).
    let published = compute(w, &defs, QUERY_TIME_LIMIT)
        .await
        .unwrap_or_else(|e| panic!("on {:?}: {e}", w.backend()));
    // Lyon's year: 12 + 4 + 5 households.
    assert!(
        published
            .iter()
            .any(|c| c.indicator == "fies_moderate_or_severe"
                && c.territory == "lyon"
                && c.period == Period::Year(2024)
                && c.n == Some(21))
    );
}

fn def(id: &str) -> Definition {
    load_file(&shipped_dir().join(format!("{id}.toml"))).unwrap_or_else(|e| panic!("{e}"))
}

/// Rows written through the warehouse's real write path (`commit_batch`),
/// one batch per (territory, network, table); columns not named are NULL,
/// or a placeholder for required ones.
struct Data<'a> {
    w: &'a crate::warehouse::Warehouse,
    run: i64,
    next: u32,
}

type Cols = Vec<(&'static str, Value)>;

fn day(y: i32, m: u8, d: u8) -> Value {
    Value::Date(time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

impl<'a> Data<'a> {
    async fn new(w: &'a crate::warehouse::Warehouse) -> Data<'a> {
        let run = w.start_run("hand-computed", false).await.unwrap();
        Data { w, run, next: 0 }
    }

    fn key(&mut self) -> [u8; 16] {
        self.next += 1;
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&self.next.to_be_bytes());
        k
    }

    /// Adds rows (each with its key, its columns and its children).
    async fn add(
        &mut self,
        territory: &str,
        network: &str,
        kind: EntityKind,
        rows: Vec<([u8; 16], Cols, Vec<Child>)>,
    ) {
        let table = schema::table(kind);
        let prov = Provenance {
            source: format!("{network}-{territory}"),
            stream: table.name.to_string(),
            territory: territory.into(),
            network: network.into(),
            run_id: self.run,
        };
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(key, cols, children)| crate::warehouse::testing::row(kind, key, &cols, children))
            .collect();
        self.w
            .commit_batch(
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

    /// Rows without children, each under a fresh key.
    async fn rows(&mut self, territory: &str, network: &str, kind: EntityKind, rows: Vec<Cols>) {
        let rows = rows
            .into_iter()
            .map(|c| (self.key(), c, Vec::new()))
            .collect();
        self.add(territory, network, kind, rows).await;
    }
}

/// Checks rows against (territory, period, breakdown, value, n), in order.
fn check(id: &str, got: &[QueryCell], expected: &[(&str, &str, Option<&str>, f64, i64)]) {
    let got_keys: Vec<(&str, &str, Option<&str>, i64)> = got
        .iter()
        .map(|c| {
            (
                c.territory.as_str(),
                c.period.as_str(),
                c.breakdown.as_deref(),
                c.n,
            )
        })
        .collect();
    let want_keys: Vec<(&str, &str, Option<&str>, i64)> =
        expected.iter().map(|e| (e.0, e.1, e.2, e.4)).collect();
    assert_eq!(got_keys, want_keys, "{id}: {got:?}");
    for (c, e) in got.iter().zip(expected) {
        let v = c.value.unwrap_or(f64::NAN);
        assert!(
            (v - e.3).abs() < 1e-9,
            "{id} {} {:?}: {v} != {}",
            c.period,
            c.breakdown,
            e.3
        );
    }
}

/// Lyon, first quarter of 2024 (see each indicator's test for the figures):
/// Cocagne baskets of two subscriptions, Secours Catholique aids to three
/// households, a VRAC member's orders, a UGESS sale, participation.
async fn load_activity(d: &mut Data<'_>) {
    use EntityKind::*;
    let (s1, s2) = (d.key(), d.key());
    let subscription = |person: &str, paid: i64, inside: bool| -> Cols {
        vec![
            ("person", text(person)),
            ("price_paid_cents", Value::Int(paid)),
            ("reference_price_cents", Value::Int(1500)),
            ("residence_in_territory", Value::Bool(inside)),
        ]
    };
    d.add(
        "lyon",
        "cocagne",
        Household,
        vec![
            (s1, subscription("c1", 500, true), vec![]),
            (s2, subscription("c2", 1000, false), vec![]),
        ],
    )
    .await;
    let basket = |sub: [u8; 16], date: Value, status: &str, kg: f64| -> Cols {
        vec![
            ("household_key", Value::Key(sub)),
            ("date", date),
            ("kind", text("basket")),
            ("status", text(status)),
            ("quantity_kg", Value::Real(kg)),
        ]
    };
    d.rows(
        "lyon",
        "cocagne",
        Distribution,
        vec![
            basket(s1, day(2024, 1, 8), "collected", 5.0),
            basket(s1, day(2024, 2, 5), "collected", 5.0),
            basket(s1, day(2024, 3, 4), "collected", 4.0),
            basket(s1, day(2024, 3, 11), "absent", 4.0),
            basket(s2, day(2024, 3, 4), "collected", 6.0),
        ],
    )
    .await;
    let aid = |who: &str, date: Value, kind: &str, cents: Option<i64>| -> Cols {
        vec![
            ("household", text(who)),
            ("date", date),
            ("kind", text(kind)),
            ("status", text("given")),
            ("amount_cents", Value::opt_int(cents)),
        ]
    };
    d.rows(
        "lyon",
        "secours-catholique",
        Distribution,
        vec![
            aid("s1", day(2024, 3, 10), "food-voucher", Some(3000)),
            aid("s1", day(2024, 3, 20), "food-voucher", Some(1500)),
            aid("s2", day(2024, 3, 15), "prepaid-card", Some(5000)),
            aid("s3", day(2024, 3, 15), "parcel", None),
        ],
    )
    .await;
    let resident = |who: &str, inside: Option<bool>| -> Cols {
        vec![
            ("person", text(who)),
            ("residence_in_territory", Value::opt_bool(inside)),
        ]
    };
    d.rows(
        "lyon",
        "secours-catholique",
        Household,
        vec![
            resident("s1", Some(true)),
            resident("s2", Some(true)),
            resident("s3", None),
        ],
    )
    .await;
    d.rows("lyon", "vrac", Household, vec![resident("v1", Some(true))])
        .await;
    let line = |who: &str,
                channel: &str,
                date: Value,
                month: Option<&str>,
                dfc: &str,
                qty: f64,
                unit: &str,
                paid: i64,
                reference: i64|
     -> Cols {
        vec![
            ("household", text(who)),
            ("channel", text(channel)),
            ("date", date),
            ("month", Value::opt_text(month.map(str::to_string))),
            ("dfc_type", text(dfc)),
            ("quantity", Value::Real(qty)),
            ("unit", text(unit)),
            ("price_paid_cents", Value::Int(paid)),
            ("reference_price_cents", Value::Int(reference)),
        ]
    };
    d.rows(
        "lyon",
        "vrac",
        OrderLine,
        vec![
            line(
                "v1",
                "buying-group",
                Value::Null,
                Some("2024-01"),
                "carrot",
                2.0,
                "kg",
                400,
                600,
            ),
            line(
                "v1",
                "buying-group",
                day(2024, 3, 5),
                None,
                "apple",
                1.5,
                "kg",
                300,
                450,
            ),
            line(
                "v1",
                "buying-group",
                day(2024, 3, 5),
                None,
                "dried-vegetable",
                1.0,
                "kg",
                200,
                300,
            ),
        ],
    )
    .await;
    d.rows(
        "lyon",
        "ugess",
        OrderLine,
        vec![
            line(
                "u1",
                "grocery",
                day(2024, 3, 2),
                None,
                "vegetable",
                500.0,
                "g",
                100,
                300,
            ),
            line(
                "u1",
                "grocery",
                day(2024, 3, 2),
                None,
                "inedible",
                1.0,
                "piece",
                50,
                150,
            ),
        ],
    )
    .await;
    let event = |who: &str, date: Value, kind: &str| -> Cols {
        vec![
            ("household", text(who)),
            ("date", date),
            ("kind", text(kind)),
        ]
    };
    d.rows(
        "lyon",
        "vrac",
        Participation,
        vec![
            event("v1", day(2024, 3, 20), "committee"),
            event("v1", day(2024, 2, 10), "workshop"),
        ],
    )
    .await;
    d.rows(
        "lyon",
        "secours-catholique",
        Participation,
        vec![event("s1", day(2024, 3, 12), "workshop")],
    )
    .await;
}

#[tokio::test]
async fn households_reached_and_residence_give_the_hand_computed_values() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    load_activity(&mut d).await;
    let w = &db.warehouse;
    // Active: c1 in January, February, March; c2 in March (its absent
    // basket does not count); s1, s2, s3 in March; v1 in January (a month
    // without a date) and March; u1 in March.
    let reached = def("households_reached");
    check(
        "households_reached",
        &rows_at(w, &reached, Granularity::Month).await,
        &[
            ("lyon", "2024-01", None, 2.0, 2),
            ("lyon", "2024-01", Some("cocagne"), 1.0, 1),
            ("lyon", "2024-01", Some("vrac"), 1.0, 1),
            ("lyon", "2024-02", None, 1.0, 1),
            ("lyon", "2024-02", Some("cocagne"), 1.0, 1),
            ("lyon", "2024-03", None, 7.0, 7),
            ("lyon", "2024-03", Some("cocagne"), 2.0, 2),
            ("lyon", "2024-03", Some("secours-catholique"), 3.0, 3),
            ("lyon", "2024-03", Some("ugess"), 1.0, 1),
            ("lyon", "2024-03", Some("vrac"), 1.0, 1),
        ],
    );
    // A quarter counts each household once.
    let quarter = rows_at(w, &reached, Granularity::Quarter).await;
    check(
        "households_reached",
        &quarter[..1],
        &[("lyon", "2024-Q1", None, 7.0, 7)],
    );
    let year = rows_at(w, &reached, Granularity::Year).await;
    check(
        "households_reached",
        &year[..1],
        &[("lyon", "2024", None, 7.0, 7)],
    );
    // Residence known for c1 (in), c2 (out), s1, s2, v1 (in); s3 and u1 unknown.
    let inside = def("households_in_territory");
    check(
        "households_in_territory",
        &rows_at(w, &inside, Granularity::Month).await,
        &[
            ("lyon", "2024-01", None, 100.0, 2),
            ("lyon", "2024-01", Some("cocagne"), 100.0, 1),
            ("lyon", "2024-01", Some("vrac"), 100.0, 1),
            ("lyon", "2024-02", None, 100.0, 1),
            ("lyon", "2024-02", Some("cocagne"), 100.0, 1),
            ("lyon", "2024-03", None, 80.0, 5),
            ("lyon", "2024-03", Some("cocagne"), 50.0, 2),
            ("lyon", "2024-03", Some("secours-catholique"), 100.0, 2),
            ("lyon", "2024-03", Some("vrac"), 100.0, 1),
        ],
    );
}

#[tokio::test]
async fn regular_access_fruit_vegetables_and_participation_give_the_hand_computed_values() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    load_activity(&mut d).await;
    let w = &db.warehouse;
    // Only c1 is active 3 months of the 6 ending in March.
    let regular = def("regular_access");
    check(
        "regular_access",
        &rows_at(w, &regular, Granularity::Month).await,
        &[
            ("lyon", "2024-01", None, 0.0, 2),
            ("lyon", "2024-02", None, 0.0, 1),
            ("lyon", "2024-03", None, 100.0 / 7.0, 7),
        ],
    );
    check(
        "regular_access",
        &rows_at(w, &regular, Granularity::Quarter).await,
        &[("lyon", "2024-Q1", None, 100.0 / 7.0, 7)],
    );
    // January: c1's basket 5 kg + v1's carrots 2 kg over 2 household-months;
    // February: 5 kg over 1; March: baskets 4 + 6 kg (not the absent one),
    // apples 1.5 kg, tomatoes 500 g (not lentils, not soap) over 7.
    let kg = def("fruit_vegetable_kg");
    check(
        "fruit_vegetable_kg",
        &rows_at(w, &kg, Granularity::Month).await,
        &[
            ("lyon", "2024-01", None, 3.5, 2),
            ("lyon", "2024-02", None, 5.0, 1),
            ("lyon", "2024-03", None, 12.0 / 7.0, 7),
        ],
    );
    check(
        "fruit_vegetable_kg",
        &rows_at(w, &kg, Granularity::Year).await,
        &[("lyon", "2024", None, 24.0 / 10.0, 7)],
    );
    // v1 in February and March, s1 in March.
    let participation = def("participation_per_household");
    check(
        "participation_per_household",
        &rows_at(w, &participation, Granularity::Month).await,
        &[
            ("lyon", "2024-01", None, 0.0, 2),
            ("lyon", "2024-02", None, 1.0, 1),
            ("lyon", "2024-03", None, 2.0 / 7.0, 7),
        ],
    );
    check(
        "participation_per_household",
        &rows_at(w, &participation, Granularity::Quarter).await,
        &[("lyon", "2024-Q1", None, 3.0 / 7.0, 7)],
    );
}

#[tokio::test]
async fn solidarity_effort_and_aid_give_the_hand_computed_values() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    load_activity(&mut d).await;
    let w = &db.warehouse;
    // Baskets: c1 pays 5 € of 15, c2 10 € of 15 (March: 15 € of 30);
    // VRAC: 4 € of 6 in January, 5 € of 7.50 in March; UGESS: 1.50 € of 4.50.
    let effort = def("solidarity_effort_rate");
    let two_thirds = 100.0 * 2.0 / 3.0;
    check(
        "solidarity_effort_rate",
        &rows_at(w, &effort, Granularity::Month).await,
        &[
            ("lyon", "2024-01", None, 100.0 * (1.0 - 900.0 / 2100.0), 2),
            ("lyon", "2024-01", Some("basket"), two_thirds, 1),
            ("lyon", "2024-01", Some("buying-group"), 100.0 / 3.0, 1),
            ("lyon", "2024-02", None, two_thirds, 1),
            ("lyon", "2024-02", Some("basket"), two_thirds, 1),
            ("lyon", "2024-03", None, 100.0 * (1.0 - 2150.0 / 4200.0), 4),
            ("lyon", "2024-03", Some("basket"), 50.0, 2),
            ("lyon", "2024-03", Some("buying-group"), 100.0 / 3.0, 1),
            ("lyon", "2024-03", Some("grocery"), two_thirds, 1),
        ],
    );
    // s1: two vouchers (30 € + 15 €), s2: a 50 € card; s3's parcel has no amount.
    let aid = def("aid_per_household");
    check(
        "aid_per_household",
        &rows_at(w, &aid, Granularity::Month).await,
        &[
            ("lyon", "2024-03", None, 47.5, 2),
            ("lyon", "2024-03", Some("food-voucher"), 45.0, 1),
            ("lyon", "2024-03", Some("prepaid-card"), 50.0, 1),
        ],
    );
}

#[tokio::test]
async fn fies_change_between_waves_gives_the_hand_computed_value() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    load_responses(w).await;
    // Lyon T0: 16 complete responses, 6 scoring 4 or more (37.5 %); T1,
    // first answered in October: 5 responses, 1 (20 %). Toulouse has no T1.
    let change = def("fies_change_between_waves");
    for (g, period) in [
        (Granularity::Month, "2024-10"),
        (Granularity::Quarter, "2024-Q4"),
        (Granularity::Year, "2024"),
    ] {
        check(
            "fies_change_between_waves",
            &rows_at(w, &change, g).await,
            &[("lyon", period, Some("T0-T1"), 20.0 - 37.5, 5)],
        );
    }
}

#[tokio::test]
async fn work_integration_exits_give_the_hand_computed_values() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    let w = &db.warehouse;
    let pathway = |who: &str, exit: Option<(u8, &str)>| -> Cols {
        vec![
            ("worker", text(who)),
            ("entry_date", day(2023, 6, 1)),
            (
                "exit_date",
                exit.map(|(m, _)| day(2024, m, 15)).unwrap_or(Value::Null),
            ),
            (
                "exit_category",
                Value::opt_text(exit.map(|(_, c)| c.to_string())),
            ),
        ]
    };
    d.rows(
        "lyon",
        "cocagne",
        EntityKind::Pathway,
        vec![
            pathway("w1", Some((3, "durable"))),
            pathway("w2", Some((3, "transition"))),
            pathway("w3", Some((3, "positive"))),
            pathway("w4", Some((3, "other"))),
            pathway("w5", Some((3, "neutralised"))),
            pathway("w6", Some((3, "durable"))),
            pathway("w7", None),
            pathway("w8", Some((5, "other"))),
        ],
    )
    .await;
    // March: 5 exits that count (w5 is neutralised), 4 dynamic, 2 durable.
    let dynamic = def("iae_dynamic_exit_rate");
    check(
        "iae_dynamic_exit_rate",
        &rows_at(w, &dynamic, Granularity::Month).await,
        &[
            ("lyon", "2024-03", None, 80.0, 5),
            ("lyon", "2024-05", None, 0.0, 1),
        ],
    );
    check(
        "iae_dynamic_exit_rate",
        &rows_at(w, &dynamic, Granularity::Year).await,
        &[("lyon", "2024", None, 400.0 / 6.0, 6)],
    );
    let durable = def("iae_durable_exit_rate");
    check(
        "iae_durable_exit_rate",
        &rows_at(w, &durable, Granularity::Quarter).await,
        &[
            ("lyon", "2024-Q1", None, 40.0, 5),
            ("lyon", "2024-Q2", None, 0.0, 1),
        ],
    );
}

#[tokio::test]
async fn farm_diagnostics_give_the_hand_computed_values() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    let w = &db.warehouse;
    let farm = |d: &mut Data<'_>, id: &str, year: &str, scores: [Option<f64>; 3]| {
        let children = ["A", "B", "C"]
            .iter()
            .zip(scores)
            .map(|(code, v)| Child {
                table: "diagnostic_scores",
                values: vec![
                    ("level", text("dimension")),
                    ("code", text(code)),
                    ("value", v.map(Value::Real).unwrap_or(Value::Null)),
                    ("max", Value::Real(100.0)),
                ],
            })
            .collect();
        let cols: Cols = vec![
            ("farm", text(id)),
            ("method", text("IDEA4")),
            ("method_version", text("4.3.0")),
            ("survey_year", text(year)),
        ];
        (d.key(), cols, children)
    };
    let rows = vec![
        farm(&mut d, "f1", "2023", [Some(60.0), Some(55.0), Some(70.0)]),
        farm(
            &mut d,
            "f2",
            "2022-2023",
            [Some(40.0), Some(65.0), Some(52.0)],
        ),
        farm(&mut d, "f3", "2023", [Some(50.0), Some(50.0), Some(50.0)]),
        farm(&mut d, "f4", "2023", [Some(80.0), None, Some(30.0)]),
    ];
    d.add("lyon", "civam", EntityKind::Diagnostic, rows).await;
    // A: 40 50 60 80 -> 55; B: 50 55 65 (f4 not assessed) -> 55; C: 30 50 52 70 -> 51.
    let median = def("idea4_median_dimension");
    assert_eq!(median.granularity, Granularity::Year);
    check(
        "idea4_median_dimension",
        &rows_at(w, &median, Granularity::Year).await,
        &[
            ("lyon", "2023", Some("A"), 55.0, 4),
            ("lyon", "2023", Some("B"), 55.0, 3),
            ("lyon", "2023", Some("C"), 51.0, 4),
        ],
    );
    // Assessed in all three: f1 (lowest 55), f2 (40), f3 (50): 2 of 3.
    let above = def("idea4_farms_above_threshold");
    check(
        "idea4_farms_above_threshold",
        &rows_at(w, &above, Granularity::Year).await,
        &[("lyon", "2023", None, 200.0 / 3.0, 3)],
    );
}

#[tokio::test]
async fn local_sourcing_gives_the_hand_computed_value() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    let w = &db.warehouse;
    let supply = |producer: &str, km: Option<f64>| -> Cols {
        vec![
            ("producer", text(producer)),
            ("distance_km", km.map(Value::Real).unwrap_or(Value::Null)),
            ("month", text("2024-03")),
        ]
    };
    d.rows(
        "lyon",
        "vrac",
        EntityKind::Supply,
        vec![
            supply("p1", Some(20.0)),
            supply("p1", Some(20.0)),
            supply("p2", Some(200.0)),
            supply("p3", Some(150.0)),
            supply("p4", None),
        ],
    )
    .await;
    // 3 of the 4 supplies with a known distance come from 150 km or less.
    let local = def("local_sourcing_share");
    check(
        "local_sourcing_share",
        &rows_at(w, &local, Granularity::Month).await,
        &[("lyon", "2024-03", None, 75.0, 3)],
    );
}

#[tokio::test]
async fn short_supply_chain_gives_the_hand_computed_value() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    let w = &db.warehouse;
    // The Croix-Rousse group buys carrots and apples from their producers in
    // March (its supplies); soap and lentils come from a wholesaler (no
    // producer, no supply). La Guillotière declares no supply.
    let supply = |site: &str, product: &str| -> Cols {
        vec![
            ("site", text(site)),
            ("producer", text("Ferme du Pilat")),
            ("product", text(product)),
            ("month", text("2024-03")),
        ]
    };
    d.rows(
        "lyon",
        "vrac",
        EntityKind::Supply,
        vec![
            supply("croix-rousse", "Carottes"),
            supply("croix-rousse", "Pommes"),
        ],
    )
    .await;
    let line = |h: &str,
                site: &str,
                channel: &str,
                month: &str,
                product: &str,
                paid: Option<i64>|
     -> Cols {
        vec![
            ("household", text(h)),
            ("site", text(site)),
            ("channel", text(channel)),
            ("month", text(month)),
            ("product", text(product)),
            (
                "price_paid_cents",
                paid.map(Value::Int).unwrap_or(Value::Null),
            ),
        ]
    };
    d.rows(
        "lyon",
        "vrac",
        EntityKind::OrderLine,
        vec![
            line(
                "h1",
                "croix-rousse",
                "buying-group",
                "2024-03",
                "Carottes",
                Some(300),
            ),
            line(
                "h1",
                "croix-rousse",
                "buying-group",
                "2024-03",
                "Savon de Marseille",
                Some(200),
            ),
            line(
                "h2",
                "croix-rousse",
                "buying-group",
                "2024-03",
                "Pommes",
                Some(500),
            ),
            line(
                "h2",
                "croix-rousse",
                "buying-group",
                "2024-03",
                "Lentilles",
                Some(100),
            ),
            // No price paid: not counted.
            line(
                "h3",
                "croix-rousse",
                "buying-group",
                "2024-03",
                "Carottes",
                None,
            ),
            // Another group, no supply of its own.
            line(
                "g1",
                "guillotiere",
                "buying-group",
                "2024-03",
                "Carottes",
                Some(400),
            ),
            // April: no supply declared that month.
            line(
                "h4",
                "croix-rousse",
                "buying-group",
                "2024-04",
                "Carottes",
                Some(250),
            ),
            // A grocery sale is not a buying group's purchase.
            line(
                "u1",
                "croix-rousse",
                "grocery",
                "2024-03",
                "Carottes",
                Some(1000),
            ),
        ],
    )
    .await;
    let short = def("short_supply_chain_share");
    assert!(short.runs_once());
    // March: 300 + 500 of 1,500 paid; April: 0 of 250; the year: 800 of 1,750.
    check(
        "short_supply_chain_share",
        &rows_at(w, &short, Granularity::Month).await,
        &[
            ("lyon", "2024-03", None, 100.0 * 800.0 / 1500.0, 3),
            ("lyon", "2024-04", None, 0.0, 1),
        ],
    );
    check(
        "short_supply_chain_share",
        &rows_at(w, &short, Granularity::Quarter).await,
        &[
            ("lyon", "2024-Q1", None, 100.0 * 800.0 / 1500.0, 3),
            ("lyon", "2024-Q2", None, 0.0, 1),
        ],
    );
    check(
        "short_supply_chain_share",
        &rows_at(w, &short, Granularity::Year).await,
        &[("lyon", "2024", None, 100.0 * 800.0 / 1750.0, 4)],
    );
}

/// `count` VRAC households buying in `territory` during `month` of 2024.
async fn buyers(d: &mut Data<'_>, territory: &str, month: u8, count: usize, prefix: &str) {
    let rows = (0..count)
        .map(|i| -> Cols {
            vec![
                ("household", text(&format!("{prefix}{i}"))),
                ("channel", text("buying-group")),
                ("date", day(2024, month, 5)),
                ("dfc_type", text("vegetable")),
                ("quantity", Value::Real(1.0)),
            ]
        })
        .collect();
    d.rows(territory, "vrac", EntityKind::OrderLine, rows).await;
}

#[tokio::test]
async fn a_cell_of_ten_households_is_suppressed_and_one_of_eleven_shown() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    buyers(&mut d, "lyon", 3, 10, "l").await;
    buyers(&mut d, "toulouse", 3, 11, "t").await;
    let reached = def("households_reached");
    let all = compute(
        &db.warehouse,
        std::slice::from_ref(&reached),
        QUERY_TIME_LIMIT,
    )
    .await
    .unwrap();
    let march = select(all.clone(), &[], &[Period::parse("2024-03").unwrap()]);
    type Shown<'a> = (&'a str, Option<&'a str>, Option<f64>, Option<i64>, bool);
    let got: Vec<Shown> = march
        .iter()
        .map(|c| {
            (
                c.territory.as_str(),
                c.breakdown.as_deref(),
                c.value,
                c.n,
                c.suppressed,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("lyon", None, None, None, true),
            ("lyon", Some("vrac"), None, None, true),
            ("toulouse", None, Some(11.0), Some(11), false),
            ("toulouse", Some("vrac"), Some(11.0), Some(11), false),
        ]
    );
    // The year of each territory is the same households: the same fate.
    let years = select(all, &["lyon".to_string(), "toulouse".to_string()], &[]);
    assert!(years.iter().all(|c| c.period == Period::Year(2024)));
    assert!(
        years
            .iter()
            .all(|c| c.suppressed == (c.territory == "lyon")),
        "{years:?}"
    );
}

#[tokio::test]
async fn an_attacker_holding_every_published_table_recomputes_no_suppressed_cell() {
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    // Lyon: 10 households in January, 30 in February, 40 in March (VRAC),
    // and 5 Secours Catholique households in March.
    buyers(&mut d, "lyon", 1, 10, "j").await;
    buyers(&mut d, "lyon", 2, 30, "f").await;
    buyers(&mut d, "lyon", 3, 40, "m").await;
    let aids = (0..5)
        .map(|i| -> Cols {
            vec![
                ("household", text(&format!("s{i}"))),
                ("date", day(2024, 3, 12)),
                ("kind", text("food-voucher")),
                ("amount_cents", Value::Int(2000)),
            ]
        })
        .collect();
    d.rows("lyon", "secours-catholique", EntityKind::Distribution, aids)
        .await;
    let reached = def("households_reached");
    let all = compute(
        &db.warehouse,
        std::slice::from_ref(&reached),
        QUERY_TIME_LIMIT,
    )
    .await
    .unwrap();
    // Every table a request can give: every period, every breakdown.
    let tables: Vec<Published> = ["2024", "2024-Q1", "2024-01", "2024-02", "2024-03"]
        .iter()
        .flat_map(|p| {
            select(
                all.clone(),
                &["lyon".to_string()],
                &[Period::parse(p).unwrap()],
            )
        })
        .collect();
    let hidden: Vec<String> = tables
        .iter()
        .filter(|c| c.suppressed)
        .map(|c| format!("{} {}", c.period, c.breakdown.as_deref().unwrap_or("all")))
        .collect();
    // January (10) is primary; February (30) its smallest sibling, for all
    // networks and for VRAC; the 5 Secours Catholique households (primary,
    // in March, the quarter and the year) take VRAC with them in each (the
    // total of all networks is shown).
    assert_eq!(
        hidden,
        [
            "2024 secours-catholique",
            "2024 vrac",
            "2024-Q1 secours-catholique",
            "2024-Q1 vrac",
            "2024-01 all",
            "2024-01 vrac",
            "2024-02 all",
            "2024-02 vrac",
            "2024-03 secours-catholique",
            "2024-03 vrac",
        ]
    );
    let seen: Vec<suppression::tests::Seen> = tables
        .iter()
        .map(|c| (c.period, c.breakdown.clone(), c.n))
        .collect();
    assert_eq!(suppression::tests::attack(&seen), Vec::<usize>::new());
}

#[tokio::test]
async fn indicator_queries_run_read_only() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    for sql in [
        "INSERT INTO networks (id, name) VALUES ('intruder', 'x')",
        "DELETE FROM territories",
    ] {
        let e = w
            .indicator_cells(&[(sql.to_string(), false)], QUERY_TIME_LIMIT)
            .await
            .expect_err(sql);
        let message = e.to_string().to_lowercase();
        assert!(
            message.contains("read"),
            "{sql} on {:?}: {message}",
            w.backend()
        );
    }
    let intruders = w
        .inspect("SELECT id FROM networks WHERE id = 'intruder'")
        .await
        .unwrap();
    assert!(intruders.is_empty());
}

#[tokio::test]
async fn an_indicator_query_is_stopped_at_its_time_limit() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    // Counts to a billion: minutes on either backend.
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) \
                   SELECT 't' AS territory, '2024' AS period, CAST(count(*) AS DOUBLE PRECISION) AS value, \
                   count(*) AS n FROM c";
    let limit = std::time::Duration::from_millis(300);
    let e = w
        .indicator_cells(&[(endless.to_string(), false)], limit)
        .await
        .expect_err("stopped");
    assert!(
        matches!(e, crate::warehouse::WarehouseError::TimeLimit(l) if l == limit),
        "{e}"
    );
    // The warehouse answers the next query as before.
    let quick =
        "SELECT 't' AS territory, '2024' AS period, CAST(1.5 AS DOUBLE PRECISION) AS value, 3 AS n";
    let rows = w
        .indicator_cells(&[(quick.to_string(), false)], limit)
        .await
        .unwrap();
    assert_eq!(rows[0][0].n, 3);
    assert_eq!(rows[0][0].value, Some(1.5));
}

#[test]
fn periods_parse_and_nest() {
    for (s, p) in [
        ("2024", Period::Year(2024)),
        ("2024-Q1", Period::Quarter(2024, 1)),
        ("2024-03", Period::Month(2024, 3)),
    ] {
        assert_eq!(Period::parse(s).unwrap(), p);
        assert_eq!(p.to_string(), s);
    }
    for bad in [
        "24",
        "2024-Q5",
        "2024-13",
        "2024-3",
        "2024-Q01",
        "mars 2024",
        "",
    ] {
        assert!(Period::parse(bad).is_err(), "{bad}");
    }
    assert!(Period::Year(2024).contains(Period::Month(2024, 12)));
    assert!(Period::Quarter(2024, 2).contains(Period::Month(2024, 6)));
    assert!(!Period::Quarter(2024, 2).contains(Period::Month(2024, 7)));
}

/// How many rows of the pre-aggregates differ from what the migration's SQL
/// computes from the facts now (both ways: missing, extra or different).
async fn aggregate_drift(w: &crate::warehouse::Warehouse) -> (i64, i64) {
    let dir = if w.backend() == crate::warehouse::Backend::Postgres {
        "postgres"
    } else {
        "sqlite"
    };
    let migration = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("migrations/{dir}/0008_household_periods.sql")),
    )
    .unwrap();
    let mut drift = Vec::new();
    for (table, columns) in [
        (
            "household_periods",
            "granularity, territory, period, network, household, household_key, entity, channel, \
             facts, active, collected, weight_g, priced, paid_cents, reference_cents, amounts, amount_cents",
        ),
        (
            "product_periods",
            "granularity, territory, period, network, channel, dfc_type, lines, weighed, weight_g",
        ),
    ] {
        // The migration's `INSERT INTO <table> (…) WITH … ;`, without its INSERT.
        let start = migration.find(&format!("INSERT INTO {table} (")).unwrap();
        let statement = &migration[start..];
        let statement = &statement[..statement.find(';').unwrap()];
        let select = &statement[statement.find("WITH").unwrap()..];
        let count = |a: &str, b: &str| {
            format!("SELECT count(*) FROM (SELECT * FROM ({a}) x EXCEPT SELECT * FROM ({b}) y) z")
        };
        let stored = format!("SELECT {columns} FROM {table}");
        let mut n = 0;
        for sql in [count(select, &stored), count(&stored, select)] {
            let rows = w
                .inspect(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            n += rows[0][0].as_deref().unwrap().parse::<i64>().unwrap();
        }
        drift.push(n);
    }
    (drift[0], drift[1])
}

/// The pre-aggregates stay what the facts say through new rows, updated
/// rows (moved to another month, household or price), rows taken back from
/// a re-sent file and rows a re-sent file no longer holds, on this backend.
#[tokio::test]
async fn pre_aggregates_stay_exact_under_upserts_and_resent_files() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let run = w.start_run("aggregates", false).await.unwrap();
    let write = |kind: EntityKind, rows: Vec<([u8; 16], Cols, i64)>, replace: Vec<String>| {
        let table = schema::table(kind);
        let prov = Provenance {
            source: "vrac-lyon".into(),
            stream: table.name.to_string(),
            territory: "lyon".into(),
            network: "vrac".into(),
            run_id: run,
        };
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(key, cols, hash)| Row {
                kind,
                key,
                origin: Some("commande_2024.xlsx".into()),
                hash,
                values: table
                    .columns
                    .iter()
                    .map(|c| {
                        let v = cols
                            .iter()
                            .find(|(n, _)| *n == c.name)
                            .map(|(_, v)| v.clone());
                        let v = v.unwrap_or(match (c.nullable, c.ty) {
                            (true, _) => Value::Null,
                            (false, schema::Type::Real) => Value::Real(1.0),
                            (false, schema::Type::Bool) => Value::Bool(false),
                            (false, schema::Type::Int) => Value::Int(0),
                            _ => text("-"),
                        });
                        (c.name, v)
                    })
                    .collect(),
                children: Vec::new(),
            })
            .collect();
        async move {
            w.commit_batch(
                &prov,
                BatchWrite {
                    read: rows.len() as u64,
                    rows,
                    replace_origins: replace,
                    batches: 1,
                    ..BatchWrite::default()
                },
            )
            .await
            .unwrap();
        }
    };
    let key = |i: u8| {
        let mut k = [0u8; 16];
        k[0] = i;
        k
    };
    let line = |h: &str,
                date: Value,
                month: Option<&str>,
                dfc: &str,
                q: f64,
                unit: &str,
                paid: Option<i64>|
     -> Cols {
        vec![
            (
                "household",
                if h.is_empty() { Value::Null } else { text(h) },
            ),
            ("channel", text("buying-group")),
            ("date", date),
            ("month", month.map(text).unwrap_or(Value::Null)),
            ("dfc_type", text(dfc)),
            ("quantity", Value::Real(q)),
            ("unit", text(unit)),
            (
                "price_paid_cents",
                paid.map(Value::Int).unwrap_or(Value::Null),
            ),
            ("reference_price_cents", Value::Int(400)),
        ]
    };
    let aid = |h: &str,
               date: Value,
               kind: &str,
               status: Option<&str>,
               amount: Option<i64>,
               kg: Option<f64>|
     -> Cols {
        vec![
            ("household", text(h)),
            ("household_key", Value::Key(key(200))),
            ("date", date),
            ("kind", text(kind)),
            ("status", status.map(text).unwrap_or(Value::Null)),
            (
                "amount_cents",
                amount.map(Value::Int).unwrap_or(Value::Null),
            ),
            ("quantity_kg", kg.map(Value::Real).unwrap_or(Value::Null)),
        ]
    };
    use EntityKind::{Distribution, OrderLine};
    // New rows: dated lines, a line known by its month only, a line with no
    // household, weights in kg, g and pieces, a line with no price.
    write(
        OrderLine,
        vec![
            (
                key(1),
                line(
                    "h1",
                    day(2024, 1, 5),
                    None,
                    "vegetable",
                    1.5,
                    "kg",
                    Some(300),
                ),
                1,
            ),
            (
                key(2),
                line("h1", day(2024, 1, 20), None, "fruit", 250.0, "g", Some(100)),
                1,
            ),
            (
                key(3),
                line(
                    "h2",
                    Value::Null,
                    Some("2024-02"),
                    "vegetable",
                    2.0,
                    "KG",
                    None,
                ),
                1,
            ),
            (
                key(4),
                line("", day(2024, 3, 1), None, "bakery", 1.0, "piece", Some(200)),
                1,
            ),
            (
                key(5),
                line(
                    "h3",
                    day(2024, 4, 9),
                    None,
                    "vegetable",
                    0.3333,
                    "kg",
                    Some(50),
                ),
                1,
            ),
        ],
        vec![],
    )
    .await;
    write(
        Distribution,
        vec![
            (
                key(11),
                aid(
                    "s1",
                    day(2024, 1, 3),
                    "basket",
                    Some("collected"),
                    None,
                    Some(4.5),
                ),
                1,
            ),
            (
                key(12),
                aid(
                    "s1",
                    day(2024, 2, 3),
                    "basket",
                    Some("absent"),
                    None,
                    Some(4.5),
                ),
                1,
            ),
            (
                key(13),
                aid(
                    "s2",
                    day(2024, 2, 9),
                    "food-voucher",
                    Some("given"),
                    Some(1500),
                    None,
                ),
                1,
            ),
            (
                key(14),
                aid("s2", day(2024, 5, 9), "parcel", None, None, Some(3.0)),
                1,
            ),
        ],
        vec![],
    )
    .await;
    assert_eq!(
        aggregate_drift(w).await,
        (0, 0),
        "after new rows on {:?}",
        w.backend()
    );
    let rows = w
        .inspect("SELECT count(*) FROM household_periods WHERE granularity = 'year'")
        .await
        .unwrap();
    assert_eq!(
        rows[0][0].as_deref(),
        Some("7"),
        "one row per household, entity and channel"
    );
    // Updates: a line moved to another month and household, a price that
    // changes, an aid whose status changes; an unchanged row; a new row.
    write(
        OrderLine,
        vec![
            (
                key(1),
                line(
                    "h2",
                    day(2024, 6, 5),
                    None,
                    "vegetable",
                    1.5,
                    "kg",
                    Some(300),
                ),
                2,
            ),
            (
                key(2),
                line("h1", day(2024, 1, 20), None, "fruit", 250.0, "g", Some(150)),
                2,
            ),
            (
                key(3),
                line(
                    "h2",
                    Value::Null,
                    Some("2024-02"),
                    "vegetable",
                    2.0,
                    "KG",
                    None,
                ),
                1,
            ),
            (
                key(6),
                line("h4", day(2024, 2, 2), None, "fruit", 1.0, "kg", Some(100)),
                1,
            ),
        ],
        vec![],
    )
    .await;
    write(
        Distribution,
        vec![(
            key(12),
            aid(
                "s1",
                day(2024, 2, 3),
                "basket",
                Some("collected"),
                None,
                Some(4.5),
            ),
            2,
        )],
        vec![],
    )
    .await;
    assert_eq!(
        aggregate_drift(w).await,
        (0, 0),
        "after updates on {:?}",
        w.backend()
    );
    // The file is re-sent without lines 4 and 5 and without aid 14: taken
    // back, the others stay; removed when the stream's pass ends.
    write(
        OrderLine,
        vec![
            (
                key(1),
                line(
                    "h2",
                    day(2024, 6, 5),
                    None,
                    "vegetable",
                    1.5,
                    "kg",
                    Some(300),
                ),
                2,
            ),
            (
                key(2),
                line("h1", day(2024, 1, 20), None, "fruit", 250.0, "g", Some(150)),
                2,
            ),
            (
                key(3),
                line(
                    "h2",
                    Value::Null,
                    Some("2024-02"),
                    "vegetable",
                    2.0,
                    "KG",
                    None,
                ),
                1,
            ),
            (
                key(6),
                line("h4", day(2024, 2, 2), None, "fruit", 1.0, "kg", Some(120)),
                3,
            ),
        ],
        vec!["commande_2024.xlsx".into()],
    )
    .await;
    write(
        Distribution,
        vec![
            (
                key(11),
                aid(
                    "s1",
                    day(2024, 1, 3),
                    "basket",
                    Some("collected"),
                    None,
                    Some(4.5),
                ),
                1,
            ),
            (
                key(12),
                aid(
                    "s1",
                    day(2024, 2, 3),
                    "basket",
                    Some("collected"),
                    None,
                    Some(4.5),
                ),
                2,
            ),
            (
                key(13),
                aid(
                    "s2",
                    day(2024, 2, 9),
                    "food-voucher",
                    Some("given"),
                    Some(1500),
                    None,
                ),
                1,
            ),
        ],
        vec!["commande_2024.xlsx".into()],
    )
    .await;
    assert_eq!(
        w.finish_stream("vrac-lyon", "order_lines").await.unwrap(),
        2
    );
    assert_eq!(
        w.finish_stream("vrac-lyon", "distributions").await.unwrap(),
        1
    );
    assert_eq!(
        aggregate_drift(w).await,
        (0, 0),
        "after a re-sent file on {:?}",
        w.backend()
    );
    // What is left, by hand: April and May are gone; h1's January fruit at
    // the new price; the June line of h2.
    let rows = w
        .inspect(
            "SELECT period, household, CAST(facts AS TEXT), CAST(paid_cents AS TEXT) \
             FROM household_periods WHERE granularity = 'month' AND entity = 'order_line' \
             ORDER BY period, household",
        )
        .await
        .unwrap();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["2024-01", "h1", "1", "150"],
            ["2024-02", "h2", "1", "0"],
            ["2024-02", "h4", "1", "120"],
            ["2024-06", "h2", "1", "300"],
        ]
        .map(|r| r.map(str::to_string).to_vec())
        .to_vec()
    );
    let rows = w
        .inspect(
            "SELECT CAST(sum(weight_g) AS TEXT) FROM product_periods WHERE granularity = 'year'",
        )
        .await
        .unwrap();
    assert_eq!(
        rows[0][0].as_deref(),
        Some("4750"),
        "1.5 kg + 250 g + 2 kg + 1 kg"
    );
}

/// The figure: every indicator for 4 territories × 12 months over
/// `VIVRES_BENCH_ROWS` (default 1,000,000) fact rows written through
/// `commit_batch`. A measurement, not a check: run it by hand,
/// `cargo test -p vivres --lib indicators::tests::bench -- --ignored --nocapture`
/// (and again with `VIVRES_TEST_DATABASE_URL`).
#[tokio::test]
#[ignore]
async fn bench_every_indicator_over_a_million_fact_rows() {
    let total: usize = std::env::var("VIVRES_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let db = TestDb::new().await;
    let mut d = Data::new(&db.warehouse).await;
    let started = std::time::Instant::now();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let territories = ["lyon", "toulouse", "montpellier", "aix-marseille"];
    // Per territory and month: 70 % order lines, 20 % distributions,
    // 6 % survey responses, 2 % pathways, 2 % supplies.
    let per_cell = total / (territories.len() * 12);
    let mut written = 0usize;
    for t in territories {
        for m in 1..=12u8 {
            let lines: Vec<Cols> = (0..per_cell * 70 / 100)
                .map(|_| {
                    let h = next(3000);
                    vec![
                        ("household", text(&format!("h{h}"))),
                        (
                            "channel",
                            text(if h % 2 == 0 {
                                "grocery"
                            } else {
                                "buying-group"
                            }),
                        ),
                        ("date", day(2024, m, 1 + next(28) as u8)),
                        (
                            "dfc_type",
                            text(["vegetable", "fruit", "bakery", "drink"][next(4) as usize]),
                        ),
                        ("quantity", Value::Real(1.0 + next(3) as f64)),
                        ("unit", text("kg")),
                        ("price_paid_cents", Value::Int(100 + next(200) as i64)),
                        ("reference_price_cents", Value::Int(400)),
                    ]
                })
                .collect();
            written += lines.len();
            let network = "vrac";
            for chunk in lines.chunks(20_000) {
                d.rows(t, network, EntityKind::OrderLine, chunk.to_vec())
                    .await;
            }
            let aids: Vec<Cols> = (0..per_cell * 20 / 100)
                .map(|_| {
                    vec![
                        ("household", text(&format!("s{}", next(1500)))),
                        ("date", day(2024, m, 1 + next(28) as u8)),
                        (
                            "kind",
                            text(["food-voucher", "prepaid-card", "parcel"][next(3) as usize]),
                        ),
                        ("status", text("given")),
                        ("amount_cents", Value::Int(1000 + next(4000) as i64)),
                    ]
                })
                .collect();
            written += aids.len();
            d.rows(t, "secours-catholique", EntityKind::Distribution, aids)
                .await;
            let at = time::Date::from_calendar_date(2024, time::Month::try_from(m).unwrap(), 10)
                .unwrap()
                .with_hms(12, 0, 0)
                .unwrap()
                .assume_utc();
            let surveys: Vec<Cols> = (0..per_cell * 6 / 100)
                .map(|i| {
                    vec![
                        ("household", text(&format!("k{m}-{i}"))),
                        ("wave", text(["T0", "T1", "T2"][(m as usize - 1) / 4])),
                        ("submitted_at", Value::Timestamp(at)),
                        ("instrument", text("fies")),
                        ("raw_score", Value::Int(next(9) as i64)),
                    ]
                })
                .collect();
            written += surveys.len();
            d.rows(t, "civam", EntityKind::SurveyResponse, surveys)
                .await;
            let pathways: Vec<Cols> = (0..per_cell * 2 / 100)
                .map(|i| {
                    vec![
                        ("worker", text(&format!("w{m}-{i}"))),
                        ("entry_date", day(2023, m, 1)),
                        ("exit_date", day(2024, m, 1 + next(28) as u8)),
                        (
                            "exit_category",
                            text(
                                ["durable", "transition", "positive", "other", "neutralised"]
                                    [next(5) as usize],
                            ),
                        ),
                    ]
                })
                .collect();
            written += pathways.len();
            d.rows(t, "cocagne", EntityKind::Pathway, pathways).await;
            let month = format!("2024-{m:02}");
            let supplies: Vec<Cols> = (0..per_cell * 2 / 100)
                .map(|_| {
                    vec![
                        ("producer", text(&format!("p{}", next(200)))),
                        ("distance_km", Value::Real(next(400) as f64)),
                        ("month", text(&month)),
                    ]
                })
                .collect();
            written += supplies.len();
            d.rows(t, "vrac", EntityKind::Supply, supplies).await;
        }
    }
    let loaded = started.elapsed();
    let defs = load_dir(&shipped_dir()).unwrap();
    let started = std::time::Instant::now();
    let cells = compute(&db.warehouse, &defs, QUERY_TIME_LIMIT)
        .await
        .unwrap();
    let took = started.elapsed();
    let months = select(
        cells.clone(),
        &[],
        &(1..=12).map(|m| Period::Month(2024, m)).collect::<Vec<_>>(),
    );
    println!(
        "{:?}: {written} fact rows loaded in {:.1} s; {} indicators, every period \
         (month, quarter, year) and territory, suppressed: {} cells ({} of them for the \
         12 months of 4 territories) in {:.2} s",
        db.warehouse.backend(),
        loaded.as_secs_f64(),
        defs.len(),
        cells.len(),
        months.len(),
        took.as_secs_f64()
    );
    for def in &defs {
        let one = std::slice::from_ref(def);
        let t = std::time::Instant::now();
        compute(&db.warehouse, one, QUERY_TIME_LIMIT).await.unwrap();
        println!("  {:<32} {:.3} s", def.id, t.elapsed().as_secs_f64());
    }
}
