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

use crate::app::Hub;
use crate::cli::progress::{self, Mode};
use crate::config::Config;
use crate::sync::{SyncOptions, sync_source};

mod crash;
mod nodes;
pub use crash::{CrashCampaign, run as run_crash};
pub use nodes::{NodesBench, run as run_nodes};

pub async fn serve_simulator(size: usize) -> anyhow::Result<i32> {
    let mut config = partner_sim::SimConfig::demo(7, size);
    config.gardens.truncate(1);
    let garden = config
        .gardens
        .first()
        .map(|g| g.id.clone())
        .unwrap_or_default();
    let sim = partner_sim::start(config).await?;
    println!("{}", sim.addr());
    // Serve until the parent closes our stdin; `change <share>` changes that
    // share of the garden's deliveries and answers how many; `slow <ms>`
    // delays every answer (0: no delay) and answers `ok`.
    let (lines, mut commands) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = commands.recv().await {
        if let Some(share) = line.strip_prefix("change ") {
            let share: f64 = share.trim().parse().unwrap_or(0.0);
            println!("{}", sim.change_share(&garden, share).len());
        } else if let Some(ms) = line.strip_prefix("slow ") {
            let delay_ms: u64 = ms.trim().parse().unwrap_or(0);
            let fault = if delay_ms == 0 {
                partner_sim::Fault::None
            } else {
                partner_sim::Fault::Slow { delay_ms }
            };
            sim.set_fault(None, fault);
            println!("ok");
        }
    }
    sim.shutdown().await;
    Ok(0)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The simulator in a child process (so the hub's peak RSS is its own).
struct SimChild {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    addr: String,
}

impl SimChild {
    fn start(records: usize) -> anyhow::Result<SimChild> {
        let exe = std::env::current_exe()?;
        let mut child = std::process::Command::new(exe)
            .args(["bench-simulator", "--size", &records.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot start the simulator process")?;
        let stdin = child.stdin.take();
        let Some(out) = child.stdout.take() else {
            let _ = child.kill();
            bail!("the simulator process has no output");
        };
        let mut stdout = std::io::BufReader::new(out);
        let mut addr = String::new();
        stdout.read_line(&mut addr)?;
        let addr = addr.trim().to_string();
        if addr.is_empty() {
            let _ = child.kill();
            bail!("the simulator process did not start");
        }
        Ok(SimChild {
            child,
            stdin,
            stdout,
            addr,
        })
    }

    /// Changes a share of the deliveries; returns how many changed.
    fn change(&mut self, share: f64) -> anyhow::Result<usize> {
        Ok(self.command(&format!("change {share}"))?.parse()?)
    }

    /// Sends one command to the simulator process; returns its answer.
    fn command(&mut self, command: &str) -> anyhow::Result<String> {
        use std::io::Write as _;
        let stdin = self
            .stdin
            .as_mut()
            .context("the simulator's input is closed")?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line.trim().to_string())
    }

    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `vivres bench --records N [--database URL]`: a full sync of N deliveries,
/// the physical ceiling, then the incremental cost (nothing new; 1 % changed).
pub async fn run(
    records: usize,
    data_dir: Option<PathBuf>,
    database: Option<String>,
) -> anyhow::Result<i32> {
    let dir = fresh_dir(data_dir, "vivres-bench")?;
    let sim = SimChild::start(records)?;
    let addr = sim.addr.clone();
    let source = cocagne_source(&addr, 500, r#""deliveries""#);
    let db = BenchDb::create(&dir, database.as_deref()).await?;
    let hub = bench_hub(&dir, &db.url, &source).await?;
    let rss_before = peak_rss_mib().unwrap_or(0.0);

    let t = Instant::now();
    let report = followed_sync(&hub).await?;
    let sync_secs = t.elapsed().as_secs_f64();
    let rss_sync = peak_rss_mib().unwrap_or(0.0);
    if report.status != crate::warehouse::RunStatus::Succeeded {
        sim.stop();
        bail!("the sync failed: {}", report.error.unwrap_or_default());
    }
    let stored = report.counts.inserted;
    let streams = hub.warehouse.run_streams(report.id).await?;

    // Incremental cost: a run with nothing new, then one after 1 % changed.
    let mut sim = sim;
    let t = Instant::now();
    let nothing = followed_sync(&hub).await?;
    let nothing_secs = t.elapsed().as_secs_f64();
    let changed = sim.change(0.01)?;
    let t = Instant::now();
    let one_percent = followed_sync(&hub).await?;
    let one_percent_secs = t.elapsed().as_secs_f64();
    sim.stop();

    let shown = progress::follow_step("ceiling (raw inserts)", Mode::of(false));
    let ceiling = hub
        .warehouse
        .bench_ceiling(crate::model::EntityKind::Distribution)
        .await;
    shown.finish().await;
    let (copied, ceiling_secs) = ceiling?;

    let backend = hub.warehouse.backend().as_str();
    let bulk = match hub.warehouse.backend() {
        crate::warehouse::Backend::Sqlite => "multi-row INSERTs",
        crate::warehouse::Backend::Postgres => "COPY",
    };
    let e2e = stored as f64 / sync_secs;
    let raw = copied as f64 / ceiling_secs.max(1e-9);
    println!(
        "vivres bench: {records} deliveries, cocagne-gardens plugin, simulator on {addr}, {backend}"
    );
    println!("  end to end      {stored:>9} records in {sync_secs:>7.2} s = {e2e:>10.0} records/s");
    println!(
        "  ceiling         {copied:>9} rows    in {ceiling_secs:>7.2} s = {raw:>10.0} rows/s ({bulk} into a table with no index)"
    );
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
    for s in &streams {
        println!(
            "  stream {}: plugin reads {:.2} s, normalising {:.2} s, commits {:.2} s (alongside the reads)",
            s.stream,
            s.read_ms as f64 / 1e3,
            s.normalise_ms as f64 / 1e3,
            s.commit_ms as f64 / 1e3
        );
    }
    println!(
        "  nothing new     {nothing_secs:>9.3} s (read {}, inserted {}, updated {})",
        nothing.counts.read, nothing.counts.inserted, nothing.counts.updated
    );
    println!(
        "  1 % changed     {one_percent_secs:>9.3} s ({changed} changed at the partner; read {}, updated {})",
        one_percent.counts.read, one_percent.counts.updated
    );
    hub.warehouse.close().await;
    drop(hub);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// The bench's source: the simulator's garden `bench`, `streams` a TOML
/// list's items (`"deliveries"`).
fn cocagne_source(addr: &str, page_size: usize, streams: &str) -> String {
    cocagne_source_named("bench", addr, page_size, streams)
}

/// A source `id` reading the simulator's garden `bench`.
fn cocagne_source_named(id: &str, addr: &str, page_size: usize, streams: &str) -> String {
    format!(
        r#"
[[sources]]
id = "{id}"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["{addr}"]
streams = [{streams}]
[sources.config]
base_url = "http://{addr}/lyon"
token_secret = "api_token"
garden = "bench"
page_size = {page_size}
[sources.secrets]
api_token = {{ value = "token-lyon" }}
"#
    )
}

/// The bench's own database: a fresh SQLite file, or a database created on
/// the PostgreSQL server `--database` names (and dropped afterwards).
struct BenchDb {
    url: String,
    _guard: Option<crate::warehouse::testing::Guard>,
}

impl BenchDb {
    async fn create(dir: &std::path::Path, database: Option<&str>) -> anyhow::Result<BenchDb> {
        match database {
            None => Ok(BenchDb {
                url: format!("sqlite://{}", dir.join("vivres.sqlite").display()),
                _guard: None,
            }),
            Some(server) => {
                let guard = crate::warehouse::testing::Guard::create_on(server, dir).await?;
                Ok(BenchDb {
                    url: guard.url.clone(),
                    _guard: Some(guard),
                })
            }
        }
    }
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
    let url = format!("sqlite://{}", dir.join("vivres.sqlite").display());
    let hub = bench_hub(
        &dir,
        &url,
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
    let shown = progress::Counter::new("inbox add", set.files.len() as u64, Mode::of(false));
    for f in &set.files {
        bytes += std::fs::metadata(f)?.len();
        crate::inbox::add_file(&inbox, f)?;
        shown.inc(&f.display().to_string());
    }
    shown.finish();
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let report = followed_sync(&hub).await?;
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
    for s in hub.warehouse.run_streams(report.id).await? {
        println!(
            "  stream {}: plugin reads {:.2} s, normalising {:.2} s, commits {:.2} s",
            s.stream,
            s.read_ms as f64 / 1e3,
            s.normalise_ms as f64 / 1e3,
            s.commit_ms as f64 / 1e3
        );
    }
    hub.warehouse.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// Syncs the bench's source, its progress shown on stderr (a bar on a
/// terminal, a line every few seconds otherwise).
async fn followed_sync(hub: &Hub) -> anyhow::Result<crate::warehouse::RunReport> {
    let shown = progress::follow_sync(hub.warehouse.clone(), "bench".to_string(), Mode::of(false));
    let report = sync_source(hub, "bench", &SyncOptions::default()).await;
    shown.finish().await;
    Ok(report?)
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
async fn bench_hub(dir: &std::path::Path, database_url: &str, source: &str) -> anyhow::Result<Hub> {
    let mut vars = BTreeMap::new();
    vars.insert(
        "VIVRES_PSEUDONYM_KEY".to_string(),
        crate::privacy::Pseudonymiser::generate_key()
            .expose()
            .to_string(),
    );
    let config = Config::parse("bench", &bench_config(dir, database_url, source), &vars)?;
    Ok(Hub::start(config, vars).await?)
}

/// The configuration of a bench hub: a warehouse in `dir` (or at
/// `database_url`), the Lyon territory and one `source` (TOML, id `bench`).
fn bench_config(dir: &std::path::Path, database_url: &str, source: &str) -> String {
    let plugins_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/target/wasm32-wasip2/release"
    );
    let toml = format!(
        r#"
[hub]
data_dir = "{dir}"
database_url = "{database_url}"
plugins_dir = "{plugins_dir}"
[[territories]]
id = "lyon"
name = "Métropole de Lyon"
epci = ["200046977"]
{source}"#,
        dir = dir.display()
    );
    toml
}
