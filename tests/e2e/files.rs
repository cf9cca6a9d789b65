//! The partners' files: every generated quirk either stored with the right
//! values or quarantined with the right reason, `read = stored + quarantined`,
//! nothing personal anywhere, re-sends replace and never double.

use std::collections::BTreeMap;
use std::path::Path;

use partner_sim::files::{FileSet, Outcome};
use vivres::warehouse::RunStatus;

use crate::helpers::*;

/// A hub whose sources are one file connector, its inbox granted.
async fn file_hub(connector: &str, network: &str, streams: &[&str], config: &str) -> TestHub {
    // No list: every stream the connector offers.
    let streams = if streams.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = streams.iter().map(|s| format!("\"{s}\"")).collect();
        format!("streams = [{}]", names.join(", "))
    };
    let extra = format!(
        r#"
[[sources]]
id = "files"
connector = "{connector}"
network = "{network}"
territory = "lyon"
inbox = true
{streams}
[sources.config]
{config}
"#
    );
    TestHub::start(Setup {
        size: 10,
        extra_sources: extra,
        ..Setup::default()
    })
    .await
}

fn inbox_dir(t: &TestHub) -> std::path::PathBuf {
    t.dir.path().join("inbox").join("files")
}

/// A stored column as text (`None`: NULL), or `None` when the row is not stored.
async fn column_text(t: &TestHub, table: &str, key: &str, column: &str) -> Option<Option<String>> {
    let hashed = t.hub.pseudonymiser.record_key_bytes("files", key);
    let rows = t
        .hub
        .warehouse
        .inspect_key(
            &format!(
                "SELECT {column} FROM {table} WHERE stream_id IN (SELECT id FROM streams WHERE source = 'files') AND key = $1"
            ),
            hashed,
        )
        .await
        .unwrap_or_else(|e| panic!("{table}.{column}: {e}"));
    rows.into_iter()
        .next()
        .map(|r| r.into_iter().next().flatten())
}

fn same(expected: &serde_json::Value, text: Option<&str>) -> bool {
    match expected {
        serde_json::Value::Null => text.is_none(),
        serde_json::Value::Bool(b) => text == Some(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => {
            match (n.as_f64(), text.and_then(|t| t.parse::<f64>().ok())) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-6,
                _ => false,
            }
        }
        serde_json::Value::String(s) => text == Some(s.as_str()),
        other => text == Some(other.to_string().as_str()),
    }
}

