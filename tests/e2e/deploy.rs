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
