//! Behaviour of the warehouse, on whichever backend `VIVRES_TEST_DATABASE_URL`
//! names (`.ci/run` runs them on SQLite and on PostgreSQL).

use super::schema::{self, Role, Type};
use super::testing::TestDb;
use super::*;

#[test]
fn pow2_chunks_cover_everything_with_few_lengths() {
    let items: Vec<u32> = (0..1_000).collect();
    let chunks: Vec<&[u32]> = pow2_chunks(&items, 300).collect();
    assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 1_000);
    assert!(
        chunks
            .iter()
            .all(|c| c.len().is_power_of_two() && c.len() <= 256)
    );
    assert_eq!(chunks.concat(), items);
    assert_eq!(pow2_chunks(&items[..0], 8).count(), 0);
}

/// The migrated schema of this backend is exactly `schema::TABLES`: same
/// tables, same columns in the same order, same types and nullability.
#[tokio::test]
async fn schema_matches_the_migrations() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let postgres = w.backend() == Backend::Postgres;
    for table in schema::TABLES {
        let found = w.catalogue(table.name).await.unwrap();
        let expected: Vec<(String, String, bool)> = table
            .all_columns()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.ty.declared(postgres).to_string(),
                    c.nullable,
                )
            })
            .collect();
        assert_eq!(found, expected, "table {} on {:?}", table.name, w.backend());
    }
    let listed = if postgres {
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_name NOT LIKE '\\_%' ORDER BY 1"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' \
         AND name NOT LIKE 'sqlite%' ORDER BY 1"
    };
    let mut tables: Vec<String> = w
        .inspect(listed)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    tables.sort();
    let mut described: Vec<String> = schema::TABLES.iter().map(|t| t.name.to_string()).collect();
    described.sort();
    assert_eq!(tables, described, "tables the dictionary does not describe");
}

#[tokio::test]
async fn one_run_per_source() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let a = w.start_run("s", false).await.unwrap();
    match w.start_run("s", false).await {
        Err(WarehouseError::AlreadyRunning { run_id, .. }) => assert_eq!(run_id, a),
        other => panic!("{other:?}"),
    }
    // Another source may run meanwhile.
    w.start_run("t", false).await.unwrap();
    w.finish_run(a, RunStatus::Succeeded, None, &[])
        .await
        .unwrap();
    let b = w.start_run("s", false).await.unwrap();
    assert!(b > a);
    // A run owned by a process that is gone is marked interrupted; its end is
    // its last heartbeat.
    w.set_owner_for_tests(b, 999_999_999).await;
    let c = w.start_run("s", false).await.unwrap();
    let closed = w.run(b).await.unwrap();
    assert_eq!(closed.status, RunStatus::Interrupted);
    assert_eq!(closed.ended_at.as_deref(), Some(closed.started_at.as_str()));
    assert_eq!(w.run(c).await.unwrap().status, RunStatus::Running);
}

/// Leases: a queued run is claimed once; a run whose node's lease went stale
/// is taken over once, by one conditional UPDATE; the node that lost it can
/// neither commit to it nor end it; a tick is claimed once.
#[tokio::test]
async fn leases_change_hands_once() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    w.register_node("test").await.unwrap();
    let queued = w.queue_run("s", false).await.unwrap();
    assert_eq!(w.claim_run(queued).await.unwrap(), Claim::Ours);
    assert_eq!(
        w.claim_run(queued).await.unwrap(),
        Claim::Held(node_id().to_string())
    );
    assert_eq!(w.node_beat().await.unwrap(), vec![queued]);
    // Our own lease is fresh: nothing stale.
    let lease = time::Duration::seconds(60);
    assert!(w.stale_runs(now() - lease).await.unwrap().is_empty());

    // Another node holds it and went quiet 2 minutes ago.
    w.lease_for_tests(queued, "gone", time::Duration::minutes(2))
        .await;
    let stale = now() - lease;
    assert_eq!(
        w.stale_runs(stale).await.unwrap(),
        vec![(queued, "gone".to_string())]
    );
    assert!(
        !w.take_over_run(queued, "someone-else", stale)
            .await
            .unwrap()
    );
    assert!(w.take_over_run(queued, "gone", stale).await.unwrap());
    assert!(
        !w.take_over_run(queued, "gone", stale).await.unwrap(),
        "once"
    );
    let report = w.run(queued).await.unwrap();
    assert_eq!(report.status, RunStatus::Running);

    // Taken from us: our commits and our end are refused.
    w.lease_for_tests(queued, "taker", time::Duration::ZERO)
        .await;
    let prov = Provenance {
        source: "s".into(),
        stream: "st".into(),
        territory: "lyon".into(),
        network: "cocagne".into(),
        run_id: queued,
    };
    let write = BatchWrite {
        state: Some(Some("page-2".into())),
        ..BatchWrite::default()
    };
    match w.commit_batch(&prov, write).await {
        Err(WarehouseError::LeaseLost(id)) => assert_eq!(id, queued),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.checkpoints("s").await.unwrap().len(), 0);
    w.finish_run(queued, RunStatus::Failed, Some(("x", "y")), &[])
        .await
        .unwrap();
    assert_eq!(w.run(queued).await.unwrap().status, RunStatus::Running);
    assert!(w.node_beat().await.unwrap().is_empty());

    assert!(w.claim_tick("s", 1_700_000_000).await.unwrap());
    assert!(!w.claim_tick("s", 1_700_000_000).await.unwrap());
    assert!(w.claim_tick("s", 1_700_000_060).await.unwrap());
    assert_eq!(w.last_tick("s").await.unwrap(), Some(1_700_000_060));
}