/// Adds every file, syncs, and checks the outcome against the simulator's expectations.
async fn check_file_set(t: &TestHub, set: &FileSet) {
    let inbox = inbox_dir(t);
    for f in &set.files {
        vivres::inbox::add_file(&inbox, f).expect("added to the inbox");
    }
    let report = t.sync("files").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let c = report.counts;
    assert_eq!(
        c.read,
        c.inserted + c.updated + c.unchanged + c.quarantined,
        "{report:?}"
    );

    for (table, n) in &set.stored {
        let stored: i64 = t
            .hub
            .warehouse
            .inspect(&format!(
                "SELECT count(*) FROM {table} WHERE stream_id IN (SELECT id FROM streams WHERE source = 'files')"
            ))
            .await
            .unwrap()[0][0]
            .as_deref()
            .unwrap_or("0")
            .parse()
            .unwrap();
        assert_eq!(
            stored as usize, *n,
            "{}: rows stored in {table}",
            set.connector
        );
    }
    let entries = t
        .hub
        .warehouse
        .quarantine(Some("files"), None, i64::MAX)
        .await
        .unwrap();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for q in &entries {
        *by_reason.entry(q.reason.clone()).or_default() += 1;
    }
    assert_eq!(
        by_reason, set.quarantined,
        "{}: quarantine by reason",
        set.connector
    );

    for row in &set.rows {
        match &row.outcome {
            Outcome::Stored { table, key, values } => {
                for (column, expected) in values {
                    if let Some(level) = score_level(column) {
                        check_scores(t, set, table, key, level, expected).await;
                        continue;
                    }
                    let Some(text) = column_text(t, table, key, column).await else {
                        panic!(
                            "{}: {}:{} not stored in {table}",
                            set.connector, row.file, row.line
                        );
                    };
                    assert!(
                        same(expected, text.as_deref()),
                        "{}: {}:{} {table}.{column}: expected {expected}, stored {text:?}",
                        set.connector,
                        row.file,
                        row.line
                    );
                }
            }
            Outcome::Quarantined { reason, field } => {
                // The connector's rejects and the host's (residence, dates) alike
                // name the file, the line and the field (contract 0.2: an item
                // carries its line); only a whole unreadable file has no line.
                let at = |q: &vivres::warehouse::QuarantineEntry| {
                    q.origin.as_deref() == Some(row.file.as_str())
                        && &q.reason == reason
                        && match q.line {
                            Some(l) => l as u64 == row.line,
                            None => reason == "malformed_file",
                        }
                };
                let found: Vec<_> = entries.iter().filter(|q| at(q)).collect();
                assert!(
                    !found.is_empty(),
                    "{}: {}:{} not quarantined as {reason} with its line: {:?}",
                    set.connector,
                    row.file,
                    row.line,
                    entries
                        .iter()
                        .filter(|q| q.origin.as_deref() == Some(row.file.as_str())
                            && &q.reason == reason)
                        .map(|q| (q.line, q.field.as_str()))
                        .collect::<Vec<_>>()
                );
                assert!(
                    found.iter().any(|q| &q.field == field),
                    "{}: {}:{} quarantined as {reason} but not on {field}: {:?}",
                    set.connector,
                    row.file,
                    row.line,
                    found.iter().map(|q| q.field.as_str()).collect::<Vec<_>>()
                );
            }
        }
    }

    // Nothing personal in the warehouse files, the logs or the quarantine listing.
    let logs = t.hub.warehouse.run_logs(report.id).await.unwrap();
    let mut texts = vec![
        serde_json::to_string(&entries).unwrap(),
        logs.iter()
            .map(|l| l.message.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    ];
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.to_string_lossy().contains("vivres.sqlite") {
            texts.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
        }
    }
    for value in &set.raw_person_values {
        for text in &texts {
            assert!(
                !text.contains(value.as_str()),
                "{}: a personal value leaked",
                set.connector
            );
        }
    }

    // The same files again: nothing changes.
    for f in &set.files {
        assert!(vivres::inbox::add_file(&inbox, f).unwrap().duplicate);
    }
    let again = t.sync("files").await;
    assert_eq!(again.status, RunStatus::Succeeded);
    assert_eq!(
        (again.counts.read, again.counts.inserted),
        (0, 0),
        "{again:?}"
    );
}

fn generate(
    write: fn(&Path, u64, usize) -> anyhow::Result<FileSet>,
    size: usize,
) -> (tempfile::TempDir, FileSet) {
    let dir = tempfile::tempdir().unwrap();
    let set = write(dir.path(), 5, size).expect("files generated");
    (dir, set)
}

/// IDEA4 expectations name score levels, stored together in `diagnostics.scores`.
fn score_level(column: &str) -> Option<&'static str> {
    match column {
        "items" => Some("item"),
        "indicators" => Some("indicator"),
        "components" => Some("component"),
        "dimensions" => Some("dimension"),
        _ => None,
    }
}

