//! Several `vivres serve` processes on one warehouse, for real: each
//! triggered run executed exactly once, a node killed with SIGKILL has its
//! run taken over after the lease and finished on another node (the tables
//! then equal a clean sync's), and a second node on one SQLite file refused.
//!
//! On PostgreSQL (`VIVRES_TEST_DATABASE_URL`) two nodes serve side by side.
//! On SQLite, which takes one node at a time, the same runs go through one
//! node, and the takeover is by the node started after the killed one.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use partner_sim::Fault;
use vivres::warehouse::{RunStatus, testing};

use crate::helpers::*;

/// The lease the tests' nodes run with (`[limits] lease_seconds`).
const LEASE: &str = "lease_seconds = 3";

/// A `vivres serve` child, killed if the test ends first.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    /// Starts `vivres serve` on the test's config; its log goes to a file
    /// beside the config.
    fn spawn(config: &Path, vars: &std::collections::BTreeMap<String, String>) -> Node {
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listen.local_addr().unwrap();
        drop(listen);
        let log = std::fs::File::create(
            config
                .parent()
                .unwrap()
                .join(format!("node-{}.log", addr.port())),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vivres"))
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", &addr.to_string()])
            .envs(vars)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("vivres serve");
        Node {
            child,
            base: format!("http://{addr}/api/v1"),
        }
    }

    /// Waits until the node answers.
    async fn up(mut self) -> Node {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/health", self.base)).send().await
                && r.status().is_success()
            {
                return self;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "vivres serve exited before answering"
            );
            assert!(Instant::now() < deadline, "vivres serve never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> i64 {
        i64::from(self.child.id())
    }

    fn kill(&mut self) {
        // SAFETY: kill has no memory preconditions.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) },
            0
        );
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn postgres() -> bool {
    std::env::var(testing::VAR).is_ok_and(|v| v.starts_with("postgres"))
}

/// `n` more sources reading the same garden as `cocagne-lyon`.
fn more_sources(n: usize, page_size: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                r#"
[[sources]]
id = "garden-{i}"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["${{SIMULATOR}}"]
[sources.config]
base_url = "http://${{SIMULATOR}}/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
page_size = {page_size}
[sources.secrets]
api_token = {{ value = "token-lyon" }}
"#
            )
        })
        .collect()
}