/// A distinct value of each column's type, so that a value landing in the
/// wrong column is seen.
fn sample(i: usize, ty: Type) -> (Value, String) {
    let n = i as i64 + 1;
    match ty {
        Type::Text => (Value::Text(format!("v{n}")), format!("v{n}")),
        Type::Int => (Value::Int(n * 7), (n * 7).to_string()),
        Type::Real => (Value::Real(n as f64 + 0.25), (n as f64 + 0.25).to_string()),
        Type::Bool => (Value::Bool(n % 2 == 0), (n % 2 == 0).to_string()),
        Type::Date => {
            let d = time::Date::from_calendar_date(2024, time::Month::March, (n % 28 + 1) as u8)
                .unwrap();
            (Value::Date(d), d.to_string())
        }
        Type::Timestamp => {
            let t = time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + n).unwrap();
            (Value::Timestamp(t), rfc3339(t))
        }
        Type::Bytes => {
            ([n as u8; 16], hex::encode([n as u8; 16])).pipe(|(k, h)| (Value::Key(k), h))
        }
    }
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// Every entity: a row handed over by name lands in the columns of those
/// names, on insert and on update, with its children.
#[tokio::test]
async fn named_values_land_in_their_columns() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let run = w.start_run("src", false).await.unwrap();
    for (t, table) in schema::TABLES
        .iter()
        .filter(|t| t.role == Role::Fact)
        .enumerate()
    {
        let kind = table.kind.unwrap();
        let prov = Provenance {
            source: "src".into(),
            stream: table.name.into(),
            territory: "lyon".into(),
            network: "cocagne".into(),
            run_id: run,
        };
        for round in 0..2 {
            let values: Vec<(&'static str, Value)> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name, sample(i + round * 3, c.ty).0))
                .collect();
            let children = match kind {
                EntityKind::Diagnostic => vec![Child {
                    table: "diagnostic_scores",
                    values: vec![
                        ("level", Value::Text("indicator".into())),
                        ("code", Value::Text("A1".into())),
                        ("value", Value::Real(round as f64 + 3.0)),
                        ("max", Value::Real(4.0)),
                    ],
                }],
                EntityKind::SurveyResponse => vec![Child {
                    table: "survey_answers",
                    values: vec![
                        ("item", Value::Text("fies_1".into())),
                        ("answer", Value::Text(format!("r{round}"))),
                    ],
                }],
                _ => Vec::new(),
            };
            let row = Row {
                kind,
                key: [t as u8 + 1; 16],
                origin: Some("file.csv".into()),
                hash: round as i64,
                values,
                children,
            };
            let counts = w
                .commit_batch(
                    &prov,
                    BatchWrite {
                        rows: vec![row],
                        read: 1,
                        batches: 1,
                        ..BatchWrite::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                (counts.inserted, counts.updated),
                if round == 0 { (1, 0) } else { (0, 1) },
                "{}",
                table.name
            );
            let columns: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
            let got = w
                .inspect(&format!("SELECT {} FROM {}", columns.join(","), table.name))
                .await
                .unwrap();
            assert_eq!(got.len(), 1, "{}", table.name);
            for (i, c) in table.columns.iter().enumerate() {
                let expected = sample(i + round * 3, c.ty).1;
                let cell = got[0][i].clone().unwrap_or_default();
                let same = match c.ty {
                    // SQLite keeps timestamps as RFC 3339 text.
                    Type::Timestamp => cell.replace(' ', "T").starts_with(&expected[..19]),
                    _ => cell == expected,
                };
                assert!(same, "{}.{}: {cell} != {expected}", table.name, c.name);
            }
            if let Some(child) = schema::child_of(kind).map(|t| t.name) {
                let rows = w
                    .inspect(&format!("SELECT count(*) FROM {child}"))
                    .await
                    .unwrap();
                assert_eq!(rows[0][0].as_deref(), Some("1"), "{child}");
            }
        }
    }
}

/// A re-sent file: rows it no longer holds are removed when the stream ends,
/// through the origins index; a stream with nothing re-sent removes nothing.
#[tokio::test]
async fn resent_files_remove_what_they_no_longer_hold() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let run = w.start_run("src", false).await.unwrap();
    let prov = Provenance {
        source: "src".into(),
        stream: "people".into(),
        territory: "lyon".into(),
        network: "cocagne".into(),
        run_id: run,
    };
    let table = schema::table(EntityKind::Participation);
    let row = |k: u8, origin: &str| Row {
        kind: EntityKind::Participation,
        key: [k; 16],
        origin: Some(origin.into()),
        hash: 1,
        values: table
            .columns
            .iter()
            .map(|c| {
                (
                    c.name,
                    if c.name == "kind" {
                        Value::Text("atelier".into())
                    } else {
                        Value::Null
                    },
                )
            })
            .collect(),
        children: Vec::new(),
    };
    let write = |rows: Vec<Row>, replace: Vec<String>| BatchWrite {
        read: rows.len() as u64,
        rows,
        replace_origins: replace,
        batches: 1,
        ..BatchWrite::default()
    };
    w.commit_batch(
        &prov,
        write(
            vec![row(1, "a.csv"), row(2, "a.csv"), row(3, "b.csv")],
            vec![],
        ),
    )
    .await
    .unwrap();
    assert_eq!(w.finish_stream("src", "people").await.unwrap(), 0);
    // a.csv again, without key 2.
    let c = w
        .commit_batch(&prov, write(vec![row(1, "a.csv")], vec!["a.csv".into()]))
        .await
        .unwrap();
    assert_eq!((c.inserted, c.unchanged), (0, 1));
    assert_eq!(w.finish_stream("src", "people").await.unwrap(), 1);
    let left = w
        .inspect("SELECT count(*) FROM participation")
        .await
        .unwrap();
    assert_eq!(left[0][0].as_deref(), Some("2"));
    assert_eq!(w.finish_stream("src", "people").await.unwrap(), 0);
}

