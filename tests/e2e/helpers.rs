//! Spawns what a test needs: a partner simulator on 127.0.0.1:0, a fresh data
//! dir with a config naming it, and a hub in-process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use partner_sim::{RunningSim, SimConfig};
use vivres::Hub;
use vivres::config::Config;
use vivres::sync::{SyncOptions, sync_source};
use vivres::warehouse::RunReport;

pub const KEY: &str = "e2e-test-pseudonym-key-0123456789abcdef";

pub fn plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release");
    assert!(
        dir.join("cocagne_gardens.wasm").exists() && dir.join("misbehave.wasm").exists(),
        "plugins are not built: run `cargo xtask build-plugins` (or `cargo xtask test`) first"
    );
    dir
}

pub struct TestHub {
    /// The test's database (SQLite in `dir`, or a PostgreSQL database
    /// `VIVRES_TEST_DATABASE_URL` names); dropped after the hub.
    pub db: vivres::warehouse::testing::Guard,
    pub dir: tempfile::TempDir,
    pub sim: RunningSim,
    pub hub: Hub,
    pub config_path: PathBuf,
    pub vars: BTreeMap<String, String>,
}

pub struct Setup {
    pub size: usize,
    pub ties: usize,
    pub page_size: usize,
    pub http_max_retries: u32,
    pub plugin_call_seconds: u32,
    pub plugin_memory_mib: u32,
    /// Extra `[[sources]]` TOML appended to the config.
    pub extra_sources: String,
    /// The warehouse (default: `<data_dir>/vivres.sqlite`).
    pub database_url: Option<String>,
    /// Extra `[limits]` TOML lines.
    pub extra_limits: String,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            size: 1_000,
            ties: 7,
            page_size: 500,
            http_max_retries: 2,
            plugin_call_seconds: 30,
            plugin_memory_mib: 256,
            extra_sources: String::new(),
            database_url: None,
            extra_limits: String::new(),
        }
    }
}

pub fn config_text(dir: &Path, setup: &Setup) -> String {
    format!(
        r#"
[hub]
data_dir = "{dir}"
plugins_dir = "{plugins}"
indicators_dir = "{indicators}"
{database}

[privacy]
pseudonym_key = {{ env = "E2E_KEY" }}

[limits]
http_max_retries = {retries}
plugin_call_seconds = {secs}
plugin_memory_mib = {mem}
{limits}

[[territories]]
id = "lyon"
name = "Métropole de Lyon"
epci = ["200046977"]

[[sources]]
id = "cocagne-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["${{SIMULATOR}}"]
[sources.config]
base_url = "http://${{SIMULATOR}}/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
page_size = {page}
[sources.secrets]
api_token = {{ value = "token-lyon" }}
{extra}
"#,
        dir = dir.display(),
        plugins = plugins_dir().display(),
        indicators = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config/indicators")
            .display(),
        retries = setup.http_max_retries,
        secs = setup.plugin_call_seconds,
        mem = setup.plugin_memory_mib,
        page = setup.page_size,
        extra = setup.extra_sources,
        limits = setup.extra_limits,
        database = setup
            .database_url
            .as_ref()
            .map(|u| format!("database_url = \"{u}\""))
            .unwrap_or_default(),
    )
}

impl TestHub {
    pub async fn start(mut setup: Setup) -> TestHub {
        let mut sim_config = SimConfig::demo(11, setup.size);
        sim_config.gardens.truncate(1);
        sim_config.ties = setup.ties;
        let sim = partner_sim::start(sim_config)
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let db = vivres::warehouse::testing::Guard::create(dir.path()).await;
        setup.database_url = Some(db.url.clone());
        let config_path = dir.path().join("vivres.toml");
        std::fs::write(&config_path, config_text(dir.path(), &setup)).expect("config written");
        let mut vars = BTreeMap::new();
        vars.insert("SIMULATOR".to_string(), sim.addr().to_string());
        vars.insert("E2E_KEY".to_string(), KEY.to_string());
        let config = Config::load_with(&config_path, &vars).expect("config loads");
        let hub = Hub::start(config, vars.clone()).await.expect("hub starts");
        TestHub {
            db,
            dir,
            sim,
            hub,
            config_path,
            vars,
        }
    }

    pub async fn sync(&self, source: &str) -> RunReport {
        sync_source(&self.hub, source, &SyncOptions::default())
            .await
            .expect("sync runs")
    }

    pub async fn count(&self, table: &str) -> i64 {
        count(&self.hub, table).await
    }
}

pub async fn count(hub: &Hub, table: &str) -> i64 {
    scalar(hub, &format!("SELECT count(*) FROM {table}"))
        .await
        .unwrap_or(0)
}

/// The first cell of a query, as an integer.
pub async fn scalar(hub: &Hub, sql: &str) -> Option<i64> {
    hub.warehouse
        .inspect(sql)
        .await
        .expect("query")
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .and_then(|c| c.parse().ok())
}

/// Rows of two columns: text and integer.
pub async fn pairs(hub: &Hub, sql: &str) -> Vec<(String, i64)> {
    hub.warehouse
        .inspect(sql)
        .await
        .expect("query")
        .into_iter()
        .map(|r| {
            (
                r.first().cloned().flatten().unwrap_or_default(),
                r.get(1)
                    .cloned()
                    .flatten()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
            )
        })
        .collect()
}

/// Every fact row of a table, without the columns that differ between runs.
pub async fn content(hub: &Hub, table: &str) -> Vec<(String, i64)> {
    pairs(
        hub,
        &format!("SELECT key, row_hash FROM {table} ORDER BY key"),
    )
    .await
}

pub fn stored(total: usize, quarantined: &BTreeMap<String, usize>) -> i64 {
    (total - quarantined.values().sum::<usize>()) as i64
}