/// POST `/sources/{source}/sync`: the run's id.
async fn trigger(base: &str, token: &str, source: &str) -> i64 {
    let resp = reqwest::Client::new()
        .post(format!("{base}/sources/{source}/sync"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{source}");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["run_id"].as_i64().expect("run id")
}

/// Waits until a run has ended.
async fn ended(t: &TestHub, run_id: i64) -> vivres::warehouse::RunReport {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let run = t.hub.warehouse.run(run_id).await.unwrap();
        if run.status != RunStatus::Running {
            return run;
        }
        assert!(Instant::now() < deadline, "run {run_id} never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(url: &str, token: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_triggered_runs_on_two_nodes_each_run_once() {
    let t = TestHub::start(Setup {
        size: 300,
        page_size: 100,
        extra_sources: more_sources(9, 100),
        extra_limits: LEASE.into(),
        ..Setup::default()
    })
    .await;
    let token = vivres::auth::create(&t.hub.warehouse, "ops", &vivres::auth::Role::Admin)
        .await
        .unwrap();
    let count = if postgres() { 2 } else { 1 };
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(Node::spawn(&t.config_path, &t.vars).up().await);
    }
    let sources: Vec<String> = t.hub.config.sources.iter().map(|s| s.id.clone()).collect();
    assert_eq!(sources.len(), 10);

    // Five rounds: each source triggered once a round, through the nodes in turn.
    let mut runs = Vec::new();
    for round in 0..5 {
        let mut this_round = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let node = &nodes[(round + i) % nodes.len()];
            this_round.push(trigger(&node.base, &token, source).await);
        }
        for id in &this_round {
            let run = ended(&t, *id).await;
            assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        }
        runs.extend(this_round);
    }
    assert_eq!(runs.len(), 50);

    // Exactly once: 50 runs, 50 jobs done, and each run's log has one
    // pass per stream (an execution twice would log its streams twice).
    assert_eq!(t.count("runs").await, 50);
    // A job is marked done just after its run ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let jobs = loop {
        let jobs = t
            .hub
            .warehouse
            .job_counts(vivres::scheduler::QUEUE)
            .await
            .unwrap();
        if jobs.iter().all(|(status, _)| status == "Done") || Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(jobs, vec![("Done".to_string(), 50)], "{jobs:?}");
    let streams = scalar(
        &t.hub,
        "SELECT count(*) FROM streams WHERE source = 'cocagne-lyon'",
    )
    .await
    .unwrap();
    assert!(streams > 0);
    let passes = pairs(
        &t.hub,
        "SELECT CAST(run_id AS TEXT), count(*) FROM run_logs WHERE message LIKE 'stream %: read %' \
         GROUP BY run_id",
    )
    .await;
    assert_eq!(passes.len(), 50, "{passes:?}");
    assert!(passes.iter().all(|(_, n)| *n == streams), "{passes:?}");
    for source in &sources {
        let per_source = scalar(
            &t.hub,
            &format!(
                "SELECT count(*) FROM runs WHERE source = '{source}' AND status = 'succeeded'"
            ),
        )
        .await;
        assert_eq!(per_source, Some(5), "{source}");
    }
    // Each run was held by a node; on PostgreSQL both nodes ran some.
    assert_eq!(
        scalar(&t.hub, "SELECT count(*) FROM runs WHERE node_id IS NULL").await,
        Some(0)
    );
    let by_node = pairs(
        &t.hub,
        "SELECT node_id, count(*) FROM runs GROUP BY node_id ORDER BY node_id",
    )
    .await;
    eprintln!("runs by node: {by_node:?}");
    assert_eq!(by_node.len(), count, "{by_node:?}");
    // Every source holds the same garden's rows, once.
    let per_source = pairs(
        &t.hub,
        "SELECT s.source, count(*) FROM distributions d JOIN streams s ON s.id = d.stream_id \
         GROUP BY s.source",
    )
    .await;
    assert_eq!(per_source.len(), 10, "{per_source:?}");
    assert!(
        per_source
            .iter()
            .all(|(_, n)| *n > 0 && *n == per_source[0].1),
        "{per_source:?}"
    );

    // GET /nodes on either node lists both, with their version.
    for node in &nodes {
        let listed = get_json(&format!("{}/nodes", node.base), &token).await;
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), count, "{listed:?}");
        let mut pids: Vec<i64> = listed.iter().map(|n| n["pid"].as_i64().unwrap()).collect();
        pids.sort();
        let mut expected: Vec<i64> = nodes.iter().map(Node::pid).collect();
        expected.sort();
        assert_eq!(pids, expected);
        for n in listed {
            assert_eq!(n["version"], env!("CARGO_PKG_VERSION"));
            assert!(n["last_heartbeat"].as_str().is_some());
            assert_eq!(n["runs"], serde_json::json!([]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_run_is_taken_over_after_the_lease() {
    let t = TestHub::start(Setup {
        size: 3_000,
        page_size: 50,
        extra_limits: LEASE.into(),
        ..Setup::default()
    })
    .await;
    let token = vivres::auth::create(&t.hub.warehouse, "ops", &vivres::auth::Role::Admin)
        .await
        .unwrap();
    let mut nodes = vec![Node::spawn(&t.config_path, &t.vars).up().await];
    if postgres() {
        nodes.push(Node::spawn(&t.config_path, &t.vars).up().await);
    }
    // Slow pages: the run is still going when its node is killed.
    t.sim.set_fault(None, Fault::Slow { delay_ms: 40 });
    let run_id = trigger(&nodes[0].base, &token, "cocagne-lyon").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while t.hub.warehouse.run(run_id).await.unwrap().batches < 5 {
        assert!(
            Instant::now() < deadline,
            "the run never committed 5 batches"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The node holding it (by the pid of its `nodes` row) dies at once.
    let holder_pid = scalar(
        &t.hub,
        &format!("SELECT n.pid FROM runs r JOIN nodes n ON n.id = r.node_id WHERE r.id = {run_id}"),
    )
    .await
    .expect("the run is held by a node");
    let at = nodes
        .iter()
        .position(|n| n.pid() == holder_pid)
        .expect("one of ours");
    let mut killed = nodes.remove(at);
    killed.kill();
    let killed_node = t
        .hub
        .warehouse
        .inspect(&format!("SELECT node_id FROM runs WHERE id = {run_id}"))
        .await
        .unwrap()[0][0]
        .clone()
        .unwrap();
    assert_eq!(
        t.hub.warehouse.run(run_id).await.unwrap().status,
        RunStatus::Running,
        "the run ended before its node was killed: nothing taken over"
    );
    if nodes.is_empty() {
        // SQLite: the next node on the file, once the killed one is gone.
        nodes.push(Node::spawn(&t.config_path, &t.vars).up().await);
    }
    t.sim.set_fault(None, Fault::None);

    let run = ended(&t, run_id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let taken = t
        .hub
        .warehouse
        .inspect(&format!(
            "SELECT node_id, takeovers FROM runs WHERE id = {run_id}"
        ))
        .await
        .unwrap();
    let (node, takeovers) = (taken[0][0].clone().unwrap(), taken[0][1].clone().unwrap());
    assert_ne!(node, killed_node, "finished by another node");
    assert_eq!(takeovers, "1");
    assert_eq!(t.count("runs").await, 1, "resumed under the same run");
    let log = t.hub.warehouse.run_logs(run_id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.contains("resuming from the saved checkpoint")),
        "{log:?}"
    );

    // The final tables equal a clean sync's, and the run counted each row once.
    let clean = TestHub::start(Setup {
        size: 3_000,
        page_size: 50,
        ..Setup::default()
    })
    .await;
    let report = clean.sync("cocagne-lyon").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    for table in ["households", "distributions"] {
        assert_eq!(
            content(&t.hub, table).await,
            content(&clean.hub, table).await,
            "{table}"
        );
    }
    // The same records quarantined. The resumed stream re-read its cursor's
    // tie window (as every later run of a source does): a refused record in
    // it is quarantined again by this run, so compare the records, not rows.
    let refused = "SELECT DISTINCT stream || ' ' || reason || ' ' || field || ' ' || payload_hash, 0 \
                   FROM quarantine ORDER BY 1";
    let ours = pairs(&t.hub, refused).await;
    assert!(!ours.is_empty());
    assert_eq!(ours, pairs(&clean.hub, refused).await);
    let rows = t.count("households").await + t.count("distributions").await;
    assert_eq!(run.counts.inserted, rows as u64, "{run:?}");
    // Records re-read from the checkpoint (the tie window of its cursor) are
    // counted again as read, and stored once.
    let c = run.counts;
    assert_eq!(c.read, c.inserted + c.updated + c.unchanged + c.quarantined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = testing::Guard::create_on("sqlite", dir.path())
        .await
        .unwrap();
    let t = TestHub::start(Setup {
        database_url: Some(db.url.clone()),
        ..Setup::default()
    })
    .await;
    // TestHub made a database of its own kind: serve on the SQLite one.
    let setup = Setup {
        database_url: Some(db.url.clone()),
        ..Setup::default()
    };
    let config = dir.path().join("vivres.toml");
    std::fs::write(&config, config_text(dir.path(), &setup)).unwrap();
    let migrated = Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .envs(&t.vars)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");

    let mut first = Node::spawn(&config, &t.vars).up().await;
    let second = Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(&t.vars)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another `vivres serve` already runs on this SQLite warehouse")
            && err.contains(&format!("pid {}", first.pid()))
            && err.contains("PostgreSQL"),
        "{err}"
    );
    assert!(!err.contains(&dir.path().display().to_string()), "{err}");
    // The first one gone (however it went), the next one starts.
    first.kill();
    let _next = Node::spawn(&config, &t.vars).up().await;
}
