//! Python connectors in the real hub: `kobo-surveys`, built by componentize-py
//! (`cargo xtask build-plugins`), against the simulator's KoboToolbox API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partner_sim::kobo::{KOBO_TOKEN, asset_uid};
use partner_sim::{RunningSim, SimConfig, Territory};
use vivres::Hub;
use vivres::config::Config;
use vivres::model::PersonId;
use vivres::plugin_host::{Grants, HostSettings, PluginHost};
use vivres::sync::{SyncOptions, sync_source};
use vivres::warehouse::{RunReport, RunStatus};

use crate::helpers::*;

const KOBO_SOURCE: &str = "kobo-lyon";

fn kobo_plugin() -> PathBuf {
    let path = plugins_dir().join("kobo_surveys.wasm");
    assert!(
        path.exists(),
        "the Python connector is not built: run `cargo xtask build-plugins`"
    );
    path
}

struct KoboHub {
    _dir: tempfile::TempDir,
    sim: RunningSim,
    hub: Hub,
}

/// A hub with the Lyon garden's Cocagne source and the Lyon survey form.
async fn start(deliveries: usize, surveys: usize, page_size: usize) -> KoboHub {
    let sim = partner_sim::start(SimConfig {
        surveys,
        ..SimConfig::demo(11, deliveries)
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kobo = format!(
        r#"
[[sources]]
id = "{KOBO_SOURCE}"
connector = "kobo-surveys"
network = "coalition"
territory = "lyon"
allowed_hosts = ["${{SIMULATOR}}"]
[sources.config]
server = "http://${{SIMULATOR}}/kobo"
asset_uid = "{uid}"
token_secret = "kobo_key"
page_size = {page_size}
[sources.secrets]
kobo_key = {{ value = "{KOBO_TOKEN}" }}
"#,
        uid = asset_uid(Territory::Lyon),
    );
    let config_path = dir.path().join("vivres.toml");
    let text = config_text(
        dir.path(),
        &Setup {
            size: deliveries,
            extra_sources: kobo,
            ..Setup::default()
        },
    );
    std::fs::write(&config_path, text).expect("config written");
    let mut vars = BTreeMap::new();
    vars.insert("SIMULATOR".to_string(), sim.addr().to_string());
    vars.insert("E2E_KEY".to_string(), KEY.to_string());
    let config = Config::load_with(&config_path, &vars).expect("config loads");
    let hub = Hub::start(config, vars).await.expect("hub starts");
    KoboHub {
        _dir: dir,
        sim,
        hub,
    }
}

async fn sync(hub: &Hub, source: &str) -> RunReport {
    let report = sync_source(hub, source, &SyncOptions::default())
        .await
        .expect("sync runs");
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let c = &report.counts;
    assert_eq!(c.read, c.inserted + c.updated + c.unchanged + c.quarantined);
    report
}

async fn raw_scores(hub: &Hub) -> BTreeMap<String, Option<i64>> {
    hub.warehouse
        .inspect("SELECT key, raw_score FROM survey_responses")
        .await
        .expect("survey responses")
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].as_deref().and_then(|v| v.parse().ok()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kobo_surveys_scores_resumes_within_the_last_second_and_joins_households() {
    // 7 submissions a second and pages of 50: page ends fall inside ties.
    let t = start(1_000, 400, 50).await;
    let exp = t.sim.kobo_expected(Territory::Lyon);
    assert_eq!(exp.total, 400);
    assert!(
        exp.raw_scores.values().any(Option::is_none),
        "incomplete answers served"
    );
    assert!(!exp.quarantined.is_empty(), "a `99999` residence served");

    let cocagne = sync(&t.hub, "cocagne-lyon").await;
    assert!(cocagne.counts.inserted > 0);
    let first = sync(&t.hub, KOBO_SOURCE).await;
    assert_eq!(first.counts.read, exp.total as u64);
    assert_eq!(
        first.counts.quarantined,
        exp.quarantined.values().sum::<usize>() as u64
    );
    assert!(first.batches >= 8, "paged through `next`: {first:?}");

    // Raw scores: the count of `yes` when all eight items are yes or no, else none.
    let p = &t.hub.pseudonymiser;
    let expected_scores: BTreeMap<String, Option<i64>> = exp
        .raw_scores
        .iter()
        .map(|(id, score)| {
            (
                p.record_key(KOBO_SOURCE, &id.to_string()),
                score.map(i64::from),
            )
        })
        .collect();
    assert_eq!(raw_scores(&t.hub).await, expected_scores);

    // A household's pseudonym is the one its own network's records carry.
    let households: BTreeMap<String, Option<String>> = t
        .hub
        .warehouse
        .inspect("SELECT key, household FROM survey_responses")
        .await
        .expect("households of responses")
        .into_iter()
        .map(|r| (r[0].clone().unwrap_or_default(), r[1].clone()))
        .collect();
    for (id, r) in &exp.respondents {
        let person = PersonId {
            scope: r.site.clone(),
            local_id: r.code.clone(),
        };
        let key = p.record_key(KOBO_SOURCE, &id.to_string());
        assert_eq!(
            households.get(&key).cloned().flatten(),
            Some(p.person(&r.network, &person)),
            "submission {id}"
        );
    }
    let cocagne_people: BTreeSet<String> = t
        .hub
        .warehouse
        .inspect(
            "SELECT person FROM households WHERE stream_id IN \
             (SELECT id FROM streams WHERE source = 'cocagne-lyon')",
        )
        .await
        .expect("Cocagne households")
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    let stored_members: BTreeSet<String> = {
        let quarantined = &t.sim.expected("lyon").quarantined_ids;
        t.sim
            .subscriptions("lyon")
            .iter()
            .filter(|s| !quarantined.contains_key(s["id"].as_str().unwrap_or_default()))
            .filter_map(|s| s["member_no"].as_str().map(str::to_string))
            .collect()
    };
    let should_join = exp
        .respondents
        .values()
        .filter(|r| r.network == "cocagne" && stored_members.contains(&r.code))
        .count();
    let joined = households
        .values()
        .flatten()
        .filter(|h| cocagne_people.contains(*h))
        .count();
    assert!(
        should_join > 50,
        "{should_join} respondents known to the garden"
    );
    assert_eq!(joined, should_join);

    // No household code in clear anywhere in the responses.
    let rows: Vec<(Option<String>, String, Option<String>)> = t
        .hub
        .warehouse
        .inspect(
            "SELECT r.household, a.answer, r.site FROM survey_responses r \
             JOIN survey_answers a ON a.stream_id = r.stream_id AND a.key = r.key",
        )
        .await
        .expect("rows")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone().unwrap_or_default(), r[2].clone()))
        .collect();
    for (household, answers, site) in &rows {
        let text = format!("{household:?}{answers}{site:?}");
        assert!(
            !exp.raw_person_values
                .iter()
                .any(|code| text.contains(&format!("\"{code}\""))),
            "a household code in clear: {text}"
        );
    }

    // Nothing new at the partner: the overlap re-reads the last second, changes nothing.
    let second = sync(&t.hub, KOBO_SOURCE).await;
    assert_eq!(
        (second.counts.inserted, second.counts.updated),
        (0, 0),
        "{second:?}"
    );
    assert!(
        second.counts.read < 50,
        "re-read only the overlap: {second:?}"
    );

    // A submission arriving later in that same second is still picked up.
    let id = t
        .sim
        .kobo_add_in_last_second(Territory::Lyon)
        .expect("the Lyon form");
    let third = sync(&t.hub, KOBO_SOURCE).await;
    assert_eq!(
        (third.counts.inserted, third.counts.updated),
        (1, 0),
        "{third:?}"
    );
    let exp = t.sim.kobo_expected(Territory::Lyon);
    let key = p.record_key(KOBO_SOURCE, &id.to_string());
    assert_eq!(
        raw_scores(&t.hub).await.get(&key).copied(),
        Some(exp.raw_scores[&id].map(i64::from))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kobo_surveys_refuses_a_wrong_token_as_an_auth_failure() {
    let t = start(20, 10, 1000).await;
    let mut instance = {
        let plugin = t.hub.host.load(&kobo_plugin()).await.expect("loads");
        let log: vivres::plugin_host::LogSink = Arc::new(|_| {});
        let grants = Grants {
            allowed_hosts: vec![t.sim.addr().to_string()],
            secrets: [("kobo_key".to_string(), "not-the-key".to_string())].into(),
            ..Grants::none("kobo-check", log)
        };
        t.hub
            .host
            .instantiate(&plugin, grants)
            .await
            .expect("instantiates")
    };
    let config = serde_json::json!({
        "server": t.sim.kobo_url(),
        "asset_uid": asset_uid(Territory::Lyon),
        "token_secret": "kobo_key",
    })
    .to_string();
    let error = instance.check(&config).await.expect("no trap").unwrap_err();
    assert!(
        matches!(error, vivres::model::ConnectorError::AuthFailed(_)),
        "{error:?}"
    );
    let error = instance
        .check(&config.replace("kobo_key", "no_such_secret"))
        .await
        .expect("no trap")
        .unwrap_err();
    assert!(
        matches!(&error, vivres::model::ConnectorError::BadConfig(m) if m.starts_with("token_secret")),
        "{error:?}"
    );
}

/// Figures for the issue: the Python connector's records/s beside the Rust
/// Cocagne connector's, and the Python component's cold start from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_connector_figures() {
    const N: usize = 10_000;
    let t = start(N, N, 1000).await;
    // The first sync of each compiles its component into the cache: warm both.
    let started = Instant::now();
    t.hub.host.load(&kobo_plugin()).await.expect("compiles");
    let compile = started.elapsed();
    t.hub
        .host
        .load(&plugins_dir().join("cocagne_gardens.wasm"))
        .await
        .expect("compiles");

    let started = Instant::now();
    let rust = sync(&t.hub, "cocagne-lyon").await;
    let rust_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let python = sync(&t.hub, KOBO_SOURCE).await;
    let python_secs = started.elapsed().as_secs_f64();
    assert_eq!(python.counts.read, N as u64);

    // Cold start: a new host (as after a restart) loads from the on-disk cache and
    // instantiates a fresh sandbox.
    let cache = tempfile::tempdir().expect("cache dir");
    let first = PluginHost::new(HostSettings::new(cache.path().join("plugins"))).expect("host");
    assert!(
        !first
            .load(&kobo_plugin())
            .await
            .expect("compiles")
            .from_cache()
    );
    drop(first);
    let mut best_load = Duration::MAX;
    let mut best_instantiate = Duration::MAX;
    let mut warm_load = Duration::MAX;
    for _ in 0..5 {
        // A new host each time, as after a restart: nothing in memory yet.
        let host = PluginHost::new(HostSettings::new(cache.path().join("plugins"))).expect("host");
        let started = Instant::now();
        let plugin = host.load(&kobo_plugin()).await.expect("loads");
        let loaded = started.elapsed();
        assert!(plugin.from_cache());
        let started = Instant::now();
        host.load(&kobo_plugin()).await.expect("loads again");
        warm_load = warm_load.min(started.elapsed());
        let log: vivres::plugin_host::LogSink = Arc::new(|_| {});
        let started = Instant::now();
        let mut instance = host
            .instantiate(&plugin, Grants::none("cold-start", log))
            .await
            .expect("instantiates");
        let spec = instance.spec().await.expect("spec");
        let instantiated = started.elapsed();
        assert_eq!(spec.name, "kobo-surveys");
        best_load = best_load.min(loaded);
        best_instantiate = best_instantiate.min(instantiated);
    }
    let size = std::fs::metadata(kobo_plugin())
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "figures: Rust cocagne-gardens {} records in {rust_secs:.2} s = {:.0} records/s; \
         Python kobo-surveys {} records in {python_secs:.2} s = {:.0} records/s",
        rust.counts.read,
        rust.counts.read as f64 / rust_secs,
        python.counts.read,
        python.counts.read as f64 / python_secs,
    );
    println!(
        "figures: Python component {:.1} MB, first compile {:.1} s; after a restart, load from \
         the disk cache {:.1} ms; a load in a running hub {:.2} ms; instantiate + spec() {:.1} ms",
        size as f64 / 1e6,
        compile.as_secs_f64(),
        best_load.as_secs_f64() * 1e3,
        warm_load.as_secs_f64() * 1e3,
        best_instantiate.as_secs_f64() * 1e3,
    );
    // Figures, not assertions: timings belong to the bench, never to a test.
    assert!(best_load > Duration::ZERO && best_instantiate > Duration::ZERO);
}