/// A PostgreSQL URL that answers nothing says what to check, without the password.
#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    let Err(e) = Warehouse::open("postgres://vivres:s3cret@127.0.0.1:1/vivres").await else {
        panic!("opened a warehouse on a closed port");
    };
    let message = e.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("database_url"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(matches!(
        Warehouse::open("mysql://x").await,
        Err(WarehouseError::UnsupportedUrl(_))
    ));
}

fn reject(key: Option<[u8; 16]>, origin: Option<&str>, line: Option<u64>) -> crate::model::Reject {
    crate::model::Reject {
        key: key.map(hex::encode),
        origin: origin.map(str::to_string),
        line,
        cell: None,
        reason: crate::model::RejectReason::InvalidDate,
        field: "date".into(),
        detail: "not a date".into(),
        payload_hash: [line.unwrap_or(0) as u8; 32],
        partner_key: None,
    }
}

fn prov_of(run_id: i64) -> Provenance {
    Provenance {
        source: "src".into(),
        stream: "people".into(),
        territory: "lyon".into(),
        network: "cocagne".into(),
        run_id,
    }
}

fn participation_row(k: u8, origin: Option<&str>) -> Row {
    let table = schema::table(EntityKind::Participation);
    Row {
        kind: EntityKind::Participation,
        key: [k; 16],
        origin: origin.map(str::to_string),
        hash: 1,
        values: table
            .columns
            .iter()
            .map(|c| {
                (
                    c.name,
                    if c.name == "kind" {
                        Value::Text("atelier".into())
                    } else {
                        Value::Null
                    },
                )
            })
            .collect(),
        children: Vec::new(),
    }
}

