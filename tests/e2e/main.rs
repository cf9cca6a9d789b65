//! End-to-end tests: the real hub, real wasm plugins, real SQLite files, the
//! partner simulator on 127.0.0.1. Build the plugins first (`cargo xtask test`
//! does).

mod acceptance;
mod api;
mod console;
mod crash;
mod deploy;
mod faults;
mod files;
mod helpers;
mod hostile;
mod migrate;
mod nodes;
mod python;
mod sandbox;
mod sites;

use std::collections::BTreeMap;
use std::time::Duration;

use helpers::*;
use partner_sim::Fault;
use vivres::sync::{SyncOptions, sync_source};
use vivres::warehouse::RunStatus;

fn quarantined_total(e: &partner_sim::Expected) -> u64 {
    (e.subscriptions_quarantined.values().sum::<usize>()
        + e.deliveries_quarantined.values().sum::<usize>()) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_then_no_change_then_one_percent_changed() {
    let t = TestHub::start(Setup {
        size: 10_000,
        ..Setup::default()
    })
    .await;
    let exp = t.sim.expected("lyon");
    assert_eq!(exp.deliveries_total, 10_000);

    let first = t.sync("cocagne-lyon").await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let c = first.counts;
    assert_eq!(c.read, c.inserted + c.updated + c.unchanged + c.quarantined);
    assert_eq!(
        t.count("distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );
    assert_eq!(
        t.count("households").await,
        stored(exp.subscriptions_total, &exp.subscriptions_quarantined)
    );
    assert_eq!(c.quarantined, quarantined_total(&exp));
    // Each quarantine reason as many times as the simulator planted it.
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for q in t
        .hub
        .warehouse
        .quarantine(Some("cocagne-lyon"), Some(first.id), i64::MAX)
        .await
        .unwrap()
    {
        *by_reason.entry(q.reason).or_default() += 1;
    }
    let mut planted = exp.subscriptions_quarantined.clone();
    for (r, n) in &exp.deliveries_quarantined {
        *planted.entry(r.clone()).or_default() += n;
    }
    assert_eq!(by_reason, planted);

    // Nothing changed at the partner: nothing written.
    let second = t.sync("cocagne-lyon").await;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(
        (second.counts.inserted, second.counts.updated),
        (0, 0),
        "{second:?}"
    );
    assert_eq!(
        t.count("distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );

    // 1% changed: exactly those updated, nothing else re-written.
    let before: BTreeMap<String, i64> =
        helpers::pairs(&t.hub, "SELECT key, run_id FROM distributions")
            .await
            .into_iter()
            .collect();
    let changed = t.sim.change_share("lyon", 0.01);
    assert_eq!(changed.len(), 100);
    let valid_changed = changed
        .iter()
        .filter(|id| !exp.quarantined_ids.contains_key(*id))
        .count() as u64;
    let third = t.sync("cocagne-lyon").await;
    assert_eq!(third.status, RunStatus::Succeeded, "{:?}", third.error);
    assert_eq!(third.counts.inserted, 0);
    assert_eq!(third.counts.updated, valid_changed);
    let rewritten = helpers::scalar(
        &t.hub,
        &format!(
            "SELECT count(*) FROM distributions WHERE run_id = {}",
            third.id
        ),
    )
    .await
    .unwrap_or(0);
    assert_eq!(rewritten as u64, valid_changed);
    assert_eq!(before.len() as i64, t.count("distributions").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_updated_at_across_page_boundaries() {
    // 7 items share each second and pages hold 10: most boundaries fall in a tie.
    let t = TestHub::start(Setup {
        size: 300,
        ties: 7,
        page_size: 10,
        ..Setup::default()
    })
    .await;
    let exp = t.sim.expected("lyon");
    let report = t.sync("cocagne-lyon").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    // 300 deliveries at 10 a page: dozens of pages (merged into fewer commits).
    assert!(t.sim.requests_served() > 30, "{report:?}");
    // Every delivery stored exactly once: keys are unique by construction of the
    // table, so equal counts mean nothing skipped and nothing duplicated.
    assert_eq!(
        t.count("distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );
    let expected_keys: std::collections::BTreeSet<String> = t
        .sim
        .deliveries("lyon")
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .filter(|id| !exp.quarantined_ids.contains_key(id))
        .map(|id| t.hub.pseudonymiser.record_key("cocagne-lyon", &id))
        .collect();
    let stored_keys: std::collections::BTreeSet<String> =
        helpers::pairs(&t.hub, "SELECT key FROM distributions")
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
    assert_eq!(stored_keys, expected_keys);
    // Changes landing on the boundary second are still picked up.
    let changed = t.sim.change_share("lyon", 0.05);
    let again = t.sync("cocagne-lyon").await;
    let valid = changed
        .iter()
        .filter(|id| !exp.quarantined_ids.contains_key(*id))
        .count() as u64;
    assert_eq!((again.counts.inserted, again.counts.updated), (0, valid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_loses_nothing_and_duplicates_nothing() {
    let t = TestHub::start(Setup {
        size: 3_000,
        page_size: 50,
        ..Setup::default()
    })
    .await;
    // Slow pages so the process is surely mid-sync when killed.
    t.sim.set_fault(None, Fault::Slow { delay_ms: 40 });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["sync", "cocagne-lyon"])
        .envs(&t.vars)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vivres starts");
    // Wait until a few batches are committed, then SIGKILL.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let batches = helpers::scalar(&t.hub, "SELECT max(batches) FROM runs").await;
        if batches.unwrap_or(0) >= 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child never committed 5 batches"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    t.sim.set_fault(None, Fault::None);
    let partial = t.count("distributions").await;
    assert!(partial > 0);

    let resumed = t.sync("cocagne-lyon").await;
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    let runs = t
        .hub
        .warehouse
        .runs(Some("cocagne-lyon"), 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].status, RunStatus::Interrupted, "{:?}", runs[1]);

    // A clean sync of the same data into a fresh warehouse: same tables.
    let clean = TestHub::start(Setup {
        size: 3_000,
        page_size: 50,
        ..Setup::default()
    })
    .await;
    let report = clean.sync("cocagne-lyon").await;
    assert_eq!(report.status, RunStatus::Succeeded);
    for table in ["distributions", "households"] {
        assert_eq!(
            content(&t.hub, table).await,
            content(&clean.hub, table).await,
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_waited_out_and_a_failing_partner_resumes() {
    let t = TestHub::start(Setup {
        size: 600,
        page_size: 100,
        ..Setup::default()
    })
    .await;
    let exp = t.sim.expected("lyon");
    t.sim.set_fault(
        None,
        Fault::TooManyRequests {
            retry_after_secs: 1,
            times: 2,
        },
    );
    let started = std::time::Instant::now();
    let ok = t.sync("cocagne-lyon").await;
    assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    assert_eq!(t.sim.requests_by_status().get(&429).copied(), Some(2));
    assert_eq!(
        t.count("distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );

    // A persistent 500 from the first page on: the run fails, clearly.
    let changed = t.sim.change_share("lyon", 0.5);
    t.sim.set_fault(None, Fault::ServerError { times: None });
    let failed = t.sync("cocagne-lyon").await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error_kind.as_deref(), Some("partner_unavailable"));
    let message = failed.error.clone().unwrap_or_default();
    assert!(message.contains("500"), "{message}");
    let log = t.hub.warehouse.run_logs(failed.id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.level == "error" && l.message.contains("500")),
        "{log:?}"
    );

    // The partner recovers: the next run resumes and gets every change.
    t.sim.set_fault(None, Fault::None);
    let next = t.sync("cocagne-lyon").await;
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let valid = changed
        .iter()
        .filter(|id| !exp.quarantined_ids.contains_key(*id))
        .count() as u64;
    assert_eq!(next.counts.updated, valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_plugins_are_stopped_and_the_hub_carries_on() {
    let misbehave = plugins_dir().join("misbehave.wasm");
    let source = |id: &str, mode: &str, url: &str| {
        format!(
            r#"
[[sources]]
id = "{id}"
connector = "misbehave"
plugin = "{plugin}"
network = "cocagne"
territory = "lyon"
streams = ["things"]
[sources.config]
mode = "{mode}"
url = "{url}"
"#,
            plugin = misbehave.display()
        )
    };
    let mut extra = source("spin", "spin", "");
    extra += &source("alloc", "alloc", "");
    extra += &source("forbidden", "http", "http://partner.invalid/api");
    extra += &source("loopback", "http", "http://127.0.0.1:9/");
    let t = TestHub::start(Setup {
        size: 200,
        plugin_call_seconds: 2,
        plugin_memory_mib: 128,
        extra_sources: extra,
        ..Setup::default()
    })
    .await;

    let spin = t.sync("spin").await;
    assert_eq!(spin.status, RunStatus::Failed);
    assert_eq!(spin.error_kind.as_deref(), Some("plugin"));
    assert!(
        spin.error.as_deref().unwrap_or("").contains("deadline"),
        "{:?}",
        spin.error
    );

    let alloc = t.sync("alloc").await;
    assert_eq!(alloc.status, RunStatus::Failed);
    assert!(
        alloc.error.as_deref().unwrap_or("").contains("memory"),
        "{:?}",
        alloc.error
    );

    for id in ["forbidden", "loopback"] {
        let denied = t.sync(id).await;
        assert_eq!(denied.status, RunStatus::Failed, "{id}");
        let e = denied.error.as_deref().unwrap_or("");
        assert!(
            e.contains("not allowed") || e.contains("denied"),
            "{id}: {e}"
        );
    }

    // The hub carries on.
    let ok = t.sync("cocagne-lyon").await;
    assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_member_numbers_and_names_appear_nowhere() {
    let t = TestHub::start(Setup {
        size: 2_000,
        ..Setup::default()
    })
    .await;
    let exp = t.sim.expected("lyon");
    assert!(exp.raw_person_values.len() > 100);
    // A sync in a child process too, to read what it logs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["--log-format", "json", "sync", "cocagne-lyon", "--json"])
        .envs(&t.vars)
        .env("RUST_LOG", "info,vivres=trace,sqlx=debug,reqwest=debug")
        .output()
        .expect("vivres runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = t.sync("cocagne-lyon").await;
    assert_eq!(again.status, RunStatus::Succeeded);
    // Every table's every cell, as the database gives it back (both backends).
    let mut cells = String::new();
    for table in vivres::warehouse::schema::TABLES {
        for row in t
            .hub
            .warehouse
            .inspect(&format!("SELECT * FROM {}", table.name))
            .await
            .unwrap()
        {
            for cell in row.into_iter().flatten() {
                cells.push_str(&cell);
                cells.push('\n');
            }
        }
    }
    assert!(cells.len() > 100_000, "the warehouse dump is too small");
    t.hub.warehouse.close().await;

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), out.stdout.clone()),
        ("stderr".into(), out.stderr.clone()),
        ("warehouse tables".into(), cells.into_bytes()),
    ];
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            haystacks.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    if t.hub.warehouse.backend() == vivres::warehouse::Backend::Sqlite {
        assert!(haystacks.iter().any(|(n, _)| n.ends_with("vivres.sqlite")));
    }
    // Lossy UTF-8 keeps every ASCII and UTF-8 run, which is how SQLite stores text.
    let haystacks: Vec<(String, String)> = haystacks
        .into_iter()
        .map(|(n, b)| (n, String::from_utf8_lossy(&b).into_owned()))
        .collect();
    for value in &exp.raw_person_values {
        for (name, text) in &haystacks {
            assert!(
                !text.contains(value.as_str()),
                "a raw person value appears in {name}"
            );
        }
    }
}

#[test]
fn a_wrong_config_field_fails_at_start_naming_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = config_text(dir.path(), &Setup::default()).replace("allowed_hosts", "allowed_host");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&path)
        .args(["sync", "cocagne-lyon"])
        .env("SIMULATOR", "127.0.0.1:1")
        .env("E2E_KEY", KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("allowed_host"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_of_a_source_is_refused_while_one_runs() {
    let t = TestHub::start(Setup {
        size: 500,
        page_size: 20,
        ..Setup::default()
    })
    .await;
    t.sim.set_fault(None, Fault::Slow { delay_ms: 30 });
    let options = SyncOptions::default();
    let (a, b) = tokio::join!(sync_source(&t.hub, "cocagne-lyon", &options), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sync_source(&t.hub, "cocagne-lyon", &options).await
    });
    assert_eq!(a.unwrap().status, RunStatus::Succeeded);
    let err = b.unwrap_err().to_string();
    assert!(err.contains("already has a run in progress"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pseudonymisation_key_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.toml");
    std::fs::write(&path, config_text(dir.path(), &Setup::default())).unwrap();
    let mut vars = BTreeMap::new();
    vars.insert("SIMULATOR".to_string(), "127.0.0.1:1".to_string());
    let config = vivres::config::Config::load_with(&path, &vars).unwrap();
    let err = vivres::Hub::start(config, vars)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("pseudonymisation key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_lists_reasons_without_personal_values_and_replay_closes_entries() {
    let t = TestHub::start(Setup {
        size: 2_000,
        ..Setup::default()
    })
    .await;
    let exp = t.sim.expected("lyon");
    let first = t.sync("cocagne-lyon").await;
    let open = t
        .hub
        .warehouse
        .quarantine(Some("cocagne-lyon"), None, i64::MAX)
        .await
        .unwrap();
    assert_eq!(open.len() as u64, first.counts.quarantined);
    assert!(
        open.iter()
            .all(|q| !q.field.is_empty() && !q.reason.is_empty())
    );
    let listing = serde_json::to_string(&open).unwrap();
    for value in &exp.raw_person_values {
        assert!(
            !listing.contains(value.as_str()),
            "a raw person value is listed"
        );
    }

    // Nothing was fixed: the replay re-reads everything, stores nothing new,
    // quarantines the same records again and closes the earlier entries.
    let replay = vivres::cli::replay(&t.hub, "cocagne-lyon").await.unwrap();
    assert_eq!(replay.status, RunStatus::Succeeded, "{:?}", replay.error);
    assert!(replay.full_refresh);
    assert_eq!((replay.counts.inserted, replay.counts.updated), (0, 0));
    assert_eq!(replay.counts.quarantined, first.counts.quarantined);
    let open = t
        .hub
        .warehouse
        .quarantine(Some("cocagne-lyon"), None, i64::MAX)
        .await
        .unwrap();
    assert_eq!(open.len() as u64, replay.counts.quarantined);
    assert!(open.iter().all(|q| q.run_id == replay.id));
}