async fn check_scores(
    t: &TestHub,
    set: &FileSet,
    table: &str,
    key: &str,
    level: &str,
    expected: &serde_json::Value,
) {
    if column_text(t, table, key, "farm").await.is_none() {
        panic!("{}: diagnostic {key} not stored", set.connector);
    }
    let hashed = t.hub.pseudonymiser.record_key_bytes("files", key);
    let rows = t
        .hub
        .warehouse
        .inspect_key(
            &format!(
                "SELECT code, value FROM diagnostic_scores WHERE key = $1 AND level = '{level}' \
                 AND stream_id IN (SELECT id FROM streams WHERE source = 'files')"
            ),
            hashed,
        )
        .await
        .unwrap();
    let stored: BTreeMap<String, serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let code = r[0].clone().unwrap_or_default();
            let value = r[1]
                .as_deref()
                .and_then(|v| v.parse::<f64>().ok())
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null);
            (code, value)
        })
        .collect();
    let Some(expected) = expected.as_object() else {
        panic!("{}: {level} expectations are not a map", set.connector);
    };
    for (code, value) in expected {
        let got = stored.get(code).cloned().unwrap_or(serde_json::Value::Null);
        let equal = match (value.as_f64(), got.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            _ => value.is_null() && got.is_null(),
        };
        assert!(
            equal,
            "{}: {key} {level} {code}: expected {value}, stored {got}",
            set.connector
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civam_diagnostics_files() {
    let (_dir, set) = generate(partner_sim::files::civam::write, 60);
    let t = file_hub("civam-diagnostics", "civam", &["diagnostics", "farms"], "").await;
    check_file_set(&t, &set).await;
}

/// Exports of three calculator versions, each with its own item list (4.2.1:
/// 3 items for A15, 2 for A17 and B12), through the real plugin: every
/// dimension is scored (values computed from §4 apart from the connector).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civam_exports_of_several_calculator_versions() {
    let t = file_hub("civam-diagnostics", "civam", &["diagnostics"], "").await;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/civam-diagnostics/data");
    for name in [
        "idea4_200417.json",
        "idea4_626547.json",
        "idea4_580311.json",
    ] {
        vivres::inbox::add_file(&inbox_dir(&t), &data.join(name)).expect("added to the inbox");
    }
    let report = t.sync("files").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!((report.counts.inserted, report.counts.quarantined), (3, 0));
    for (key, version, dims) in [
        ("200417/2021", "4.2.1", [58.0, 85.0, 50.0]),
        ("626547/2020", "4.2.8", [85.0, 90.0, 37.0]),
        ("580311/2022", "4.2.9", [64.0, 76.0, 48.0]),
    ] {
        let stored = column_text(&t, "diagnostics", key, "method_version")
            .await
            .unwrap_or_else(|| panic!("{key} not stored"));
        assert_eq!(stored.as_deref(), Some(version));
        let set = FileSet {
            connector: "civam-diagnostics".into(),
            ..FileSet::default()
        };
        let expected = serde_json::json!({"A": dims[0], "B": dims[1], "C": dims[2]});
        check_scores(&t, &set, "diagnostics", key, "dimension", &expected).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cocagne_iae_pathway_files() {
    let (_dir, set) = generate(partner_sim::files::iae::write, 200);
    let t = file_hub(
        "cocagne-gardens",
        "cocagne",
        &["pathways"],
        &format!(
            "base_url = \"http://${{SIMULATOR}}/lyon\"\ntoken_secret = \"api_token\"\ngarden = \"{}\"",
            partner_sim::files::iae::GARDEN
        ),
    )
    .await;
    check_file_set(&t, &set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secours_catholique_aid_files() {
    let (_dir, set) = generate(partner_sim::files::secours::write, 300);
    let t = file_hub("secours-catholique-aid", "secours-catholique", &[], "").await;
    check_file_set(&t, &set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugess_groceries_files() {
    let (_dir, set) = generate(partner_sim::files::ugess::write, 300);
    let t = file_hub("ugess-groceries", "ugess", &[], "").await;
    check_file_set(&t, &set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vrac_orders_files() {
    let (_dir, set) = generate(partner_sim::files::vrac::write, 300);
    let t = file_hub("vrac-orders", "vrac", &[], "").await;
    check_file_set(&t, &set).await;
}

/// A plugin built against the frozen contract 0.1.0 (`plugins/test-guests/v01`,
/// its own bindings) still runs: its records are upgraded to the latest
/// contract (a 0.1 item has no line: the entry of a record the host refuses
/// has none either), its own reject keeps its line, its log line goes through
/// the 0.1 `host` interface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_against_contract_0_1_runs() {
    let t = file_hub("v01-guest", "secours-catholique", &[], "").await;
    std::fs::create_dir_all(inbox_dir(&t)).unwrap();
    let plugin = t
        .hub
        .host
        .load(&plugins_dir().join("v01_guest.wasm"))
        .await
        .expect("a 0.1 plugin loads");
    assert_eq!(plugin.wit_version(), "0.1.0");

    let report = t.sync("files").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    // households: D1 stored, D2 refused by the host (99999), a reject of line 4;
    // aids: one stored.
    let c = &report.counts;
    assert_eq!((c.read, c.inserted, c.quarantined), (4, 2, 2), "{report:?}");
    assert_eq!(
        column_text(&t, "households", "t1|D1", "residence_postcode").await,
        Some(Some("69003".into()))
    );
    assert_eq!(
        column_text(
            &t,
            "distributions",
            "t1|D1|2024-03-15|food-voucher",
            "amount_cents"
        )
        .await,
        Some(Some("1500".into()))
    );
    assert_eq!(column_text(&t, "households", "t1|D2", "size").await, None);
    let mut entries: Vec<_> = t
        .hub
        .warehouse
        .quarantine(Some("files"), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.reason, q.field, q.origin, q.line, q.cell))
        .collect();
    entries.sort();
    let menages = Some("menages.csv".to_string());
    assert_eq!(
        entries,
        [
            (
                "missing_required".into(),
                "dossier".into(),
                menages.clone(),
                Some(4),
                None
            ),
            (
                "unknown_postcode".into(),
                "residence.postcode".into(),
                menages,
                None,
                None
            ),
        ]
    );
    let logs = t.hub.warehouse.run_logs(report.id).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message == "v01 guest reading aids (clock true)"),
        "{logs:?}"
    );
}

/// A Secours Catholique export (`accueils_lyon-3_2024.csv`) of these data
/// rows, as the teams' tool writes it (Windows-1252, `;`, CRLF).
pub(crate) fn secours_csv(rows: &[&str]) -> Vec<u8> {
    let header = "Date passage;N° dossier;Equipe;Composition;Nb adultes;Nb enfants;CP;Commune;\
                  Ressources mensuelles;Reste à vivre;Type aide;Montant;Commentaire";
    let mut out: Vec<u8> = header
        .chars()
        .map(|c| match c {
            '°' => 0xB0,
            'à' => 0xE0,
            c => c as u8,
        })
        .collect();
    for r in rows {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(r.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

pub(crate) const SC_NAME: &str = "accueils_lyon-3_2024.csv";
pub(crate) const SC_GOOD: &str =
    "15/03/2024;D001;Lyon 3;Personne seule;1;0;69003;Lyon;800;200;Colis;;";
pub(crate) const SC_BAD_DATE: &str =
    "31/02/2024;D002;Lyon 3;Personne seule;1;0;69003;Lyon;800;200;Colis;;";
pub(crate) const SC_FIXED_DATE: &str =
    "29/02/2024;D002;Lyon 3;Personne seule;1;0;69003;Lyon;800;200;Colis;;";
pub(crate) const SC_BAD_POSTCODE: &str =
    "16/03/2024;D003;Lyon 3;Personne seule;1;0;99999;;800;200;Colis;;";

pub(crate) fn add_bytes(inbox: &Path, name: &str, bytes: &[u8]) {
    vivres::inbox::add_reader(inbox, name, &mut std::io::Cursor::new(bytes.to_vec()))
        .expect("added to the inbox");
}

/// Issue 8, item 6: an entry is open while its line is still refused in the
/// latest version of its file. A corrected re-send closes the lines it no
/// longer refuses (`resent`, by that run) and keeps the entry of a line it
/// still refuses (the same id: open entries never double); a full refresh
/// and a replay re-read the file without filing anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarantine_follows_the_latest_version_of_each_file() {
    use vivres::warehouse::EntryStatus;
    let t = file_hub("secours-catholique-aid", "secours-catholique", &[], "").await;
    let inbox = inbox_dir(&t);
    let entries = |status| {
        let w = t.hub.warehouse.clone();
        async move {
            w.quarantine_by_status(Some("files"), None, status, 100)
                .await
                .expect("quarantine")
        }
    };
    add_bytes(
        &inbox,
        SC_NAME,
        &secours_csv(&[SC_GOOD, SC_BAD_DATE, SC_BAD_POSTCODE]),
    );
    let first = t.sync("files").await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let open = entries(EntryStatus::Open).await;
    // One entry per refused row, though both streams (aids, households) read it.
    let mut lines: Vec<_> = open
        .iter()
        .map(|e| (e.entry.line, e.entry.reason.clone()))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            (Some(3), "invalid_date".to_string()),
            (Some(4), "unknown_postcode".to_string())
        ],
        "{open:?}"
    );
    assert!(open.iter().all(|e| e.partner_key.is_none()), "{open:?}");
    let still = open
        .iter()
        .find(|e| e.entry.line == Some(4))
        .unwrap()
        .entry
        .id;

    // The date corrected, the postcode not.
    add_bytes(
        &inbox,
        SC_NAME,
        &secours_csv(&[SC_GOOD, SC_FIXED_DATE, SC_BAD_POSTCODE]),
    );
    let second = t.sync("files").await;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    let open = entries(EntryStatus::Open).await;
    assert_eq!(
        open.iter()
            .map(|e| (e.entry.id, e.entry.run_id))
            .collect::<Vec<_>>(),
        [(still, second.id)],
        "{open:?}"
    );
    let closed = entries(EntryStatus::Closed).await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(
        (
            closed[0].entry.line,
            closed[0].closed_reason.as_deref(),
            closed[0].closed_by
        ),
        (Some(3), Some("resent"), Some(second.id))
    );
    assert!(closed[0].closed_at.is_some());

    // Read again in full, and replayed: nothing filed twice.
    let third = vivres::sync::sync_source(
        &t.hub,
        "files",
        &vivres::sync::SyncOptions {
            full_refresh: true,
            ..Default::default()
        },
    )
    .await
    .expect("sync");
    assert_eq!(third.status, RunStatus::Succeeded, "{:?}", third.error);
    let replay = vivres::cli::replay(&t.hub, "files").await.unwrap();
    assert_eq!(replay.status, RunStatus::Succeeded, "{:?}", replay.error);
    let open = entries(EntryStatus::Open).await;
    assert_eq!(
        open.iter()
            .map(|e| (e.entry.id, e.entry.run_id))
            .collect::<Vec<_>>(),
        [(still, replay.id)],
        "{open:?}"
    );
    assert_eq!(entries(EntryStatus::All).await.len(), 2);
}

/// Issue 8, item 7: a file source whose partner has sent nothing yet syncs
/// (reading nothing) and says so, instead of failing with a path of the
/// hub's machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_source_with_nothing_received_yet_says_so() {
    let t = file_hub("secours-catholique-aid", "secours-catholique", &[], "").await;
    assert!(!inbox_dir(&t).exists());
    let report = t.sync("files").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!((report.counts.read, report.error.as_deref()), (0, None));
    let logs = t.hub.warehouse.run_logs(report.id).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message.starts_with("no file received yet")),
        "{logs:?}"
    );
    let root = t.dir.path().display().to_string();
    assert!(logs.iter().all(|l| !l.message.contains(&root)), "{logs:?}");
}

/// Issue 8, item 7: `vivres sync --json` gives each stream's figures (a
/// Secours Catholique row is read once by aids and once by households: the
/// run's `read` adds both) and the run's log; `vivres runs` shows each run's
/// error kind and message; what started a run is recorded with it; a wrong
/// source name lists the known ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reports_say_what_happened() {
    let t = file_hub("secours-catholique-aid", "secours-catholique", &[], "").await;
    add_bytes(
        &inbox_dir(&t),
        SC_NAME,
        &secours_csv(&[
            SC_GOOD,
            SC_BAD_DATE,
            SC_FIXED_DATE.replace("D002", "D004").as_str(),
        ]),
    );
    // A file no stream reads (not an `accueils_…` export): named as ignored.
    add_bytes(&inbox_dir(&t), "benevoles.csv", b"Nom;Prenom\r\n");
    let report = t.sync("files").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.trigger.as_deref(), Some("manual"));
    assert_eq!(
        (report.files_read.clone(), report.files_ignored.clone()),
        (vec![SC_NAME.to_string()], vec!["benevoles.csv".to_string()])
    );
    let json = vivres::cli::report_json(&t.hub.warehouse, &report)
        .await
        .unwrap();
    let streams: BTreeMap<String, (u64, u64)> = json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            (
                s["stream"].as_str().unwrap().to_string(),
                (
                    s["read"].as_u64().unwrap(),
                    s["quarantined"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        streams,
        BTreeMap::from([("aids".into(), (3, 1)), ("households".into(), (3, 1))]),
        "{json}"
    );
    assert_eq!(json["read"], 6);
    let log = json["log"].as_array().expect("log");
    assert!(
        log.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("stream aids: read 3")),
        "{json}"
    );

    let replay = vivres::cli::replay(&t.hub, "files").await.unwrap();
    assert_eq!(replay.trigger.as_deref(), Some("replay"));

    let failed = vivres::warehouse::RunReport {
        status: RunStatus::Failed,
        error_kind: Some("bad_config".into()),
        error: Some("token_secret: the source has no secret named `x`".into()),
        ..report.clone()
    };
    let table = vivres::cli::runs_table(&[failed, report]);
    assert!(
        table.contains("[bad_config] token_secret: the source has no secret named `x`"),
        "{table}"
    );

    let err = vivres::sync::sync_source(&t.hub, "flies", &Default::default())
        .await
        .err()
        .expect("no such source")
        .to_string();
    assert!(
        err.contains("`flies`") && err.contains("known: ") && err.contains("files"),
        "{err}"
    );
}
