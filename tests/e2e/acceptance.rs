//! The connector authors' tools end to end: `vivres connector new` writes a
//! Rust and a Python connector that build and pass `vivres connector test`;
//! shipped connectors pass it on fixtures (HTTP recorded from the simulator
//! then replayed with the simulator stopped; sample files); and the suite
//! fails, naming the check and the fix, on deliberately broken connectors
//! (`plugins/test-guests/acceptance-broken`).
//!
//! The scaffolded Rust crate is built once per test run into
//! `target/acceptance-scaffold` (shared between runs), compiled components are
//! cached in `target/acceptance-hub`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use partner_sim::SimConfig;
use vivres::acceptance::{self, Options, Outcome, Report};
use vivres::plugin_host::HostSettings;

use crate::helpers::plugins_dir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// The hub's data directory for these tests (its compile cache): under the
/// repository's `target/`, so that a Python component compiles once, not per run.
fn hub_dir() -> PathBuf {
    let dir = repo().join("target/acceptance-hub");
    std::fs::create_dir_all(&dir).expect("target/acceptance-hub");
    dir
}

fn settings() -> HostSettings {
    HostSettings::new(hub_dir().join("cache"))
}

/// `vivres --config <hub.toml> args…` in `cwd`.
fn vivres(cwd: &Path, args: &[&str]) -> Output {
    let hub_toml = cwd.join("hub-for-tests.toml");
    std::fs::write(
        &hub_toml,
        format!("[hub]\ndata_dir = \"{}\"\n", hub_dir().display()),
    )
    .expect("hub config");
    Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&hub_toml)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("vivres runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
}

