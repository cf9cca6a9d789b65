//! The admin API and the scheduler, served in-process on 127.0.0.1:0 over real
//! HTTP, against the partner simulator and a real SQLite warehouse.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partner_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use vivres::Hub;
use vivres::auth::{Role, create};
use vivres::scheduler::{Queue, SchedulerSettings, SyncJob, Trigger};
use vivres::serve::{ServeError, ServeSettings, launch};

use crate::helpers::*;

/// A second territory with a file-based source, a source with a broken
/// configuration, and (optionally) a scheduled source.
fn extra_sources(schedule: Option<&str>) -> String {
    let mut extra = r#"
[[sources]]
id = "garden-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
streams = ["subscriptions", "deliveries"]
allowed_hosts = ["${SIMULATOR}"]
[sources.config]
base_url = "http://${SIMULATOR}/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
page_size = 50
[sources.secrets]
api_token = { value = "token-lyon" }
[[territories]]
id = "toulouse"
name = "Toulouse Métropole"
epci = ["243100518"]

[[sources]]
id = "cocagne-toulouse"
connector = "cocagne-gardens"
network = "cocagne"
territory = "toulouse"
inbox = true
allowed_hosts = ["${SIMULATOR}"]
[sources.config]
base_url = "http://${SIMULATOR}/toulouse"
token_secret = "api_token"
garden = "jardin-toulouse"
[sources.secrets]
api_token = { value = "token-toulouse-s3cret" }

[[sources]]
id = "broken-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["${SIMULATOR}"]
[sources.config]
token_secret = "api_token"
[sources.secrets]
api_token = { value = "token-broken" }
"#
    .to_string();
    if let Some(schedule) = schedule {
        extra.push_str(&format!(
            r#"
[[sources]]
id = "scheduled-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
streams = ["subscriptions", "deliveries"]
schedule = "{schedule}"
allowed_hosts = ["${{SIMULATOR}}"]
[sources.config]
base_url = "http://${{SIMULATOR}}/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
page_size = 500
[sources.secrets]
api_token = {{ value = "token-lyon" }}
"#
        ));
    }
    extra
}

fn fast_settings() -> ServeSettings {
    ServeSettings {
        scheduler: SchedulerSettings {
            poll_interval: Duration::from_millis(100),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(2),
            max_attempts: 3,
            concurrency: 4,
        },
        api: vivres::api::ApiSettings {
            upload_limit_bytes: 64 * 1024,
        },
    }
}

/// A hub served in-process.
struct Served {
    _dir: tempfile::TempDir,
    sim: partner_sim::RunningSim,
    /// The hub's config file and the variables it needs (for the binary).
    config_path: std::path::PathBuf,
    vars: BTreeMap<String, String>,
    hub: Arc<Hub>,
    base: String,
    client: reqwest::Client,
    settings: ServeSettings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
    // Dropped last: the database outlives the hub.
    _db: vivres::warehouse::testing::Guard,
}

impl Served {
    async fn start(setup: Setup, settings: ServeSettings) -> Served {
        let TestHub {
            db,
            dir,
            sim,
            hub,
            config_path,
            vars,
        } = TestHub::start(setup).await;
        let mut served = Served {
            _db: db,
            _dir: dir,
            sim,
            config_path,
            vars,
            hub: Arc::new(hub),
            base: String::new(),
            client: reqwest::Client::new(),
            settings,
            stop: None,
            task: None,
        };
        served.launch().await;
        served
    }

    async fn launch(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.base = format!("http://{}/api/v1", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(launch(
            self.hub.clone(),
            self.settings.clone(),
            listener,
            async move {
                let _ = rx.await;
            },
        )));
    }

