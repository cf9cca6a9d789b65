//! `vivres bench nodes`: how much faster two `vivres serve` nodes drain
//! syncs that wait on partners than one node does, and the API's latency on
//! each node while they do.
//!
//! Everything runs for real: the simulator in a child process (every answer
//! delayed), one or two `vivres serve` children on a fresh PostgreSQL
//! database, and an open-loop load generator in this process that sends a
//! steady `rate` of requests per second to the API, spread evenly over the
//! nodes (half `GET /runs/{id}` with a bearer token, half `GET /health`),
//! for as long as the drain lasts.
//! Latency is measured from the moment a request was due, not from when it
//! was sent, so a stalled node cannot hide its queue (no coordinated
//! omission).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{BenchDb, SimChild, bench_config, fresh_dir};
use crate::app::Hub;
use crate::config::Config;

/// What `vivres bench nodes` measures.
#[derive(Debug, Clone)]
pub struct NodesBench {
    /// The PostgreSQL server (the bench creates and drops its databases there).
    pub database: String,
    /// Sources synced in each drain.
    pub sources: usize,
    /// Deliveries at the simulated partner.
    pub records: usize,
    /// Each partner answer's delay while the drain is timed.
    pub delay_ms: u64,
    /// Requests per second sent to the API during the drain, spread evenly
    /// over the nodes.
    pub rate: u32,
    pub data_dir: Option<PathBuf>,
}

/// One drain: how long it took and the latencies seen on each node.
struct Drain {
    nodes: usize,
    seconds: f64,
    by_node: Vec<Latencies>,
}

#[derive(Default)]
struct Latencies {
    ok: Vec<Duration>,
    failed: usize,
}

impl Latencies {
    fn quantile(&self, q: f64) -> Duration {
        if self.ok.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.ok.len() as f64 * q).ceil() as usize).clamp(1, self.ok.len()) - 1;
        self.ok[i]
    }
}

