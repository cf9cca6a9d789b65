//! What deploy/README.md tells operators, done for real: a backup of the
//! warehouse restored into a fresh database holds every row, and a backup
//! taken during a sync restores to a consistent warehouse that the next sync
//! completes. On the backend `VIVRES_TEST_DATABASE_URL` names: SQLite with
//! `VACUUM INTO`, PostgreSQL with `pg_dump --format=custom` and `pg_restore`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use partner_sim::Fault;
use vivres::Hub;
use vivres::config::Config;
use vivres::warehouse::{RunStatus, Warehouse, testing};

use crate::helpers::*;

/// Backs the warehouse `url` up into `dir` as the operations guide says.
async fn backup(url: &str, dir: &Path) -> std::path::PathBuf {
    if url.starts_with("postgres") {
        let out = dir.join("vivres.dump");
        let status = Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(&out)
            .arg(url)
            .status()
            .expect("pg_dump runs (install the PostgreSQL client)");
        assert!(status.success(), "pg_dump failed");
        out
    } else {
        let out = dir.join("vivres-backup.sqlite");
        testing::sqlite_vacuum_into(url, &out)
            .await
            .expect("VACUUM INTO");
        out
    }
}

/// Restores a backup into a fresh database (in `dir` for SQLite); returns
/// its guard.
async fn restore(file: &Path, dir: &Path) -> testing::Guard {
    let guard = testing::Guard::create(dir).await;
    if guard.url.starts_with("postgres") {
        let status = Command::new("pg_restore")
            .args(["--no-owner", "--exit-on-error", "--dbname"])
            .arg(&guard.url)
            .arg(file)
            .status()
            .expect("pg_restore runs");
        assert!(status.success(), "pg_restore failed");
    } else {
        let path = guard.url.strip_prefix("sqlite://").expect("sqlite url");
        std::fs::copy(file, path).expect("backup copied into place");
    }
    guard
}

/// A hub on an existing (restored) warehouse, as `vivres serve` opens it.
async fn open_hub(url: &str, dir: &Path, vars: &BTreeMap<String, String>) -> Hub {
    let setup = Setup {
        database_url: Some(url.to_string()),
        ..Setup::default()
    };
    let path = dir.join("restored.toml");
    std::fs::write(&path, config_text(dir, &setup)).expect("config written");
    let config = Config::load_with(&path, vars).expect("config loads");
    Hub::open(config, vars.clone())
        .await
        .expect("the restored warehouse opens without migrating")
}