    /// Stops the hub as SIGTERM would and waits until it has stopped.
    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the hub stops within a minute")
                .expect("serve task")
                .expect("serve ends cleanly");
        }
    }

    async fn token(&self, name: &str, role: Role) -> String {
        create(&self.hub.warehouse, name, &role)
            .await
            .expect("token")
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Waits until a run has ended and returns it.
    async fn wait_run(&self, id: i64, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let run = self.get(&format!("/runs/{id}"), token).await;
            if run["status"] != "running" {
                return run;
            }
            assert!(Instant::now() < deadline, "run {id} never ended: {run}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn runs_of(&self, source: &str) -> Vec<vivres::warehouse::RunReport> {
        self.hub
            .warehouse
            .runs(Some(source), 1000)
            .await
            .expect("runs")
    }
}

fn coordinator(territories: &[&str]) -> Role {
    Role::Coordinator {
        territories: territories.iter().map(|t| t.to_string()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix() {
    let mut s = Served::start(
        Setup {
            size: 300,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let lyon = s.token("coord-lyon", coordinator(&["lyon"])).await;
    let toulouse = s.token("coord-toulouse", coordinator(&["toulouse"])).await;
    let evaluator = s.token("evaluator", Role::Evaluator).await;
    let revoked = s.token("gone", Role::Admin).await;
    vivres::auth::revoke(&s.hub.warehouse, "gone")
        .await
        .unwrap();

    // A first run, so that runs, logs, checkpoints and quarantine exist.
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = s.wait_run(body["run_id"].as_i64().unwrap(), &admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["id"].as_i64().unwrap();

    let who: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("admin", Some(&admin)),
        ("coord-lyon", Some(&lyon)),
        ("coord-toulouse", Some(&toulouse)),
        ("evaluator", Some(&evaluator)),
    ];
    let all = ["admin", "coord-lyon", "coord-toulouse", "evaluator"];
    let run_path = format!("/runs/{run_id}");
    let log_path = format!("/runs/{run_id}/log");
    // (method, path, roles allowed, status when allowed)
    let matrix: Vec<(Method, &str, Vec<&str>, u16)> = vec![
        (Method::GET, "/openapi.json", all.to_vec(), 200),
        (Method::GET, "/metrics", vec!["admin"], 200),
        (Method::GET, "/nodes", vec!["admin"], 200),
        (
            Method::GET,
            "/connectors",
            vec!["admin", "coord-lyon", "coord-toulouse"],
            200,
        ),
        (
            Method::GET,
            "/sources",
            vec!["admin", "coord-lyon", "coord-toulouse"],
            200,
        ),
        (
            Method::GET,
            "/sources/garden-lyon",
            vec!["admin", "coord-lyon"],
            200,
        ),
        // A connector's state is opaque: admins only.
        (
            Method::GET,
            "/sources/garden-lyon/state",
            vec!["admin"],
            200,
        ),
        (Method::GET, "/runs", all.to_vec(), 200),
        (
            Method::GET,
            "/runs?source=garden-lyon",
            vec!["admin", "coord-lyon", "evaluator"],
            200,
        ),
        (
            Method::GET,
            &run_path,
            vec!["admin", "coord-lyon", "evaluator"],
            200,
        ),
        (Method::GET, &log_path, vec!["admin", "coord-lyon"], 200),
        (
            Method::GET,
            "/quarantine",
            vec!["admin", "coord-lyon", "coord-toulouse"],
            200,
        ),
        (
            Method::GET,
            "/quarantine?source=garden-lyon",
            vec!["admin", "coord-lyon"],
            200,
        ),
        (
            Method::POST,
            "/sources/garden-lyon/sync",
            vec!["admin", "coord-lyon"],
            202,
        ),
        (
            Method::POST,
            "/sources/garden-lyon/quarantine/replay",
            vec!["admin", "coord-lyon"],
            202,
        ),
        (
            Method::DELETE,
            "/sources/garden-lyon/state?stream=deliveries",
            vec!["admin"],
            204,
        ),
        (Method::GET, "/schema", vec!["admin", "evaluator"], 200),
        // Coordinators export their own territories (by default, all of them).
        (
            Method::GET,
            "/data/distributions?format=csv",
            all.to_vec(),
            200,
        ),
        (
            Method::GET,
            "/data/distributions?format=parquet&territory=lyon",
            vec!["admin", "coord-lyon", "evaluator"],
            200,
        ),
        (
            Method::GET,
            "/data/households?format=jsonl&territory=toulouse&territory=lyon",
            vec!["admin", "evaluator"],
            200,
        ),
        // Coordinators read their own territories' indicators (by default, all of them).
        (Method::GET, "/indicators", all.to_vec(), 200),
        (
            Method::GET,
            "/indicators?territory=lyon&period=2024-Q1",
            vec!["admin", "coord-lyon", "evaluator"],
            200,
        ),
        (
            Method::GET,
            "/indicators?territory=toulouse&territory=lyon&format=csv",
            vec!["admin", "evaluator"],
            200,
        ),
    ];
    for (method, path, allowed, ok) in &matrix {
        for (name, token) in who {
            let (status, body) = s.call(method.clone(), path, token).await;
            let expected = if token.is_none() {
                401
            } else if allowed.contains(&name) {
                *ok
            } else {
                403
            };
            assert_eq!(
                status.as_u16(),
                expected,
                "{method} {path} as {name}: {body}"
            );
            if status.as_u16() >= 400 {
                assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
                assert!(
                    body["error"]["message"].is_string(),
                    "{method} {path}: {body}"
                );
            }
            if status == StatusCode::ACCEPTED {
                let run = s.wait_run(body["run_id"].as_i64().unwrap(), &admin).await;
                assert_eq!(run["status"], "succeeded", "{run}");
            }
        }
        // A revoked or made-up token is no token.
        for bad in [revoked.as_str(), "vvr_0000", "not-a-token"] {
            let (status, _) = s.call(method.clone(), path, Some(bad)).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {bad}"
            );
        }
    }
    // Health needs no token.
    for (_, token) in who {
        let (status, body) = s.call(Method::GET, "/health", token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }
    // Uploads: the file-based source of Toulouse.
    for (name, token) in who {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"a;b\n1;2\n".to_vec()).file_name("export.csv"),
        );
        let mut req = s
            .client
            .post(format!("{}/sources/cocagne-toulouse/files", s.base))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let status = req.send().await.unwrap().status().as_u16();
        let expected = match name {
            "none" => 401,
            "admin" => 201,
            "coord-toulouse" => 200,
            _ => 403,
        };
        assert_eq!(status, expected, "upload as {name}");
    }
    // Coordinators see their territories only.
    let sources = s.get("/sources", &toulouse).await;
    let ids: Vec<&str> = sources
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["cocagne-toulouse"]);
    let runs = s.get("/runs", &toulouse).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 0, "{runs}");
    let runs = s.get("/runs", &lyon).await;
    assert!(runs["runs"].as_array().unwrap().len() >= 3, "{runs}");
    // Unknown things are 404, bad parameters 400.
    let (status, _) = s.call(Method::GET, "/sources/nope", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::GET, "/runs/999999", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(Method::GET, "/runs?status=sleeping", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .call(Method::DELETE, "/sources/garden-lyon/state", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = s.call(Method::GET, "/no/such/route", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    s.shutdown().await;
}

/// An export over HTTP, as bytes, with its metadata header.
async fn export_bytes(s: &Served, path: &str, token: &str) -> (u16, Vec<u8>, Option<Value>) {
    let resp = s
        .client
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let meta = resp
        .headers()
        .get("vivres-export-metadata")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok());
    (status, resp.bytes().await.expect("body").to_vec(), meta)
}

/// What a real reader (pyarrow) makes of an export: every value as text.
fn read_back(format: &str, bytes: &[u8], dir: &std::path::Path) -> Value {
    let path = dir.join(format!("export.{format}"));
    std::fs::write(&path, bytes).unwrap();
    partner_sim::reader::read(format, &path).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_carry_pseudonyms_only_and_keep_coordinators_to_their_territories() {
    let s = Served::start(
        Setup {
            size: 1_500,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let report = vivres::sync::sync_source(&s.hub, "cocagne-lyon", &Default::default())
        .await
        .expect("sync");
    assert_eq!(report.status, vivres::warehouse::RunStatus::Succeeded);
    let exp = s.sim.expected("lyon");
    assert!(exp.raw_person_values.len() > 100);
    let evaluator = s.token("evaluator", Role::Evaluator).await;
    let lyon = s.token("coord-lyon", coordinator(&["lyon"])).await;
    let toulouse = s.token("coord-toulouse", coordinator(&["toulouse"])).await;
    let dir = tempfile::tempdir().unwrap();

    // Every exportable table in every format, read back by pyarrow: row
    // counts match the warehouse and no raw person value appears anywhere.
    let dictionary = s.get("/schema", &evaluator).await;
    let version = dictionary["version"].as_str().unwrap().to_string();
    let tables: Vec<String> = dictionary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["exportable"] == true)
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(tables.contains(&"distributions".to_string()), "{tables:?}");
    let mut seen_rows = 0;
    for table in &tables {
        let stored = count(&s.hub, table).await;
        for format in ["csv", "jsonl", "parquet"] {
            let (status, bytes, meta) =
                export_bytes(&s, &format!("/data/{table}?format={format}"), &evaluator).await;
            assert_eq!(
                status,
                200,
                "{table} {format}: {}",
                String::from_utf8_lossy(&bytes)
            );
            let meta = meta.expect("metadata header");
            assert_eq!(meta["dictionary_version"], version.as_str());
            assert_eq!(meta["entity"], table.as_str());
            let got = read_back(format, &bytes, dir.path());
            let rows = match format {
                "csv" => {
                    assert_eq!(got["bom"], true);
                    assert!(got["header_line"].as_str().unwrap().contains(';'));
                    got["csv_rows"].clone()
                }
                "jsonl" => got["json_rows"].clone(),
                _ => got["rows"].clone(),
            };
            assert_eq!(
                rows.as_array().unwrap().len() as i64,
                stored,
                "{table} {format}: every stored row, once"
            );
            seen_rows += stored;
            let text = got.to_string();
            for value in &exp.raw_person_values {
                assert!(
                    !text.contains(value.as_str()),
                    "{table} {format}: a raw person value appears in the export"
                );
            }
        }
    }
    assert!(seen_rows > 1_000, "the exports held data: {seen_rows}");

    // Coordinators: their territories only.
    let (status, _, _) = export_bytes(
        &s,
        "/data/distributions?format=jsonl&territory=toulouse",
        &lyon,
    )
    .await;
    assert_eq!(status, 403);
    let (status, bytes, meta) = export_bytes(&s, "/data/distributions?format=jsonl", &lyon).await;
    assert_eq!(status, 200);
    assert_eq!(
        meta.unwrap()["filters"]["territories"],
        serde_json::json!(["lyon"])
    );
    let lines = String::from_utf8(bytes).unwrap();
    assert_eq!(
        lines.lines().count() as i64,
        count(&s.hub, "distributions").await
    );
    assert!(lines.lines().all(|l| l.contains("\"territory\":\"lyon\"")));
    let (status, bytes, _) = export_bytes(&s, "/data/distributions?format=jsonl", &toulouse).await;
    assert_eq!(status, 200);
    assert!(
        bytes.is_empty(),
        "Lyon's rows are not Toulouse's coordinator's"
    );

    // Bad requests say what to fix.
    for (path, expected) in [
        ("/data/distributions?format=xlsx", 400),
        ("/data/distributions", 400),
        ("/data/runs?format=csv", 404),
        ("/data/api_tokens?format=csv", 404),
        ("/data/distributions?format=csv&from=01/03/2024", 400),
        ("/data/products?format=csv&from=2024-03-01", 400),
        ("/data/distributions?format=csv&territory=paris", 400),
        ("/data/distributions?format=csv&color=blue", 400),
    ] {
        let (status, body) = s.call(Method::GET, path, Some(&evaluator)).await;
        assert_eq!(status.as_u16(), expected, "{path}: {body}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
    }

    // The command line: `vivres schema` and `vivres export` on the same warehouse.
    let vivres = env!("CARGO_BIN_EXE_vivres");
    let config = s.config_path.clone();
    let out = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&config)
        .args(["schema", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli_dictionary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli_dictionary, dictionary, "one dictionary, two doors");
    let markdown = std::process::Command::new(vivres)
        .args(["schema"])
        .output()
        .unwrap();
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(
        markdown.contains("## `order_lines`")
            && markdown.contains("| `price_paid_cents` | integer |")
    );
    let file = dir.path().join("lyon-distributions.csv");
    let out = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&config)
        .args([
            "export",
            "distributions",
            "--format",
            "csv",
            "--territory",
            "lyon",
            "--decimal-comma",
            "--out",
        ])
        .arg(&file)
        .envs(&s.vars)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = partner_sim::reader::read("csv", &file).unwrap();
    assert_eq!(
        got["csv_rows"].as_array().unwrap().len() as i64,
        count(&s.hub, "distributions").await
    );
    let side: Value =
        serde_json::from_slice(&std::fs::read(vivres::export::sidecar_path(&file)).unwrap())
            .unwrap();
    assert_eq!(side["decimal_comma"], true);
    assert_eq!(side["filters"]["territories"], serde_json::json!(["lyon"]));
    let out = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&config)
        .args([
            "export",
            "distributions",
            "--format",
            "csv",
            "--territory",
            "nowhere",
            "--out",
        ])
        .arg(&file)
        .envs(&s.vars)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown territory `nowhere`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_over_http_then_409_while_running_and_cursor_pages() {
    let mut s = Served::start(
        Setup {
            size: 1_000,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let token = s.token("coord", coordinator(&["lyon"])).await;
    s.sim.set_fault(None, Fault::Slow { delay_ms: 30 });
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&token))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run_id = body["run_id"].as_i64().unwrap();
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&token))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_running");
    assert_eq!(body["error"]["run_id"], run_id);
    s.sim.set_fault(None, Fault::None);
    let run = s.wait_run(run_id, &token).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let c = &run["counts"];
    let read = c["read"].as_u64().unwrap();
    assert!(read > 1_000, "{run}");
    let stored: u64 = ["inserted", "updated", "unchanged", "quarantined"]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum();
    assert_eq!(read, stored, "{run}");
    assert!(run["duration_seconds"].as_f64().is_some());
    let log = s.get(&format!("/runs/{run_id}/log"), &token).await;
    assert!(!log["lines"].as_array().unwrap().is_empty());

    // A full refresh, then pages of one run each.
    let (status, body) = s
        .call(
            Method::POST,
            "/sources/garden-lyon/sync?full_refresh=true",
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let second = s.wait_run(body["run_id"].as_i64().unwrap(), &token).await;
    assert_eq!(second["full_refresh"], true);
    let page = s.get("/runs?limit=1", &token).await;
    assert_eq!(page["runs"][0]["id"], second["id"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page = s
        .get(&format!("/runs?limit=1&cursor={cursor}"), &token)
        .await;
    assert_eq!(page["runs"][0]["id"], run_id);
    assert!(page["next_cursor"].is_null(), "{page}");
    let page = s
        .get("/runs?status=succeeded&source=garden-lyon", &token)
        .await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 2);
    let page = s.get("/runs?status=failed", &token).await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 0);

    // Prometheus text: runs, records, durations, partner HTTP, plugin time, API.
    let admin = s.token("admin", Role::Admin).await;
    let metrics = s
        .client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = metrics.text().await.unwrap();
    for expected in [
        "vivres_runs{source=\"garden-lyon\",status=\"succeeded\"} 2",
        &format!(
            "vivres_records_total{{source=\"garden-lyon\",outcome=\"read\"}} {}",
            read + second["counts"]["read"].as_u64().unwrap()
        ),
        "vivres_run_duration_seconds_count{source=\"garden-lyon\"} 2",
        "vivres_partner_http_responses_total{source=\"garden-lyon\",status=\"200\"}",
        "vivres_plugin_read_seconds_total{source=\"garden-lyon\"}",
        "vivres_jobs{status=\"Done\"}",
        "vivres_api_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/sources/{id}/sync\",status=\"202\"} 2",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing in\n{metrics}"
        );
    }

    // The state (admins only), then an admin resets one stream.
    let (status, _) = s
        .call(Method::GET, "/sources/garden-lyon/state", Some(&token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let state = s.get("/sources/garden-lyon/state", &admin).await;
    let streams: Vec<&str> = state["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["stream"].as_str())
        .collect();
    assert!(streams.contains(&"deliveries"), "{state}");
    let (status, _) = s
        .call(
            Method::DELETE,
            "/sources/garden-lyon/state?stream=deliveries",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .call(
            Method::DELETE,
            "/sources/garden-lyon/state?stream=deliveries",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_twice_stores_one_file_and_the_limit_is_enforced() {
    let mut s = Served::start(
        Setup {
            size: 100,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let token = s.token("coord", coordinator(&["toulouse"])).await;
    let upload = |bytes: Vec<u8>, name: &'static str| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
        s.client
            .post(format!("{}/sources/cocagne-toulouse/files", s.base))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    };
    let content = b"Date passage;N\xc2\xb0 dossier\n01/02/2024;1\n".to_vec();
    let first = upload(content.clone(), "accueils.csv").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    let second = upload(content.clone(), "accueils.csv").await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["file"], first["file"]);
    let inbox = s._dir.path().join("inbox").join("cocagne-toulouse");
    let files = vivres::inbox::list(&inbox).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    // Too large: refused, nothing stored.
    let big = upload(vec![b'x'; 65 * 1024], "big.csv").await.unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(vivres::inbox::list(&inbox).unwrap().len(), 1);
    // A source without inbox.
    let admin = s.token("admin", Role::Admin).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(content).file_name("x.csv"),
    );
    let resp = s
        .client
        .post(format!("{}/sources/garden-lyon/files", s.base))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_validates_and_lists_every_served_route() {
    let mut s = Served::start(
        Setup {
            size: 50,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let doc = s.get("/openapi.json", &admin).await;
    assert_eq!(doc, serde_json::to_value(vivres::api::openapi()).unwrap());
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    // It parses as an OpenAPI 3.1 document.
    let spec: oas3::Spec =
        serde_json::from_value(doc.clone()).expect("a valid OpenAPI 3.1 document");
    assert_eq!(spec.paths.as_ref().map(|p| p.len()), Some(21));
    for (path, _, op) in spec.operations() {
        assert!(
            op.responses.as_ref().is_some_and(|r| !r.is_empty()),
            "{path}"
        );
    }
    // Every $ref resolves, every operation has responses.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap_or_default().to_string());
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    assert!(!all_refs.is_empty());
    for r in &all_refs {
        let pointer = r.strip_prefix('#').expect("local ref");
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/metrics"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/nodes"),
        ("GET", "/api/v1/connectors"),
        ("GET", "/api/v1/sources"),
        ("GET", "/api/v1/sources/{id}"),
        ("POST", "/api/v1/sources/{id}/sync"),
        ("GET", "/api/v1/sources/{id}/state"),
        ("DELETE", "/api/v1/sources/{id}/state"),
        ("POST", "/api/v1/sources/{id}/quarantine/replay"),
        ("POST", "/api/v1/sources/{id}/files"),
        ("GET", "/api/v1/sources/{id}/files"),
        ("GET", "/api/v1/quarantine"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/runs/{id}"),
        ("GET", "/api/v1/runs/{id}/log"),
        ("POST", "/api/v1/runs/{id}/cancel"),
        ("GET", "/api/v1/sources/{id}/pause"),
        ("POST", "/api/v1/sources/{id}/resume"),
        ("GET", "/api/v1/schema"),
        ("GET", "/api/v1/data/{entity}"),
        ("GET", "/api/v1/indicators"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(documented, expected);
    // Against the router: every documented operation is served (an unknown
    // route answers the fallback's 404 `no such route`), and methods the
    // document does not list are not.
    let root = s.base.trim_end_matches("/api/v1").to_string();
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "garden-lyon")
            .replace("{entity}", "order_lines");
        let concrete = if concrete.starts_with("/api/v1/runs/") {
            path.replace("{id}", "1")
        } else {
            concrete
        };
        let resp = s
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{root}{concrete}"),
            )
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("no such route") && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served: {status} {body}"
        );
        for other in ["GET", "POST", "DELETE", "PUT", "PATCH"] {
            if documented.contains(&(other.to_string(), path.clone())) {
                continue;
            }
            let resp = s
                .client
                .request(
                    Method::from_bytes(other.as_bytes()).unwrap(),
                    format!("{root}{concrete}"),
                )
                .send()
                .await
                .unwrap();
            assert!(
                resp.status() == StatusCode::METHOD_NOT_ALLOWED
                    || resp.status() == StatusCode::NOT_FOUND,
                "{other} {path} is served but not documented: {}",
                resp.status()
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_back_off_for_an_unavailable_partner_and_not_for_bad_config() {
    let mut s = Served::start(
        Setup {
            size: 100,
            http_max_retries: 0,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    // Two failed attempts, then the partner is back.
    s.sim.set_fault(None, Fault::ServerError { times: Some(2) });
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let first = s.wait_run(body["run_id"].as_i64().unwrap(), &admin).await;
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["error_kind"], "partner_unavailable", "{first}");
    let (status, body) = s
        .call(Method::POST, "/sources/broken-lyon/sync", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let broken = s.wait_run(body["run_id"].as_i64().unwrap(), &admin).await;
    assert_eq!(broken["status"], "failed", "{broken}");
    assert_ne!(broken["error_kind"], "partner_unavailable", "{broken}");
    // Retried after 1 s, then 2 s: the third attempt succeeds.
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let runs = s.runs_of("garden-lyon").await;
        if runs
            .first()
            .is_some_and(|r| r.status == vivres::warehouse::RunStatus::Succeeded)
        {
            break runs;
        }
        assert!(Instant::now() < deadline, "never succeeded: {runs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(runs.len(), 3, "{runs:?}");
    let started: Vec<_> = runs
        .iter()
        .rev()
        .map(|r| {
            time::OffsetDateTime::parse(
                &r.started_at,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    assert!(
        started[1] - started[0] >= time::Duration::milliseconds(900),
        "{started:?}"
    );
    assert!(
        started[2] - started[1] >= time::Duration::milliseconds(1900),
        "{started:?}"
    );
    // Bad configuration is not retried.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.runs_of("broken-lyon").await.len(), 1);
    // The failed runs' partner errors are counted (from `run_http`, not the log).
    let metrics = s
        .client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vivres_partner_http_responses_total{source=\"garden-lyon\",status=\"5"),
        "no 5xx counted in\n{metrics}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_a_sync_between_batches_and_the_next_start_resumes_it() {
    let mut s = Served::start(
        Setup {
            size: 3_000,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let exp = s.sim.expected("lyon");
    let admin = s.token("admin", Role::Admin).await;
    s.sim.set_fault(None, Fault::Slow { delay_ms: 40 });
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run_id = body["run_id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.hub.warehouse.run(run_id).await.unwrap().batches < 3 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.shutdown().await;
    let interrupted = s.hub.warehouse.run(run_id).await.unwrap();
    assert_eq!(
        interrupted.status,
        vivres::warehouse::RunStatus::Interrupted,
        "{interrupted:?}"
    );
    assert_eq!(interrupted.error_kind.as_deref(), Some("interrupted"));
    assert!(interrupted.batches >= 3);
    let partial = s.hub.warehouse.checkpoints("garden-lyon").await.unwrap();
    assert!(!partial.is_empty());

    // The next start resumes it from its checkpoint, without a trigger.
    s.sim.set_fault(None, Fault::None);
    s.launch().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let resumed = loop {
        let runs = s.runs_of("garden-lyon").await;
        if runs.len() == 2 && runs[0].status != vivres::warehouse::RunStatus::Running {
            break runs[0].clone();
        }
        assert!(Instant::now() < deadline, "{runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        resumed.status,
        vivres::warehouse::RunStatus::Succeeded,
        "{resumed:?}"
    );
    let log = s.hub.warehouse.run_logs(resumed.id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.contains("resuming from the saved checkpoint")),
        "{log:?}"
    );
    assert_eq!(
        count(&s.hub, "distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_and_survives_a_restart_with_its_queued_jobs() {
    let mut s = Served::start(
        Setup {
            size: 100,
            extra_sources: extra_sources(Some("*/2 * * * * *")),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let source = s.get("/sources/scheduled-lyon", &admin).await;
    assert_eq!(source["schedule"], "*/2 * * * * *");
    assert!(source["next_run"].is_string(), "{source}");
    let succeeded = |runs: &[vivres::warehouse::RunReport]| {
        runs.iter()
            .filter(|r| r.status == vivres::warehouse::RunStatus::Succeeded)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while succeeded(&s.runs_of("scheduled-lyon").await) < 2 {
        assert!(Instant::now() < deadline, "the schedule never fired twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.shutdown().await;
    let stopped_at = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
    let before = s.runs_of("scheduled-lyon").await.len();

    // While the hub is down a job is queued (as a trigger or a retry would be).
    let queue = Queue::open(&s.hub).await.unwrap();
    queue
        .push(SyncJob::new("garden-lyon", Trigger::Manual), None, None)
        .await
        .unwrap();
    // Down for more than a tick: the missed tick is caught up (once).
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(s.runs_of("garden-lyon").await.len(), 0);

    let restarted_at = time::OffsetDateTime::now_utc().unix_timestamp();
    s.launch().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued = s.runs_of("garden-lyon").await;
        let scheduled = s.runs_of("scheduled-lyon").await;
        if succeeded(&queued) == 1 && succeeded(&scheduled) >= before + 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{queued:?} {scheduled:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.shutdown().await;
    // The queued job ran exactly once; no run is left running; runs of a
    // source never overlap; each tick was queued once.
    assert_eq!(s.runs_of("garden-lyon").await.len(), 1);
    for source in ["garden-lyon", "scheduled-lyon"] {
        let mut runs = s.runs_of(source).await;
        runs.reverse();
        assert!(
            runs.iter()
                .all(|r| r.status != vivres::warehouse::RunStatus::Running)
        );
        for w in runs.windows(2) {
            assert!(
                w[0].ended_at.as_deref().unwrap() <= w[1].started_at.as_str(),
                "overlapping runs {w:?}"
            );
        }
    }
    let keys: Vec<(String, i64)> = s
        .hub
        .warehouse
        .job_keys(vivres::scheduler::QUEUE, "")
        .await
        .unwrap();
    assert!(keys.len() >= 4, "{keys:?}");
    assert!(keys.iter().all(|(_, n)| *n == 1), "{keys:?}");
    let ticks: BTreeMap<String, i64> = keys.into_iter().collect();
    let caught_up = ticks.keys().any(|k| {
        k.rsplit(':')
            .next()
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|t| t > stopped_at && t <= restarted_at)
    });
    assert!(caught_up, "no missed tick caught up: {ticks:?}");
    assert!(
        ticks
            .keys()
            .all(|k| k.starts_with("schedule:scheduled-lyon:"))
    );
}

/// `vivres serve` as a process: tokens from `vivres token create`, JSON logs
/// naming the token's holder, SIGTERM stops it cleanly, and no secret (source
/// secrets, bearer tokens) appears in any response or log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_logs_token_names_never_secrets_and_stops_on_sigterm() {
    use std::io::{BufRead as _, BufReader};
    let t = TestHub::start(Setup {
        size: 200,
        extra_sources: extra_sources(None),
        ..Setup::default()
    })
    .await;
    let vivres = env!("CARGO_BIN_EXE_vivres");
    let token_for = |role: &str, territory: Option<&str>, name: &str| {
        let mut cmd = std::process::Command::new(vivres);
        cmd.arg("--config")
            .arg(&t.config_path)
            .args(["token", "create", "--role", role, "--name", name])
            .envs(&t.vars);
        if let Some(tr) = territory {
            cmd.args(["--territory", tr]);
        }
        let out = cmd.output().expect("vivres token create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let admin = token_for("admin", None, "ops-admin");
    let coord = token_for("coordinator", Some("lyon"), "marie-lyon");
    let listed = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&t.config_path)
        .args(["token", "list", "--json"])
        .envs(&t.vars)
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("marie-lyon") && !listed.contains(&coord),
        "{listed}"
    );

    let mut child = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&t.config_path)
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .envs(&t.vars)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vivres serve");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let base = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("vivres serve prints its address");
        log.push(line.clone());
        if let Some(rest) = line.strip_prefix("vivres: admin API on ") {
            break rest.trim().to_string();
        }
    };
    let client = reqwest::Client::new();
    let mut bodies = String::new();
    let sync: Value = client
        .post(format!("{base}/sources/garden-lyon/sync"))
        .bearer_auth(&coord)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = sync["run_id"].as_i64().expect("run id");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = client
            .get(format!("{base}/runs/{run_id}"))
            .bearer_auth(&coord)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        bodies.push_str(&run);
        if !run.contains("\"running\"") {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in [
        "/sources",
        "/sources/garden-lyon",
        "/sources/cocagne-toulouse",
        "/connectors",
        "/runs",
        &format!("/runs/{run_id}/log"),
        "/sources/garden-lyon/state",
        "/quarantine",
        "/metrics",
        "/openapi.json",
    ] {
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        bodies.push_str(&resp.text().await.unwrap());
    }
    assert!(
        bodies.contains("\"***\""),
        "secrets are listed by name, masked"
    );
    // SIGTERM: the process stops by itself, cleanly.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "vivres serve ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(2)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(
        log.contains("marie-lyon") && log.contains("ops-admin"),
        "request logs name the token"
    );
    assert!(log.contains("\"route\":\"/api/v1/runs/{id}\""), "{log}");
    for secret in [
        "token-lyon",
        "token-toulouse-s3cret",
        "token-broken",
        admin.as_str(),
        coord.as_str(),
        KEY,
    ] {
        assert!(!bodies.contains(secret), "a response contains a secret");
        assert!(!log.contains(secret), "a log line contains a secret");
    }
}

/// Not a timed test: measures `GET /runs/{id}` and `GET /health` latency at
/// 500 requests/s while a full sync runs, and prints the percentiles.
/// `cargo test -p vivres --test e2e api::latency -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn latency_under_load_while_a_full_sync_runs() {
    let mut s = Served::start(
        Setup {
            size: 100_000,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run_id = body["run_id"].as_i64().unwrap();
    // Let the sync get going.
    while s.hub.warehouse.run(run_id).await.unwrap().batches < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = 500u32;
    let seconds = 10u32;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut tasks = Vec::new();
    for i in 0..rate * seconds {
        ticker.tick().await;
        let client = s.client.clone();
        let url = if i % 2 == 0 {
            format!("{}/runs/{run_id}", s.base)
        } else {
            format!("{}/health", s.base)
        };
        let token = admin.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let resp = client.get(url).bearer_auth(token).send().await;
            let ok = match resp {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (i % 2 == 0, started.elapsed(), ok)
        }));
    }
    let mut runs = Vec::new();
    let mut health = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (is_run, elapsed, ok) = t.await.unwrap();
        if !ok {
            failed += 1;
        }
        if is_run { &mut runs } else { &mut health }.push(elapsed);
    }
    let still_running = s.hub.warehouse.run(run_id).await.unwrap();
    for (name, mut v) in [("GET /runs/{id}", runs), ("GET /health", health)] {
        v.sort();
        let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
        println!(
            "{name}: {} requests, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
            v.len(),
            p(0.50),
            p(0.90),
            p(0.99),
            v[v.len() - 1]
        );
    }
    println!(
        "failed requests: {failed}; the sync was {:?} with {} batches / {} records read when the load ended",
        still_running.status, still_running.batches, still_running.counts.read
    );
    s.shutdown().await;
}

/// A file source (the CIVAM connector, its inbox granted) and a source whose
/// plugin is missing: both fail in ways whose messages name the hub's files.
fn file_and_missing_sources() -> String {
    r#"
[[sources]]
id = "civam-lyon"
connector = "civam-diagnostics"
network = "civam"
territory = "lyon"
inbox = true
streams = ["diagnostics"]

[[sources]]
id = "missing-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
plugin = "no/such/plugin.wasm"
allowed_hosts = ["${SIMULATOR}"]
[sources.config]
base_url = "http://${SIMULATOR}/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
[sources.secrets]
api_token = { value = "token-lyon" }
"#
    .to_string()
}

impl Served {
    /// A request with whatever headers and body: (status, headers, body text).
    async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.expect("body"))
    }

    async fn upload(&self, source: &str, token: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        let resp = self
            .client
            .post(format!("{}/sources/{source}/files", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// An error answer: JSON with `{"error": {"code", "message"}}`.
fn assert_json_error(
    what: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> Value {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {status} answered `{content_type}`: {body}"
    );
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert!(body["error"]["code"].is_string(), "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_and_unknown_parameters_are_refused() {
    let mut s = Served::start(
        Setup {
            size: 50,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let bearer = format!("Bearer {admin}");
    let auth = [("authorization", bearer.as_str())];
    let form = [
        ("authorization", bearer.as_str()),
        ("content-type", "multipart/form-data"),
    ];
    let not_a_form = [
        ("authorization", bearer.as_str()),
        ("content-type", "text/plain"),
    ];
    // (what, method, path, headers, body, status, code)
    type Case<'a> = (
        &'a str,
        Method,
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<Vec<u8>>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "an i64 path that overflows",
            Method::GET,
            "/runs/99999999999999999999",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a path that is not a number",
            Method::GET,
            "/runs/abc/log",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a query value that does not parse",
            Method::GET,
            "/runs?limit=many",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a limit out of bounds",
            Method::GET,
            "/runs?limit=501",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a quarantine limit out of bounds",
            Method::GET,
            "/quarantine?limit=10001",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "an unknown status",
            Method::GET,
            "/runs?status=sleeping",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a boolean that is not one",
            Method::POST,
            "/sources/garden-lyon/sync?full_refresh=yes",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a multipart without boundary",
            Method::POST,
            "/sources/cocagne-toulouse/files",
            &form,
            Some(b"x".to_vec()),
            400,
            "bad_request",
        ),
        (
            "a body that is not a form",
            Method::POST,
            "/sources/cocagne-toulouse/files",
            &not_a_form,
            Some(b"x".to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            "a method the route does not take",
            Method::PUT,
            "/sources",
            &auth,
            None,
            405,
            "method_not_allowed",
        ),
        (
            "a method the route does not take, without token",
            Method::DELETE,
            "/runs",
            &[],
            None,
            405,
            "method_not_allowed",
        ),
        (
            "no such route",
            Method::GET,
            "/no/such/route",
            &auth,
            None,
            404,
            "not_found",
        ),
        (
            "the API's root",
            Method::GET,
            "",
            &auth,
            None,
            404,
            "not_found",
        ),
        (
            "no token",
            Method::GET,
            "/sources",
            &[],
            None,
            401,
            "unauthorized",
        ),
        (
            "another scheme",
            Method::GET,
            "/sources",
            &[("authorization", "Basic YTpi")],
            None,
            401,
            "unauthorized",
        ),
        (
            "a misspelt parameter",
            Method::POST,
            "/sources/garden-lyon/sync?fullrefresh=true",
            &auth,
            None,
            400,
            "bad_request",
        ),
        (
            "a parameter where none is taken",
            Method::GET,
            "/health?verbose=1",
            &[],
            None,
            400,
            "bad_request",
        ),
        (
            "a parameter of another route",
            Method::GET,
            "/sources?limit=5",
            &auth,
            None,
            400,
            "bad_request",
        ),
    ];
    for (what, method, path, headers, body, status, code) in cases {
        let (got, got_headers, text) = s.raw(method.clone(), path, headers, body).await;
        assert_eq!(got.as_u16(), status, "{what}: {method} {path}: {text}");
        let body = assert_json_error(what, got, &got_headers, &text);
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        if status == 405 {
            let allow = got_headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(!allow.is_empty(), "{what}: 405 without `Allow`");
        }
    }
    // A form with a part besides `file` is refused whole: nothing stored.
    let boundary = [
        ("authorization", bearer.as_str()),
        ("content-type", "multipart/form-data; boundary=B0"),
    ];
    let body =
        b"--B0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx;y\r\n\
                 --B0\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\n1\r\n--B0--\r\n";
    let (status, headers, text) = s
        .raw(
            Method::POST,
            "/sources/cocagne-toulouse/files",
            &boundary,
            Some(body.to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_json_error("a second part", status, &headers, &text);
    let inbox = s._dir.path().join("inbox").join("cocagne-toulouse");
    assert!(vivres::inbox::list(&inbox).unwrap().is_empty());
    // The refusal names the parameter, and the route's own.
    let (_, _, text) = s
        .raw(
            Method::POST,
            "/sources/garden-lyon/sync?fullrefresh=true",
            &auth,
            None,
        )
        .await;
    assert!(
        text.contains("`fullrefresh`") && text.contains("`full_refresh`"),
        "{text}"
    );
    // The misspelt sync started nothing.
    assert!(s.runs_of("garden-lyon").await.is_empty());

    // The scheme of `Authorization` is case-insensitive (RFC 9110).
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} {admin}");
        let (status, _, text) = s
            .raw(
                Method::GET,
                "/sources",
                &[("authorization", value.as_str())],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {text}");
    }

    // The document declares the bounds the handlers enforce, and on every
    // operation the statuses any route can give.
    let doc = s.get("/openapi.json", &admin).await;
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
    };
    let runs_limit = param("/api/v1/runs", "limit");
    assert_eq!(runs_limit["schema"]["minimum"], 1, "{runs_limit}");
    assert_eq!(runs_limit["schema"]["maximum"], 500, "{runs_limit}");
    let quarantine_limit = param("/api/v1/quarantine", "limit");
    assert_eq!(quarantine_limit["schema"]["minimum"], 1);
    assert_eq!(quarantine_limit["schema"]["maximum"], 10000);
    let status = param("/api/v1/runs", "status").to_string();
    for s in ["running", "succeeded", "failed", "interrupted"] {
        assert!(status.contains(s), "{status}");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for code in ["400", "500"] {
                assert!(
                    responses.contains_key(code),
                    "{method} {path} does not declare {code}"
                );
            }
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} does not declare 401"
                );
            }
        }
    }
    s.shutdown().await;
}

/// Syncs `source` over HTTP as `token` and waits until its run has ended.
async fn sync_over_http(s: &Served, source: &str, token: &str) -> Value {
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/sources/{source}/sync"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    s.wait_run(body["run_id"].as_i64().unwrap(), token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluators_see_runs_status_and_counts_and_no_answer_shows_a_path_of_the_hub() {
    let mut s = Served::start(
        Setup {
            size: 50,
            extra_sources: extra_sources(None) + &file_and_missing_sources(),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let lyon = s.token("coord-lyon", coordinator(&["lyon"])).await;
    let toulouse = s.token("coord-toulouse", coordinator(&["toulouse"])).await;
    let evaluator = s.token("evaluator", Role::Evaluator).await;
    // Runs whose messages are about the hub's files: an empty inbox, a
    // plugin that is not there, a file that is not an export; and one that
    // succeeds.
    let empty = sync_over_http(&s, "civam-lyon", &lyon).await;
    let missing = sync_over_http(&s, "missing-lyon", &lyon).await;
    assert_eq!(missing["status"], "failed", "{missing}");
    let (status, _) = s
        .upload(
            "civam-lyon",
            &lyon,
            "idea4_broken.json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(status, 201);
    let broken = sync_over_http(&s, "civam-lyon", &lyon).await;
    let good = sync_over_http(&s, "garden-lyon", &lyon).await;
    assert_eq!(good["status"], "succeeded", "{good}");

    // The hub's own directories, as its machine spells them.
    let data_dir = s._dir.path().to_path_buf();
    let mut hub_paths = vec![
        data_dir.display().to_string(),
        plugins_dir().display().to_string(),
    ];
    if let Ok(c) = std::fs::canonicalize(&data_dir) {
        hub_paths.push(c.display().to_string());
    }
    hub_paths.push(std::env::current_dir().unwrap().display().to_string());
    // What the warehouse holds does name them: the API must not pass it on.
    let mut stored = String::new();
    for run in [&empty, &missing, &broken] {
        let id = run["id"].as_i64().unwrap();
        stored.push_str(&format!(
            "{:?}",
            s.hub.warehouse.run(id).await.unwrap().error
        ));
        stored.push_str(&format!(
            "{:?}",
            s.hub.warehouse.run_logs(id).await.unwrap()
        ));
    }
    // An empty inbox no longer fails on the inbox's path: the run reads
    // nothing and says no file was received yet (issue 8, item 7), so the
    // warehouse may hold no path at all; whatever it holds, the API must
    // not pass a path on (`HubPaths::scrub` is unit-tested on its own).
    assert_eq!(empty["status"], "succeeded", "{empty}");
    let _ = &stored;

    // Evaluators: status and counts, never an error message.
    let page = s.get("/runs", &evaluator).await;
    assert!(page["runs"].as_array().unwrap().len() >= 4, "{page}");
    for run in page["runs"].as_array().unwrap() {
        assert!(
            run["status"].is_string() && run["counts"]["read"].is_u64(),
            "{run}"
        );
        assert!(
            run["error"].is_null() && run["error_kind"].is_null(),
            "{run}"
        );
    }
    let failed = s.get(&format!("/runs/{}", missing["id"]), &evaluator).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].is_null() && failed["error_kind"].is_null(),
        "{failed}"
    );
    // Admins and coordinators still read what went wrong.
    let failed = s.get(&format!("/runs/{}", missing["id"]), &lyon).await;
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed}"
    );

    // Every GET route of the document, as every role: no answer (body or
    // header) names a directory of the hub's machine.
    let doc = s.get("/openapi.json", &admin).await;
    let sources: Vec<String> = s.hub.config.sources.iter().map(|s| s.id.clone()).collect();
    let runs: Vec<String> = s
        .hub
        .warehouse
        .runs(None, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        let path = path.trim_start_matches("/api/v1");
        let concrete: Vec<String> = if path.starts_with("/sources/{id}") {
            sources.iter().map(|id| path.replace("{id}", id)).collect()
        } else if path.starts_with("/runs/{id}") {
            runs.iter().map(|id| path.replace("{id}", id)).collect()
        } else if path == "/data/{entity}" {
            vec![
                "/data/distributions?format=jsonl".to_string(),
                "/data/diagnostics?format=csv".to_string(),
            ]
        } else {
            vec![path.to_string()]
        };
        for url in concrete {
            for (role, token) in [
                ("admin", &admin),
                ("coord-lyon", &lyon),
                ("coord-toulouse", &toulouse),
                ("evaluator", &evaluator),
            ] {
                let bearer = format!("Bearer {token}");
                let (status, headers, body) = s
                    .raw(
                        Method::GET,
                        &url,
                        &[("authorization", bearer.as_str())],
                        None,
                    )
                    .await;
                assert!(
                    status.as_u16() < 500,
                    "GET {url} as {role}: {status} {body}"
                );
                let mut answer = body;
                for (k, v) in &headers {
                    answer.push_str(&format!("\n{k}: {}", String::from_utf8_lossy(v.as_bytes())));
                }
                for p in &hub_paths {
                    assert!(
                        !answer.contains(p.as_str()),
                        "GET {url} as {role} shows `{p}`:\n{answer}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} answers checked");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_uploads_at_once_store_one_file_and_an_announced_oversize_is_refused_unread() {
    let mut s = Served::start(
        Setup {
            size: 50,
            extra_sources: extra_sources(None) + &file_and_missing_sources(),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let lyon = s.token("coord-lyon", coordinator(&["lyon"])).await;
    let content = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins/civam-diagnostics/data/idea4_200417.json"),
    )
    .unwrap();
    // Ten clients send the same new content at once: one stores it.
    let uploads =
        (0..10).map(|_| s.upload("civam-lyon", &lyon, "idea4_200417.json", content.clone()));
    let answers = futures::future::join_all(uploads).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let already = answers
        .iter()
        .filter(|(status, body)| *status == 200 && body["duplicate"] == true)
        .count();
    assert_eq!((created, already), (1, 9), "{answers:?}");
    let ids: BTreeSet<&str> = answers
        .iter()
        .filter_map(|(_, b)| b["file"]["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");

    // The inbox, as the API lists it.
    let files = s.get("/sources/civam-lyon/files", &lyon).await;
    let files = files.as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let f = &files[0];
    assert_eq!(f["name"], "idea4_200417.json");
    assert_eq!(f["size"], content.len() as u64);
    use sha2::Digest as _;
    assert_eq!(f["sha256"], hex::encode(sha2::Sha256::digest(&content)));
    assert!(
        time::OffsetDateTime::parse(
            f["received"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "{f}"
    );
    assert!(f["read_by_run"].is_null(), "{f}");
    let run = sync_over_http(&s, "civam-lyon", &lyon).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let files = s.get("/sources/civam-lyon/files", &lyon).await;
    assert_eq!(files[0]["read_by_run"], run["id"], "{files}");
    // Who may see it, and a source without inbox.
    let toulouse = s.token("coord-toulouse", coordinator(&["toulouse"])).await;
    let evaluator = s.token("evaluator", Role::Evaluator).await;
    for (token, path, expected) in [
        (&toulouse, "/sources/civam-lyon/files", 403),
        (&evaluator, "/sources/civam-lyon/files", 403),
        (&lyon, "/sources/garden-lyon/files", 404),
        (&lyon, "/sources/nope/files", 404),
    ] {
        let (status, body) = s.call(Method::GET, path, Some(token)).await;
        assert_eq!(status.as_u16(), expected, "{path}: {body}");
    }

    // A body announced above the limit is refused before it is read: the
    // answer comes while the client has sent none of it.
    let addr = s
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/sources/civam-lyon/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {lyon}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000000\r\n\r\n"
    );
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer while the body was not sent: the hub waits for it"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        s.get("/sources/civam-lyon/files", &lyon)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.shutdown().await;
}

/// A partner that answers 404, one that refuses connections, one that times
/// out and one that fails with 500: each counted for its source.
fn failing_partners() -> String {
    let source = |id: &str, host: &str, garden: &str| {
        format!(
            r#"
[[sources]]
id = "{id}"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
streams = ["subscriptions"]
allowed_hosts = ["{host}"]
[sources.config]
base_url = "http://{host}/{garden}"
token_secret = "api_token"
garden = "jardin-lyon"
[sources.secrets]
api_token = {{ value = "token-lyon" }}
"#
        )
    };
    [
        source("notfound-lyon", "${SIMULATOR}", "nowhere"),
        source("refused-lyon", "127.0.0.1:1", "lyon"),
        source("slow-lyon", "${SIMULATOR}", "lyon"),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_errors_and_unmatched_routes_are_counted_and_every_metric_is_documented() {
    let mut s = Served::start(
        Setup {
            size: 50,
            http_max_retries: 0,
            extra_sources: failing_partners(),
            extra_limits: "http_timeout_seconds = 1".to_string(),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let sync = |id: &'static str| {
        let hub = s.hub.clone();
        async move {
            vivres::sync::sync_source(&hub, id, &Default::default())
                .await
                .expect("sync runs")
        }
    };
    for id in ["notfound-lyon", "refused-lyon"] {
        let run = sync(id).await;
        assert_eq!(
            run.status,
            vivres::warehouse::RunStatus::Failed,
            "{id}: {run:?}"
        );
    }
    s.sim.set_fault(None, Fault::Slow { delay_ms: 3_000 });
    let run = sync("slow-lyon").await;
    assert_eq!(run.status, vivres::warehouse::RunStatus::Failed, "{run:?}");
    s.sim.set_fault(None, Fault::ServerError { times: None });
    let run = sync("cocagne-lyon").await;
    assert_eq!(run.status, vivres::warehouse::RunStatus::Failed, "{run:?}");
    s.sim.set_fault(None, Fault::None);
    for path in ["/no/such/route", "/no/such/route", "/runs/1/nope"] {
        let (status, _) = s.call(Method::GET, path, Some(&admin)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let metrics = s
        .client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "vivres_partner_http_responses_total{source=\"notfound-lyon\",status=\"404\"} ",
        "vivres_partner_http_failures_total{source=\"refused-lyon\",reason=\"connect\"} ",
        "vivres_partner_http_failures_total{source=\"slow-lyon\",reason=\"timeout\"} ",
        "vivres_partner_http_responses_total{source=\"cocagne-lyon\",status=\"500\"} ",
        "vivres_api_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"} 3",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing in\n{metrics}"
        );
    }
    // Every family has its HELP and TYPE, and docs/api.md describes it.
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"),
    )
    .unwrap();
    let mut helped = BTreeSet::new();
    let mut typed = BTreeMap::new();
    for line in metrics.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("#"), Some("HELP"), Some(name)) => {
                helped.insert(name.to_string());
            }
            (Some("#"), Some("TYPE"), Some(name)) => {
                typed.insert(name.to_string(), words.next().unwrap_or("").to_string());
            }
            _ => {}
        }
    }
    assert!(typed.len() >= 8, "{typed:?}");
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = typed
            .keys()
            .find(|f| {
                name == f.as_str()
                    || (typed[*f] == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name == format!("{f}{s}")))
            })
            .unwrap_or_else(|| panic!("`{name}` has no TYPE"));
        assert!(helped.contains(family), "{family} has no HELP");
    }
    for family in typed.keys() {
        assert!(
            docs.contains(&format!("`{family}")),
            "docs/api.md does not describe {family}"
        );
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_over_http_keep_coordinators_to_their_territories() {
    let s = Served::start(
        Setup {
            size: 300,
            extra_sources: extra_sources(None),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let lyon = s.token("coord-lyon", coordinator(&["lyon"])).await;
    let evaluator = s.token("evaluator", Role::Evaluator).await;
    let (status, body) = s
        .call(Method::POST, "/sources/garden-lyon/sync", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = s.wait_run(body["run_id"].as_i64().unwrap(), &admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (status, all) = s
        .call(
            Method::GET,
            "/indicators?indicator=households_reached",
            Some(&evaluator),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let cells = all.as_array().unwrap();
    let territories: std::collections::BTreeSet<&str> = cells
        .iter()
        .map(|c| c["territory"].as_str().unwrap())
        .collect();
    assert_eq!(territories.into_iter().collect::<Vec<_>>(), ["lyon"]);
    for c in cells {
        // A suppressed cell carries neither value nor n; a shown one both,
        // and at least the minimum.
        if c["suppressed"].as_bool().unwrap() {
            assert!(c["value"].is_null() && c["n"].is_null(), "{c}");
        } else {
            assert!(c["n"].as_i64().unwrap() >= 11, "{c}");
        }
        assert_eq!(
            c["period"].as_str().unwrap().len(),
            4,
            "years by default: {c}"
        );
    }
    let (status, mine) = s
        .call(
            Method::GET,
            "/indicators?indicator=households_reached",
            Some(&lyon),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert!(!mine.as_array().unwrap().is_empty());
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|c| c["territory"] == "lyon"),
        "{mine}"
    );
    let (status, body) = s
        .call(Method::GET, "/indicators?territory=toulouse", Some(&lyon))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = s
        .call(Method::GET, "/indicators?period=2024-13", Some(&evaluator))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A filter that names nothing the hub knows: 404, like an unknown source.
    for filter in ["indicator=", "indicator=no_such_one", "territory=atlantis"] {
        let (status, body) = s
            .call(
                Method::GET,
                &format!("/indicators?{filter}"),
                Some(&evaluator),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{filter}: {body}");
    }
}

/// Issue 8, item 6 over HTTP: `GET /quarantine` lists open entries by
/// default, closed ones (with why, when and by which run) on request; a
/// Cocagne entry names the partner's record id (the connector declares its
/// keys non-personal), a Secours Catholique one never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_over_http_shows_open_entries_and_closed_ones_on_request() {
    use crate::files::{
        SC_BAD_DATE, SC_BAD_POSTCODE, SC_FIXED_DATE, SC_GOOD, SC_NAME, add_bytes, secours_csv,
    };
    let s = Served::start(
        Setup {
            size: 1_000,
            extra_sources: r#"
[[sources]]
id = "secours-lyon"
connector = "secours-catholique-aid"
network = "secours-catholique"
territory = "lyon"
inbox = true
"#
            .into(),
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let admin = s.token("admin", Role::Admin).await;
    let sync = |source: &'static str| {
        let hub = s.hub.clone();
        async move {
            let r = vivres::sync::sync_source(&hub, source, &Default::default())
                .await
                .expect("sync");
            assert_eq!(r.status, vivres::warehouse::RunStatus::Succeeded, "{r:?}");
            r
        }
    };

    sync("cocagne-lyon").await;
    let expected = s.sim.expected("lyon");
    let body = s.get("/quarantine?source=cocagne-lyon", &admin).await;
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), expected.quarantined_ids.len(), "{body}");
    for e in entries {
        let id = e["partner_key"].as_str().expect("a partner id");
        assert_eq!(
            expected.quarantined_ids.get(id).map(String::as_str),
            e["reason"].as_str(),
            "{e}"
        );
        assert_eq!(
            (&e["status"], &e["closed_at"]),
            (&Value::from("open"), &Value::Null)
        );
    }

    let inbox = s._dir.path().join("inbox").join("secours-lyon");
    add_bytes(
        &inbox,
        SC_NAME,
        &secours_csv(&[SC_GOOD, SC_BAD_DATE, SC_BAD_POSTCODE]),
    );
    sync("secours-lyon").await;
    add_bytes(
        &inbox,
        SC_NAME,
        &secours_csv(&[SC_GOOD, SC_FIXED_DATE, SC_BAD_POSTCODE]),
    );
    let second = sync("secours-lyon").await;
    let open = s.get("/quarantine?source=secours-lyon", &admin).await;
    let open = open["entries"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (&open[0]["line"], &open[0]["status"]),
        (&Value::from(4), &Value::from("open"))
    );
    assert_eq!(open[0]["partner_key"], Value::Null);
    let closed = s
        .get("/quarantine?source=secours-lyon&status=closed", &admin)
        .await;
    let closed = closed["entries"].as_array().unwrap();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0]["line"], 3);
    assert_eq!(closed[0]["status"], "closed");
    assert_eq!(closed[0]["closed_reason"], "resent");
    assert_eq!(closed[0]["closed_by_run"], second.id);
    assert!(closed[0]["closed_at"].is_string(), "{closed:?}");
    let all = s
        .get("/quarantine?source=secours-lyon&status=all", &admin)
        .await;
    assert_eq!(all["entries"].as_array().unwrap().len(), 2);
    let (status, body) = s
        .call(Method::GET, "/quarantine?status=shut", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Issue 8, item 7 over HTTP: a run says what started it and which token
/// holder asked for it (the token's name); evaluators still see only its
/// status and counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_names_what_started_it_and_which_token_asked() {
    let s = Served::start(
        Setup {
            size: 200,
            ..Setup::default()
        },
        fast_settings(),
    )
    .await;
    let coordinator = s.token("coord-lyon", coordinator(&["lyon"])).await;
    let evaluator = s.token("eval", Role::Evaluator).await;
    let (status, body) = s
        .call(
            Method::POST,
            "/sources/cocagne-lyon/sync",
            Some(&coordinator),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["run_id"].as_i64().unwrap();
    let run = s.wait_run(id, &coordinator).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (&run["trigger"], &run["token_name"]),
        (&Value::from("manual"), &Value::from("coord-lyon"))
    );
    let seen = s.get(&format!("/runs/{id}"), &evaluator).await;
    assert_eq!(
        (&seen["trigger"], &seen["token_name"]),
        (&Value::Null, &Value::Null),
        "{seen}"
    );
    assert!(!seen.to_string().contains("coord-lyon"), "{seen}");

    let (status, body) = s
        .call(
            Method::POST,
            "/sources/cocagne-lyon/quarantine/replay",
            Some(&coordinator),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let replay = s
        .wait_run(body["run_id"].as_i64().unwrap(), &coordinator)
        .await;
    assert_eq!(
        (&replay["trigger"], &replay["token_name"]),
        (&Value::from("replay"), &Value::from("coord-lyon"))
    );
}