/// A partner's record refused, then stored once corrected: its entry closes
/// `accepted`, by the run that stored it, and no longer lists as open.
#[tokio::test]
async fn a_record_stored_since_closes_its_entry() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let first = w.start_run("src", false).await.unwrap();
    let write = |rows: Vec<Row>, rejects| BatchWrite {
        read: 1,
        rows,
        rejects,
        batches: 1,
        ..BatchWrite::default()
    };
    w.commit_batch(
        &prov_of(first),
        write(vec![], vec![reject(Some([7; 16]), None, None)]),
    )
    .await
    .unwrap();
    w.finish_run(first, RunStatus::Succeeded, None, &[])
        .await
        .unwrap();
    let open = w.quarantine(Some("src"), None, 100).await.unwrap();
    assert_eq!(open.len(), 1);

    let second = w.start_run("src", false).await.unwrap();
    w.commit_batch(
        &prov_of(second),
        write(vec![participation_row(7, None)], vec![]),
    )
    .await
    .unwrap();
    assert!(
        w.quarantine(Some("src"), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let closed = w
        .quarantine_by_status(Some("src"), None, EntryStatus::Closed, 100)
        .await
        .unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].entry.id, open[0].id);
    assert_eq!(closed[0].closed_reason.as_deref(), Some("accepted"));
    assert_eq!(closed[0].closed_by, Some(second));
    assert!(closed[0].closed_at.is_some());
}

/// A re-sent file: the lines it still refuses keep their entry (open, the
/// same id), those it no longer refuses close `resent` when the stream ends,
/// and open entries never double.
#[tokio::test]
async fn a_resent_file_closes_the_lines_it_no_longer_refuses() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let write = |rejects, replace: Vec<String>| BatchWrite {
        read: 2,
        rejects,
        replace_origins: replace,
        batches: 1,
        ..BatchWrite::default()
    };
    let first = w.start_run("src", false).await.unwrap();
    w.commit_batch(
        &prov_of(first),
        write(
            vec![
                reject(Some([2; 16]), Some("a.csv"), Some(2)),
                reject(Some([3; 16]), Some("a.csv"), Some(3)),
            ],
            vec!["a.csv".into()],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        w.close_stale_entries("src", "people", first, ClosedReason::Resent)
            .await
            .unwrap(),
        0
    );
    w.finish_run(first, RunStatus::Succeeded, None, &[])
        .await
        .unwrap();
    let before = w.quarantine(Some("src"), None, 100).await.unwrap();
    assert_eq!(before.len(), 2);

    // a.csv again: line 2 corrected, line 3 still refused.
    let second = w.start_run("src", false).await.unwrap();
    w.commit_batch(
        &prov_of(second),
        write(
            vec![reject(Some([3; 16]), Some("a.csv"), Some(3))],
            vec!["a.csv".into()],
        ),
    )
    .await
    .unwrap();
    // Until the stream ends, the file is still being read: line 2 stays open.
    assert_eq!(w.quarantine(Some("src"), None, 100).await.unwrap().len(), 2);
    assert_eq!(
        w.close_stale_entries("src", "people", second, ClosedReason::Resent)
            .await
            .unwrap(),
        1
    );
    let open = w.quarantine(Some("src"), None, 100).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].line, open[0].run_id), (Some(3), second));
    assert_eq!(
        open[0].id,
        before.iter().find(|e| e.line == Some(3)).unwrap().id
    );
    let all = w
        .quarantine_by_status(Some("src"), None, EntryStatus::All, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let closed = all.iter().find(|e| e.entry.line == Some(2)).unwrap();
    assert_eq!(closed.closed_reason.as_deref(), Some("resent"));
    assert_eq!(closed.closed_by, Some(second));
}

/// An interrupted run ends when its process last committed a batch, not
/// when its lease was last renewed nor when the next run noticed.
#[tokio::test]
async fn an_interrupted_run_ends_at_its_last_commit() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    w.register_node("test").await.unwrap();
    let run = w.start_run("src", false).await.unwrap();
    w.commit_batch(
        &prov_of(run),
        BatchWrite {
            read: 1,
            rows: vec![participation_row(1, None)],
            batches: 1,
            ..BatchWrite::default()
        },
    )
    .await
    .unwrap();
    let committed = now();
    // Its node renews its lease after the commit, then the process dies.
    assert_eq!(w.node_beat().await.unwrap(), vec![run]);
    w.set_owner_for_tests(run, 999_999_999).await;
    w.start_run("src", false).await.unwrap();
    let closed = w.run(run).await.unwrap();
    assert_eq!(closed.status, RunStatus::Interrupted);
    let ended = time::OffsetDateTime::parse(
        closed.ended_at.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(ended <= committed, "{ended} after {committed}");
}