/// Every row of every table, sorted.
async fn everything(w: &Warehouse) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let mut out = BTreeMap::new();
    for table in testing::tables(w).await.expect("tables") {
        let mut rows = w
            .inspect(&format!("SELECT * FROM {table}"))
            .await
            .expect("rows");
        rows.sort();
        out.insert(table, rows);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_holds_every_row() {
    let t = TestHub::start(Setup::default()).await;
    let report = t.sync("cocagne-lyon").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    vivres::auth::create(&t.hub.warehouse, "marie", &vivres::auth::Role::Admin)
        .await
        .expect("token");

    let saved = tempfile::tempdir().unwrap();
    let file = backup(&t.db.url, saved.path()).await;
    let fresh = tempfile::tempdir().unwrap();
    let restored = restore(&file, fresh.path()).await;
    let hub = open_hub(&restored.url, fresh.path(), &t.vars).await;

    let before = everything(&t.hub.warehouse).await;
    let after = everything(&hub.warehouse).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &before {
        assert_eq!(rows, &after[table], "table {table}");
    }
    for table in [
        "households",
        "distributions",
        "quarantine",
        "runs",
        "checkpoints",
        "api_tokens",
        "communes",
    ] {
        assert!(
            !before[table].is_empty(),
            "{table} is empty: nothing tested"
        );
    }

    // The restored warehouse carries on from its checkpoints: nothing new.
    let next =
        vivres::sync::sync_source(&hub, "cocagne-lyon", &vivres::sync::SyncOptions::default())
            .await
            .expect("sync");
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    assert_eq!(next.counts.inserted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_sync_restores_to_a_consistent_warehouse() {
    let t = TestHub::start(Setup {
        size: 3_000,
        page_size: 50,
        ..Setup::default()
    })
    .await;
    t.sim.set_fault(None, Fault::Slow { delay_ms: 40 });
    let mut child = Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["sync", "cocagne-lyon"])
        .envs(&t.vars)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vivres sync");
    let deadline = Instant::now() + Duration::from_secs(120);
    while scalar(&t.hub, "SELECT max(batches) FROM runs")
        .await
        .unwrap_or(0)
        < 5
    {
        assert!(
            Instant::now() < deadline,
            "the sync never committed 5 batches"
        );
        assert!(child.try_wait().unwrap().is_none(), "the sync ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let saved = tempfile::tempdir().unwrap();
    let file = backup(&t.db.url, saved.path()).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sync ended before the backup did: not taken during it"
    );
    t.sim.set_fault(None, Fault::None);
    assert!(child.wait().unwrap().success(), "the original sync failed");

    let fresh = tempfile::tempdir().unwrap();
    let restored = restore(&file, fresh.path()).await;
    let hub = open_hub(&restored.url, fresh.path(), &t.vars).await;

    // The snapshot holds whole batches: the run's counters match its rows.
    let runs = hub.warehouse.runs(Some("cocagne-lyon"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Running);
    let rows = count(&hub, "households").await + count(&hub, "distributions").await;
    assert!(rows > 0);
    assert_eq!(runs[0].counts.inserted, rows as u64, "{:?}", runs[0]);
    assert_eq!(
        runs[0].counts.quarantined,
        count(&hub, "quarantine").await as u64
    );

    // Its next sync resumes from the snapshot's checkpoints and ends where
    // the original warehouse did.
    let next =
        vivres::sync::sync_source(&hub, "cocagne-lyon", &vivres::sync::SyncOptions::default())
            .await
            .expect("sync");
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let runs = hub.warehouse.runs(Some("cocagne-lyon"), 10).await.unwrap();
    assert_eq!(runs[1].status, RunStatus::Interrupted, "{:?}", runs[1]);
    for table in ["distributions", "households"] {
        assert_eq!(
            content(&t.hub, table).await,
            content(&hub, table).await,
            "{table}"
        );
    }
}

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What can be checked of the image without building it (no container
/// engine in CI): two stages, the production binary, every connector the
/// production example names, a non-root user, a healthcheck on /health.
#[test]
fn the_containerfile_builds_what_production_runs() {
    let file = deploy_file("Containerfile");
    // Continuation lines joined: one instruction per line.
    let joined = file.replace("\\\n", " ");
    let instructions: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{froms:?}");
    assert!(joined.contains("--no-default-features"));
    assert!(joined.contains("--locked"));
    let user = instructions
        .iter()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER");
    assert!(
        !user.contains("root") && !user.trim_start_matches("USER ").starts_with("0"),
        "{user}"
    );
    let health = instructions
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    assert!(health.contains("/api/v1/health"), "{health}");
    let mut vars = BTreeMap::new();
    vars.insert("VIVRES_DB_PASSWORD".to_string(), "pw".to_string());
    let production = Config::load_with(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/vivres.production.toml"),
        &vars,
    )
    .expect("production example loads");
    for s in &production.sources {
        let wasm = s.connector.replace('-', "_");
        assert!(joined.contains(&wasm), "the image lacks {wasm}.wasm");
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../plugins/target/wasm32-wasip2/release")
                .join(format!("{wasm}.wasm"))
                .exists(),
            "{wasm}.wasm is not built by `cargo xtask build-plugins`"
        );
    }
    assert!(!joined.contains("misbehave"), "a test guest in the image");
    assert_eq!(
        production.hub.plugins_dir,
        Path::new("/usr/lib/vivres/plugins")
    );
    assert!(joined.contains("/usr/lib/vivres/plugins"));
}

/// The compose file: PostgreSQL, a one-shot `migrate`, two hub nodes that
/// start only after it succeeded, the key as a secret file.
#[test]
fn the_compose_file_runs_two_nodes_after_one_migrate() {
    let mut compose: serde_yaml::Value =
        serde_yaml::from_str(&deploy_file("compose.yaml")).expect("valid YAML");
    // `<<: *hub`, as compose reads it.
    compose.apply_merge().expect("merge keys");
    let services = compose["services"].as_mapping().expect("services");
    let command = |name: &str| -> Vec<String> {
        compose["services"][name]["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name} has a command"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    assert!(compose["services"]["postgres"]["healthcheck"].is_mapping());
    assert!(command("migrate").contains(&"migrate".to_string()));
    assert_eq!(
        compose["services"]["migrate"]["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    let nodes: Vec<&str> = services
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .filter(|k| command_of(&compose, k).iter().any(|c| c == "serve"))
        .collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    for node in nodes {
        let s = &compose["services"][node];
        assert_eq!(
            s["depends_on"]["migrate"]["condition"].as_str(),
            Some("service_completed_successfully"),
            "{node}"
        );
        // Merged from the `x-hub` anchor: the secret and no inline password.
        assert_eq!(s["secrets"][0].as_str(), Some("pseudonym_key"), "{node}");
        assert_eq!(s["read_only"].as_bool(), Some(true), "{node}");
    }
    assert!(compose["secrets"]["pseudonym_key"]["file"].is_string());
}

fn command_of(compose: &serde_yaml::Value, name: &str) -> Vec<String> {
    compose["services"][name]["command"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