pub async fn run(b: NodesBench) -> anyhow::Result<i32> {
    if !b.database.starts_with("postgres") {
        bail!(
            "several nodes share a PostgreSQL warehouse: pass --database postgres://… \
             (SQLite takes one node at a time)"
        );
    }
    if b.sources == 0 || b.rate == 0 {
        bail!("--sources and --rate must be at least 1");
    }
    let dir = fresh_dir(b.data_dir.clone(), "vivres-bench-nodes")?;
    let mut sim = SimChild::start(b.records)?;
    println!(
        "vivres bench nodes: {} sources of {} deliveries, partner answers delayed {} ms, \
         {} API requests/s spread over the nodes, PostgreSQL",
        b.sources, b.records, b.delay_ms, b.rate
    );
    let mut drains = Vec::new();
    for nodes in [1usize, 2] {
        let drain = drain(&b, &mut sim, &dir.join(format!("{nodes}-node")), nodes).await;
        sim.command("slow 0")?;
        drains.push(drain?);
    }
    sim.stop();
    println!();
    println!(
        "| nodes | drain | speed-up | node | req/s | requests | failed | p50 | p90 | p99 | max |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let one = drains.first().map(|d| d.seconds).unwrap_or(0.0);
    for d in &drains {
        for (i, l) in d.by_node.iter().enumerate() {
            println!(
                "| {} | {:.1} s | {:.2}× | {} | {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
                d.nodes,
                d.seconds,
                one / d.seconds.max(1e-9),
                i + 1,
                per_node(b.rate, d.nodes),
                l.ok.len() + l.failed,
                l.failed,
                ms(l.quantile(0.50)),
                ms(l.quantile(0.90)),
                ms(l.quantile(0.99)),
                ms(l.ok.last().copied().unwrap_or_default()),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// Requests per second each of `nodes` nodes is sent.
fn per_node(rate: u32, nodes: usize) -> u32 {
    (rate / nodes as u32).max(1)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `n` sources reading the simulator's garden.
fn sources(n: usize, addr: &str) -> String {
    (1..=n)
        .map(|i| {
            super::cocagne_source_named(
                &format!("garden-{i}"),
                addr,
                50,
                r#""subscriptions", "deliveries""#,
            )
        })
        .collect()
}

/// A `vivres serve` child, stopped when dropped.
struct Node {
    child: std::process::Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; SIGTERM lets the node
        // mark its runs and leave.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

async fn spawn_node(
    config: &Path,
    vars: &BTreeMap<String, String>,
    client: &reqwest::Client,
) -> anyhow::Result<Node> {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listen.local_addr()?;
    drop(listen);
    let log = std::fs::File::create(
        config
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!("node-{}.log", addr.port())),
    )?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(config)
        .args(["serve", "--listen", &addr.to_string()])
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start `vivres serve`")?;
    let mut node = Node {
        child,
        base: format!("http://{addr}/api/v1"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{}/health", node.base)).send().await
            && r.status().is_success()
        {
            return Ok(node);
        }
        if let Some(status) = node.child.try_wait()? {
            bail!(
                "`vivres serve` exited before answering ({status}); see its log beside the config"
            );
        }
        if Instant::now() > deadline {
            bail!("`vivres serve` did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn drain(
    b: &NodesBench,
    sim: &mut SimChild,
    dir: &Path,
    count: usize,
) -> anyhow::Result<Drain> {
    std::fs::create_dir_all(dir)?;
    let db = BenchDb::create(dir, Some(&b.database)).await?;
    let toml = bench_config(dir, &db.url, &sources(b.sources, &sim.addr));
    let config_path = dir.join("vivres.toml");
    std::fs::write(&config_path, &toml)?;
    let key = crate::privacy::Pseudonymiser::generate_key()
        .expose()
        .to_string();
    let vars: BTreeMap<String, String> = [("VIVRES_PSEUDONYM_KEY".to_string(), key)].into();
    // Migrate once, as an operator would, and take a token for the API.
    let token = {
        let hub = Hub::start(Config::parse("bench", &toml, &vars)?, vars.clone()).await?;
        let token = crate::auth::create(&hub.warehouse, "bench", &crate::auth::Role::Admin).await?;
        hub.warehouse.close().await;
        token
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(spawn_node(&config_path, &vars, &client).await?);
    }
    let ids: Vec<String> = (1..=b.sources).map(|i| format!("garden-{i}")).collect();
    // A first round, untimed and without delay: every node has compiled the
    // plugin and each source holds its data; the timed round then reads
    // each source from its checkpoint, waiting on the partner.
    let first = trigger_all(&client, &nodes[0].base, &token, &ids).await?;
    wait_all(&client, &nodes[0].base, &token, &first).await?;
    sim.command(&format!("slow {}", b.delay_ms))?;

    let stop = Arc::new(AtomicBool::new(false));
    let probe = first.first().copied().unwrap_or(1);
    let loads: Vec<_> = nodes
        .iter()
        .map(|n| {
            tokio::spawn(load(
                client.clone(),
                n.base.clone(),
                token.clone(),
                probe,
                per_node(b.rate, count),
                stop.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let runs = trigger_all(&client, &nodes[0].base, &token, &ids).await?;
    let waited = wait_all(&client, &nodes[0].base, &token, &runs).await;
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut by_node = Vec::new();
    for l in loads {
        by_node.push(l.await?);
    }
    waited?;
    println!(
        "{count} node(s): {} syncs drained in {seconds:.1} s",
        runs.len()
    );
    drop(nodes);
    Ok(Drain {
        nodes: count,
        seconds,
        by_node,
    })
}

async fn trigger_all(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    sources: &[String],
) -> anyhow::Result<Vec<i64>> {
    let mut runs = Vec::new();
    for source in sources {
        let resp = client
            .post(format!("{base}/sources/{source}/sync"))
            .bearer_auth(token)
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
        let Some(id) = body["run_id"].as_i64() else {
            bail!("POST /sources/{source}/sync answered {status}: {body}");
        };
        runs.push(id);
    }
    Ok(runs)
}

/// Waits until every run has ended; fails unless each succeeded.
async fn wait_all(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    runs: &[i64],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    for id in runs {
        loop {
            let bytes = client
                .get(format!("{base}/runs/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .bytes()
                .await?;
            let body: serde_json::Value = serde_json::from_slice(&bytes)?;
            match body["status"].as_str() {
                Some("running") | Some("queued") => {}
                Some("succeeded") => break,
                other => bail!("run {id} ended {other:?}: {body}"),
            }
            if Instant::now() > deadline {
                bail!("run {id} did not end within 30 minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Sends `rate` requests per second to `base` until `stop`, each from its
/// own task; returns the latencies measured from when each was due.
async fn load(
    client: reqwest::Client,
    base: String,
    token: String,
    run: i64,
    rate: u32,
    stop: Arc<AtomicBool>,
) -> Latencies {
    let period = Duration::from_secs(1) / rate;
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    let mut i: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = started + period * i as u32;
        tokio::time::sleep_until(due).await;
        let request = if i % 2 == 0 {
            client.get(format!("{base}/runs/{run}")).bearer_auth(&token)
        } else {
            client.get(format!("{base}/health"))
        };
        tasks.push(tokio::spawn(async move {
            let ok = match request.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (ok, due.elapsed())
        }));
        i += 1;
    }
    let mut out = Latencies::default();
    for t in tasks {
        match t.await {
            Ok((true, took)) => out.ok.push(took),
            _ => out.failed += 1,
        }
    }
    out.ok.sort();
    out
}