/// Writes a connector with `vivres connector new` into a fresh temp dir
/// outside the repository; the repository is found from the binary's place.
fn scaffold(lang: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("food-parcels");
    let out = vivres(
        tmp.path(),
        &[
            "connector",
            "new",
            "food-parcels",
            "--lang",
            lang,
            "--dir",
            dir.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "connector new:\n{}", text(&out));
    for file in ["README.md", "fixtures/config.json", "fixtures/planted.txt"] {
        assert!(dir.join(file).is_file(), "{file} not written");
    }
    (tmp, dir)
}

/// `vivres connector test` on the scaffold's own fixtures must pass every check.
fn passes_its_own_fixtures(dir: &Path, wasm: &Path) {
    let out = vivres(
        dir,
        &[
            "connector",
            "test",
            wasm.to_str().expect("utf-8 path"),
            "--config",
            "fixtures/config.json",
            "--fixtures",
            "fixtures",
        ],
    );
    let report = text(&out);
    assert!(out.status.success(), "connector test:\n{report}");
    for check in [
        "PASS spec",
        "PASS check:",
        "PASS check refuses",
        "PASS discover",
        "PASS full read: 1 stream(s) read to the end: 6 records, 2 rejects",
        "PASS second read",
        "PASS resume",
        "PASS boundary duplicates",
        "PASS records",
        "PASS personal values",
        "all checks passed",
    ] {
        assert!(report.contains(check), "no `{check}` in:\n{report}");
    }
}

#[test]
fn a_scaffolded_rust_connector_builds_and_passes_the_suite() {
    let (_tmp, dir) = scaffold("rust");
    let target = repo().join("target/acceptance-scaffold");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_ok(
        Command::new(cargo)
            .args(["build", "--target", "wasm32-wasip2", "--release"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target),
        "cargo build of the scaffolded connector",
    );
    let wasm = target.join("wasm32-wasip2/release/food_parcels.wasm");
    passes_its_own_fixtures(&dir, &wasm);
}

#[test]
fn a_scaffolded_python_connector_builds_and_passes_the_suite() {
    let tool = repo().join("target/python-venv/bin/componentize-py");
    assert!(
        tool.is_file(),
        "componentize-py is not installed: run `cargo xtask build-plugins` first"
    );
    let (_tmp, dir) = scaffold("python");
    run_ok(
        Command::new("sh")
            .arg("build.sh")
            .current_dir(&dir)
            .env("COMPONENTIZE_PY", &tool),
        "build.sh of the scaffolded connector",
    );
    passes_its_own_fixtures(&dir, &dir.join("food_parcels.wasm"));
}

fn detail<'a>(report: &'a Report, name: &str) -> &'a str {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.detail.as_str())
        .unwrap_or_else(|| panic!("no check `{name}` in\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cocagne_gardens_passes_on_http_recorded_from_the_simulator_then_replayed_offline() {
    let mut sim_config = SimConfig::demo(11, 300);
    sim_config.gardens.truncate(1);
    sim_config.ties = 7;
    let sim = partner_sim::start(sim_config).await.expect("simulator");
    let tmp = tempfile::tempdir().expect("temp dir");
    let fixtures = tmp.path().join("fixtures");
    std::fs::create_dir_all(&fixtures).expect("fixtures dir");
    let config = serde_json::json!({
        "base_url": sim.base_url("lyon"),
        "token_secret": "api_token",
        "garden": "jardin-lyon",
        "page_size": 50,
    })
    .to_string();
    let mut options = Options {
        plugin: plugins_dir().join("cocagne_gardens.wasm"),
        config,
        fixtures: Some(fixtures.clone()),
        record: true,
        allowed_hosts: vec![sim.addr().to_string()],
        inbox: None,
        secrets: BTreeMap::from([("api_token".to_string(), "token-lyon".to_string())]),
        request_budget: None,
    };
    let recorded = acceptance::run(settings(), options.clone())
        .await
        .expect("suite runs");
    assert!(
        recorded.passed(),
        "recording against the simulator:\n{recorded}"
    );
    let tape = std::fs::read_to_string(fixtures.join("http.json")).expect("http.json written");
    assert!(tape.contains("/api/v2/deliveries"), "{tape:.300}");
    assert!(!tape.contains("token-lyon"), "a secret in the fixtures");
    let served = sim.requests_served();
    sim.shutdown().await;

    // Offline: the simulator is gone, another token, no host granted by hand.
    options.record = false;
    options.allowed_hosts.clear();
    options.secrets = BTreeMap::from([("api_token".to_string(), "another-token".to_string())]);
    let replayed = acceptance::run(settings(), options)
        .await
        .expect("suite runs");
    assert!(replayed.passed(), "replay:\n{replayed}");
    assert!(
        detail(&replayed, "fixtures").contains("answered from"),
        "{replayed}"
    );
    let deliveries = replayed.counts.get("deliveries").expect("deliveries read");
    assert!(deliveries.0 + deliveries.1 >= 300, "{replayed}");
    assert!(served > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugess_groceries_passes_on_sample_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let fixtures = tmp.path().join("fixtures");
    let inbox = fixtures.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let set = partner_sim::files::ugess::write(&inbox, 5, 400).expect("sample files");
    // Names, phone numbers, raw card numbers: none may leak. Short numbers
    // would match counts in any log line.
    let planted: Vec<&str> = set
        .raw_person_values
        .iter()
        .map(|v| v.trim())
        .filter(|v| v.chars().count() >= 5 || v.chars().any(|c| !c.is_ascii_digit()))
        .filter(|v| v.chars().count() >= 3)
        .collect();
    assert!(!planted.is_empty());
    std::fs::write(fixtures.join("planted.txt"), planted.join("\n")).expect("planted.txt");
    let report = acceptance::run(
        settings(),
        Options {
            plugin: plugins_dir().join("ugess_groceries.wasm"),
            config: r#"{"batch_rows": 150}"#.into(),
            fixtures: Some(fixtures),
            record: false,
            allowed_hosts: Vec::new(),
            inbox: None,
            secrets: BTreeMap::new(),
            request_budget: None,
        },
    )
    .await
    .expect("suite runs");
    assert!(report.passed(), "{report}");
    assert!(detail(&report, "resume").contains("every intermediate checkpoint"));
    assert_eq!(report.counts.len(), 2, "{report}");
}

async fn broken(fault: &str) -> Report {
    acceptance::run(
        settings(),
        Options {
            plugin: plugins_dir().join("acceptance_broken.wasm"),
            config: serde_json::json!({ "fault": fault }).to_string(),
            fixtures: None,
            record: false,
            allowed_hosts: Vec::new(),
            inbox: None,
            secrets: BTreeMap::new(),
            request_budget: None,
        },
    )
    .await
    .expect("suite runs")
}

/// The one check that fails, and its message.
fn only_failure(report: &Report) -> (&str, &str) {
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .collect();
    assert_eq!(failed.len(), 1, "{report}");
    (failed[0].name, failed[0].detail.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broken_guest_without_its_fault_passes() {
    let report = broken("none").await;
    assert!(report.passed(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_does_not_advance_fails_the_full_read() {
    let report = broken("stuck-state").await;
    let (name, detail) = only_failure(&report);
    assert_eq!(name, "full read", "{report}");
    assert!(
        detail.contains("batch 2 says more remain but returns the state it was given")
            && detail.contains("move the state past what the batch returned"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_at_the_page_boundary_fails() {
    let report = broken("boundary-duplicate").await;
    let (name, detail) = only_failure(&report);
    assert_eq!(name, "boundary duplicates", "{report}");
    assert!(
        detail.contains("4 record(s) returned twice")
            && detail.contains("key `A-002` (batches 1 and 2)")
            && detail.contains("start the next page after the last record returned"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_record_fails() {
    let report = broken("invalid-record").await;
    let (name, detail) = only_failure(&report);
    assert_eq!(name, "records", "{report}");
    assert!(
        detail.contains("key `A-004`: invalid_date `date`")
            && detail.contains("reject such a row yourself"),
        "{detail}"
    );
}

#[test]
fn a_log_leaking_a_household_identifier_fails_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("config.json"), r#"{"fault": "leaky-log"}"#).expect("config");
    let wasm = plugins_dir().join("acceptance_broken.wasm");
    let out = vivres(
        tmp.path(),
        &[
            "connector",
            "test",
            wasm.to_str().expect("utf-8 path"),
            "--config",
            "config.json",
        ],
    );
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL personal values: a household identifier of the records in ")
            && report.contains("log line(s), first in full read of `aid`, batch 1")
            && report.contains("log counts and keys, never values")
            && report.contains("1 check(s) failed"),
        "{report}"
    );
    // The report itself never repeats the identifier.
    assert!(!report.contains("M-1000"), "{report}");
}
