//! `vivres bench crash --kills N`: the crash campaign. A sync of the
//! simulator's garden runs in a child process that is SIGKILLed at a random
//! moment, again and again (the partner changing a little between runs, so
//! that every run has work to do), each run resuming from the last committed
//! checkpoint. Then one run completes, and the warehouse is compared, row by
//! row, with a clean sync of the same final data into a fresh one: a lost
//! record, a duplicated one or a stale one fails the campaign, and so does a
//! quarantine entry recorded twice for the same refused content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::{Rng as _, SeedableRng as _};

use super::{BenchDb, SimChild, bench_config, cocagne_source, fresh_dir};
use crate::app::Hub;
use crate::config::Config;
use crate::sync::{SyncOptions, sync_source};
use crate::warehouse::RunStatus;
use crate::warehouse::schema::{Role, TABLES};

/// What `vivres bench crash` asks for.
#[derive(Debug, Clone)]
pub struct CrashCampaign {
    /// SIGKILLs that must land on a running sync.
    pub kills: usize,
    /// Deliveries at the simulated partner.
    pub records: usize,
    /// Share of deliveries the partner changes before each run after the first
    /// complete one.
    pub change: f64,
    pub seed: Option<u64>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
}

/// Runs the campaign; the exit code is 0 when the crashed warehouse equals
/// the clean one (1 otherwise), and every figure is printed.
pub async fn run(c: CrashCampaign) -> anyhow::Result<i32> {
    let dir = fresh_dir(c.data_dir.clone(), "vivres-crash")?;
    let seed = c.seed.unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sim = SimChild::start(c.records)?;
    let source = cocagne_source(&sim.addr, 100, r#""subscriptions", "deliveries""#);
    let key = crate::privacy::Pseudonymiser::generate_key()
        .expose()
        .to_string();
    let vars: BTreeMap<String, String> = [("VIVRES_PSEUDONYM_KEY".to_string(), key)].into();

    let crashed_dir = dir.join("crashed");
    let clean_dir = dir.join("clean");
    std::fs::create_dir_all(&crashed_dir)?;
    std::fs::create_dir_all(&clean_dir)?;
    let crashed_db = BenchDb::create(&crashed_dir, c.database.as_deref()).await?;
    let crashed_toml = bench_config(&crashed_dir, &crashed_db.url, &source);
    let config_path = crashed_dir.join("vivres.toml");
    std::fs::write(&config_path, &crashed_toml)?;
    // Migrate once, as an operator would, before the children run.
    Hub::start(
        Config::parse("crashed", &crashed_toml, &vars)?,
        vars.clone(),
    )
    .await?
    .warehouse
    .close()
    .await;

    println!(
        "vivres bench crash: {} kills wanted, {} deliveries, {} backend, seed {seed}",
        c.kills,
        c.records,
        if c.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    // Each kill lands while a run is under way: the campaign waits for the
    // child's run to be recorded, then kills it after a delay drawn in
    // [0, window). The window follows how long a run lasts, so that kills
    // fall anywhere in it (reading, normalising, committing, checkpointing).
    let watcher = crate::warehouse::Warehouse::open(&crashed_db.url).await?;
    let mut window = Duration::from_millis(1500);
    let mut last_run = 0i64;
    let mut landed = 0usize;
    let mut completed = 0usize;
    let mut attempts = 0usize;
    let started = Instant::now();
    let max_attempts = c.kills * 4 + 10;
    while landed < c.kills {
        attempts += 1;
        if attempts > max_attempts {
            bail!(
                "only {landed} of {} kills landed on a running sync in {max_attempts} attempts",
                c.kills
            );
        }
        if completed > 0 {
            sim.change(c.change)?;
        }
        let mut child = spawn_sync(&config_path, &vars)?;
        let at = window.mul_f64(rng.random_range(0.0..1.0));
        let ended = match wait_for_run(&watcher, &mut child, last_run).await? {
            Started::Run(id) => {
                last_run = id;
                let t = Instant::now();
                let ended = wait_until(&mut child, at)?;
                if ended.is_some() {
                    window = t.elapsed().mul_f64(0.9).max(Duration::from_millis(20));
                }
                ended
            }
            Started::Ended(status) => Some(status),
        };
        match ended {
            Some(status) => {
                // The run ended before the kill: it must have succeeded.
                if !status.success() {
                    bail!("a sync that was not killed failed ({status}); see its output above");
                }
                completed += 1;
            }
            None => {
                child.kill().context("cannot SIGKILL the sync")?;
                let _ = child.wait();
                landed += 1;
                if landed.is_multiple_of(10) || landed == c.kills {
                    println!(
                        "  {landed:>4} kills landed ({completed} runs completed unkilled, {:.0} s)",
                        started.elapsed().as_secs_f64()
                    );
                }
                window = window.mul_f64(1.1).min(Duration::from_secs(30));
            }
        }
    }
    watcher.close().await;
    // The last run completes.
    let mut last = spawn_sync(&config_path, &vars)?;
    let status = last.wait()?;
    if !status.success() {
        bail!("the final sync failed ({status})");
    }

    let crashed = Hub::open(
        Config::parse("crashed", &crashed_toml, &vars)?,
        vars.clone(),
    )
    .await?;
    let runs = crashed.warehouse.runs(Some("bench"), 100_000).await?;
    let interrupted = runs
        .iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .count();
    let running = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .count();

    let clean_db = BenchDb::create(&clean_dir, c.database.as_deref()).await?;
    let clean = Hub::start(
        Config::parse(
            "clean",
            &bench_config(&clean_dir, &clean_db.url, &source),
            &vars,
        )?,
        vars.clone(),
    )
    .await?;
    let report = sync_source(&clean, "bench", &SyncOptions::default()).await?;
    if report.status != RunStatus::Succeeded {
        bail!(
            "the clean sync failed: {}",
            report.error.unwrap_or_default()
        );
    }
    sim.stop();

    let mut failed = running > 0;
    println!(
        "  runs            {} in all: {interrupted} interrupted, {running} still marked running, {completed} ended before their kill",
        runs.len()
    );
    for table in TABLES.iter().filter(|t| t.role == Role::Fact) {
        let a = crashed.warehouse.fingerprint(table).await?;
        let b = clean.warehouse.fingerprint(table).await?;
        if a.is_empty() && b.is_empty() {
            continue;
        }
        let cmp = compare(&a, &b);
        failed |= !cmp.is_equal();
        println!(
            "  {:<15} {:>7} rows, clean {:>7}: lost {}, duplicated {}, extra {}, stale {}",
            table.name,
            a.len(),
            b.len(),
            cmp.lost,
            cmp.duplicated,
            cmp.extra,
            cmp.stale
        );
    }
    let qa = crashed.warehouse.quarantine_fingerprint("bench").await?;
    let qb = clean.warehouse.quarantine_fingerprint("bench").await?;
    let doubled = qa.windows(2).filter(|w| w[0] == w[1]).count();
    let missing = qb.iter().filter(|e| qa.binary_search(e).is_err()).count();
    failed |= doubled > 0 || missing > 0;
    println!(
        "  quarantine      {:>7} open entries, clean {:>7}: recorded twice {doubled}, missing {missing}",
        qa.len(),
        qb.len()
    );
    println!(
        "  result          {} ({landed} kills landed, {:.0} s)",
        if failed {
            "FAILED"
        } else {
            "0 lost, 0 duplicated"
        },
        started.elapsed().as_secs_f64()
    );
    crashed.warehouse.close().await;
    clean.warehouse.close().await;
    if failed && c.database.is_none() {
        println!("  kept for inspection: {}", dir.display());
    } else {
        drop((crashed_db, clean_db));
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(if failed { 1 } else { 0 })
}

fn spawn_sync(
    config: &Path,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<std::process::Child> {
    std::process::Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "sync", "bench"])
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start the sync process")
}

enum Started {
    /// The child's run, recorded in the warehouse.
    Run(i64),
    /// The child ended before its run was seen.
    Ended(std::process::ExitStatus),
}

/// Waits for the child's run (a run newer than `after`) to be recorded.
async fn wait_for_run(
    watcher: &crate::warehouse::Warehouse,
    child: &mut std::process::Child,
    after: i64,
) -> anyhow::Result<Started> {
    loop {
        if let Some(run) = watcher.runs(Some("bench"), 1).await?.first()
            && run.id > after
        {
            return Ok(Started::Run(run.id));
        }
        if let Some(status) = child.try_wait()? {
            return Ok(Started::Ended(status));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits up to `at` for the child to end: `Some(status)` if it did.
fn wait_until(
    child: &mut std::process::Child,
    at: Duration,
) -> anyhow::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + at;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
    }
}

/// How a crashed table differs from the clean one.
#[derive(Debug, Default, PartialEq, Eq)]
struct Comparison {
    /// Keys the clean sync stored and the crashed one did not.
    lost: usize,
    /// Keys stored more than once.
    duplicated: usize,
    /// Keys only the crashed warehouse holds.
    extra: usize,
    /// Keys in both whose content differs.
    stale: usize,
}

impl Comparison {
    fn is_equal(&self) -> bool {
        *self == Comparison::default()
    }
}

/// Compares two `(key, row_hash)` lists sorted by key.
fn compare(crashed: &[(Vec<u8>, i64)], clean: &[(Vec<u8>, i64)]) -> Comparison {
    let mut out = Comparison {
        duplicated: crashed.windows(2).filter(|w| w[0].0 == w[1].0).count(),
        ..Comparison::default()
    };
    let a: BTreeMap<&[u8], i64> = crashed.iter().map(|(k, h)| (k.as_slice(), *h)).collect();
    let b: BTreeMap<&[u8], i64> = clean.iter().map(|(k, h)| (k.as_slice(), *h)).collect();
    for (k, h) in &b {
        match a.get(k) {
            None => out.lost += 1,
            Some(x) if x != h => out.stale += 1,
            Some(_) => {}
        }
    }
    out.extra = a.keys().filter(|k| !b.contains_key(*k)).count();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[(u8, i64)]) -> Vec<(Vec<u8>, i64)> {
        v.iter().map(|(k, h)| (vec![*k], *h)).collect()
    }

    #[test]
    fn comparison_names_each_kind_of_difference() {
        let clean = rows(&[(1, 10), (2, 20), (3, 30)]);
        assert!(compare(&clean, &clean).is_equal());
        let crashed = rows(&[(1, 10), (1, 10), (3, 31), (4, 40)]);
        assert_eq!(
            compare(&crashed, &clean),
            Comparison {
                lost: 1,
                duplicated: 1,
                extra: 1,
                stale: 1
            }
        );
    }
}
