//! `vivres bench`: end-to-end sync throughput against the raw sqlx ceiling.
//!
//! The simulator runs in a child process (so the hub's peak RSS is its own),
//! the source is synced into a fresh SQLite file, then the same rows are
//! inserted straight through sqlx into another fresh file: the ceiling.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use sqlx::{AssertSqlSafe, Row as _};

use crate::app::Hub;
use crate::config::Config;
use crate::sync::{SyncOptions, sync_source};
use crate::warehouse::{Warehouse, schema};

pub async fn serve_simulator(size: usize) -> anyhow::Result<i32> {
    let mut config = partner_sim::SimConfig::demo(7, size);
    config.gardens.truncate(1);
    let sim = partner_sim::start(config).await?;
    println!("{}", sim.addr());
    // Serve until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut buf = String::new();
        let _ = std::io::stdin().read_line(&mut buf);
    })
    .await;
    sim.shutdown().await;
    Ok(0)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub async fn run(records: usize, data_dir: Option<PathBuf>) -> anyhow::Result<i32> {
    let dir = fresh_dir(data_dir, "vivres-bench")?;

    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(["bench-simulator", "--size", &records.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start the simulator process")?;
    let mut addr = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut addr)?;
    }
    let addr = addr.trim().to_string();
    if addr.is_empty() {
        let _ = child.kill();
        bail!("the simulator process did not start");
    }

    let source = format!(
        r#"
[[sources]]
id = "bench"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["{addr}"]
streams = ["deliveries"]
[sources.config]
base_url = "http://{addr}/lyon"
token_secret = "api_token"
garden = "bench"
page_size = 500
[sources.secrets]
api_token = {{ value = "token-lyon" }}
"#
    );
    let hub = bench_hub(&dir, &source).await?;
    let rss_before = peak_rss_mib().unwrap_or(0.0);

    let t = Instant::now();
    let report = sync_source(&hub, "bench", &SyncOptions::default()).await?;
    let sync_secs = t.elapsed().as_secs_f64();
    let rss_sync = peak_rss_mib().unwrap_or(0.0);
    drop(child.stdin.take());
    let _ = child.wait();
    if report.status != crate::warehouse::RunStatus::Succeeded {
        bail!("the sync failed: {}", report.error.unwrap_or_default());
    }
    let stored = report.counts.inserted;

    // The ceiling: the same rows, straight through sqlx, multi-row INSERTs of
    // 1,000 rows in transactions, into a fresh file.
    let ceiling = Warehouse::open(&format!(
        "sqlite://{}",
        dir.join("ceiling.sqlite").display()
    ))
    .await?;
    let table = schema::table(crate::model::EntityKind::Distribution);
    let columns: Vec<&str> = schema::PROVENANCE
        .iter()
        .chain(table.columns.iter())
        .copied()
        .collect();
    let ncols = columns.len();
    let mut offset = 0i64;
    let mut ceiling_secs = 0.0;
    let mut copied = 0u64;
    loop {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM {} ORDER BY rowid LIMIT 10000 OFFSET {offset}",
            columns.join(","),
            table.name
        )))
        .fetch_all(hub.warehouse.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as i64;
        let t = Instant::now();
        let mut tx = ceiling.pool().begin().await?;
        for chunk in rows.chunks(1000) {
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                table.name,
                columns.join(","),
                vec![format!("({})", vec!["?"; ncols].join(",")); chunk.len()].join(",")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                for i in 0..ncols {
                    let v: sqlx::sqlite::SqliteValueRef = r.try_get_raw(i)?;
                    use sqlx::{TypeInfo, ValueRef};
                    let ty = v.type_info().name().to_string();
                    q = match ty.as_str() {
                        "NULL" => q.bind(None::<i64>),
                        "INTEGER" => q.bind(r.try_get::<i64, _>(i)?),
                        "REAL" => q.bind(r.try_get::<f64, _>(i)?),
                        _ => q.bind(r.try_get::<String, _>(i)?),
                    };
                }
            }
            q.execute(&mut *tx).await?;
            copied += chunk.len() as u64;
        }
        tx.commit().await?;
        ceiling_secs += t.elapsed().as_secs_f64();
    }

    let e2e = stored as f64 / sync_secs;
    let raw = copied as f64 / ceiling_secs.max(1e-9);
    println!("vivres bench: {records} deliveries, cocagne-gardens plugin, simulator on {addr}");
    println!("  end to end      {stored:>9} records in {sync_secs:>7.2} s = {e2e:>10.0} records/s");
    println!("  sqlx ceiling    {copied:>9} rows    in {ceiling_secs:>7.2} s = {raw:>10.0} rows/s");
    println!(
        "  ratio           {:>9.1} % of the ceiling",
        100.0 * e2e / raw.max(1e-9)
    );
    println!(
        "  peak RSS        {rss_sync:>9.1} MiB during the sync (hub started at {rss_before:.1} MiB)"
    );
    println!(
        "  run             {} batches, read {}, quarantined {}",
        report.batches, report.counts.read, report.counts.quarantined
    );
    for line in hub.warehouse.run_logs(report.id).await? {
        if line.message.contains("plugin reads") || line.message.starts_with("http:") {
            println!("  {}", line.message);
        }
    }
    hub.warehouse.close().await;
    ceiling.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// Writes Secours Catholique exports (in this child process, so the bench's
/// peak RSS is the hub's own) and their file list as `set.json`.
pub fn write_files(rows: usize, out: &std::path::Path) -> anyhow::Result<i32> {
    std::fs::create_dir_all(out)?;
    let set = partner_sim::files::secours::write(out, 1, rows)?;
    std::fs::write(out.join("set.json"), serde_json::to_vec(&set)?)?;
    Ok(0)
}

/// Syncs ~`mb` MB of Secours Catholique CSV exports from an inbox.
pub async fn run_files(mb: usize, data_dir: Option<PathBuf>) -> anyhow::Result<i32> {
    let dir = fresh_dir(data_dir, "vivres-bench-files")?;
    let files_dir = dir.join("partner-files");
    // About 100 bytes a line, two team files.
    let rows = (mb * 1_000_000 / 100 / 2).max(100);
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["bench-files", "--rows", &rows.to_string(), "--out"])
        .arg(&files_dir)
        .status()?;
    if !status.success() {
        bail!("writing the partner files failed");
    }
    let set: partner_sim::files::FileSet =
        serde_json::from_slice(&std::fs::read(files_dir.join("set.json"))?)?;
    let hub = bench_hub(
        &dir,
        r#"
[[sources]]
id = "bench"
connector = "secours-catholique-aid"
network = "secours-catholique"
territory = "lyon"
inbox = true
"#,
    )
    .await?;
    let inbox = dir.join("inbox").join("bench");
    let mut bytes = 0u64;
    for f in &set.files {
        bytes += std::fs::metadata(f)?.len();
        crate::inbox::add_file(&inbox, f)?;
    }
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let report = sync_source(&hub, "bench", &SyncOptions::default()).await?;
    let secs = t.elapsed().as_secs_f64();
    if report.status != crate::warehouse::RunStatus::Succeeded {
        bail!("the sync failed: {}", report.error.unwrap_or_default());
    }
    // Each stream (aids, households) reads every file once.
    println!(
        "vivres bench: {} Secours Catholique files, {:.1} MB (Windows-1252, ;), streams aids + households",
        set.files.len(),
        bytes as f64 / 1e6
    );
    println!(
        "  end to end      {:>9.1} MB/s of file per stream pass ({:.1} MB read twice in {secs:.2} s)",
        2.0 * bytes as f64 / 1e6 / secs,
        bytes as f64 / 1e6
    );
    println!(
        "  records         {:>9} read = {} stored + {} quarantined, {:.0} records/s",
        report.counts.read,
        report.counts.inserted + report.counts.updated + report.counts.unchanged,
        report.counts.quarantined,
        report.counts.read as f64 / secs
    );
    println!(
        "  peak RSS        {:>9.1} MiB (hub started at {rss_before:.1} MiB)",
        peak_rss_mib().unwrap_or(0.0)
    );
    for line in hub.warehouse.run_logs(report.id).await? {
        if line.message.contains("plugin reads") {
            println!("  {}", line.message);
        }
    }
    hub.warehouse.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// A clean directory for a bench run (`data_dir`, or a temporary one).
fn fresh_dir(data_dir: Option<PathBuf>, prefix: &str) -> anyhow::Result<PathBuf> {
    let dir = data_dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("{prefix}-{}", std::process::id())));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A hub on a fresh warehouse in `dir` with the Lyon territory, one `source`
/// (TOML, id `bench`) and a throwaway pseudonymisation key.
async fn bench_hub(dir: &std::path::Path, source: &str) -> anyhow::Result<Hub> {
    let plugins_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/target/wasm32-wasip2/release"
    );
    let toml = format!(
        r#"
[hub]
data_dir = "{dir}"
plugins_dir = "{plugins_dir}"
[[territories]]
id = "lyon"
name = "Métropole de Lyon"
epci = ["200046977"]
{source}"#,
        dir = dir.display()
    );
    let mut vars = BTreeMap::new();
    vars.insert(
        "VIVRES_PSEUDONYM_KEY".to_string(),
        crate::privacy::Pseudonymiser::generate_key()
            .expose()
            .to_string(),
    );
    let config = Config::parse("bench", &toml, &vars)?;
    Ok(Hub::start(config, vars).await?)
}
