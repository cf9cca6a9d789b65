//! The crash campaign, bounded for CI: `vivres bench crash` SIGKILLs a sync
//! at 20 random moments, resumes each time, then compares the warehouse row
//! by row with a clean sync (`--kills 100` by hand: see the README's
//! reliability section). On the backend `VIVRES_TEST_DATABASE_URL` names.

use vivres::warehouse::testing::VAR;

#[test]
fn twenty_kills_lose_nothing_and_duplicate_nothing() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"));
    cmd.args([
        "bench",
        "crash",
        "--kills",
        "20",
        "--records",
        "3000",
        "--seed",
        "20261201",
    ]);
    if let Ok(url) = std::env::var(VAR)
        && url.starts_with("postgres")
    {
        cmd.args(["--database", &url]);
    }
    let out = cmd.output().expect("vivres runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the campaign failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("result          0 lost, 0 duplicated (20 kills landed"),
        "{stdout}"
    );
    // Every fact table the source fills was compared, and was not empty.
    for table in ["households", "distributions"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(table))
            .unwrap_or_else(|| panic!("no line for {table}:\n{stdout}"));
        assert!(
            line.contains("lost 0, duplicated 0, extra 0, stale 0"),
            "{line}"
        );
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(mib: u32) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!(
            "vivres-full-disk-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill its disk: it needs root (CI runs as root)"
        );
        Tmpfs(dir)
    }

    fn resize(&self, mib: u32) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `vivres sync bench --json` with `config`: the run report, if one was
/// printed, and the terminal's error output.
fn sync(config: &std::path::Path, key: &str) -> (Option<serde_json::Value>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(config)
        .args(["sync", "bench", "--json"])
        .env("VIVRES_PSEUDONYM_KEY", key)
        .output()
        .expect("vivres runs");
    (
        serde_json::from_slice(&out.stdout).ok(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vivres sync bench --json` with `config`: the run report.
fn sync_json(config: &std::path::Path, key: &str) -> serde_json::Value {
    let (report, stderr) = sync(config, key);
    report.unwrap_or_else(|| panic!("no JSON report:\n{stderr}"))
}

fn write_config(dir: &std::path::Path, addr: &str, key: &str) -> std::path::PathBuf {
    let plugins = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/target/wasm32-wasip2/release"
    );
    let toml = format!(
        r#"
[hub]
data_dir = "{dir}"
database_url = "sqlite://{dir}/vivres.sqlite"
plugins_dir = "{plugins}"
[[territories]]
id = "lyon"
name = "Métropole de Lyon"
epci = ["200046977"]
[[sources]]
id = "bench"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["{addr}"]
[sources.config]
base_url = "http://{addr}/lyon"
token_secret = "api_token"
garden = "bench"
page_size = 500
[sources.secrets]
api_token = {{ value = "token-lyon" }}
"#,
        dir = dir.display()
    );
    let path = dir.join("vivres.toml");
    std::fs::write(&path, toml).expect("config written");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&path)
        .arg("migrate")
        .env("VIVRES_PSEUDONYM_KEY", key)
        .status()
        .expect("vivres runs");
    assert!(status.success());
    path
}

/// A full disk fails the run with a plain message, corrupts nothing, and the
/// next run (space freed) resumes to the same tables as a clean sync. The
/// disk that fills is the SQLite file's: on PostgreSQL it is the server's,
/// out of a test's reach, so this test runs on SQLite whatever the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_run_cleanly_and_corrupts_nothing() {
    let mut config = partner_sim::SimConfig::demo(7, 20_000);
    config.gardens.truncate(1);
    let sim = partner_sim::start(config).await.expect("simulator");
    let addr = sim.addr().to_string();
    let key = vivres::privacy::Pseudonymiser::generate_key()
        .expose()
        .to_string();

    let disk = Tmpfs::mount(10);
    let config = write_config(&disk.0, &addr, &key);
    // The run fails and says why: in its report when the hub could still
    // record the failure, else on the terminal (the next run then closes it
    // as interrupted).
    let (report, stderr) = tokio::task::spawn_blocking({
        let (config, key) = (config.clone(), key.clone());
        move || sync(&config, &key)
    })
    .await
    .unwrap();
    let error = match &report {
        Some(failed) => {
            assert_eq!(failed["status"], "failed", "{failed:#}");
            failed["error"].as_str().unwrap_or_default().to_string()
        }
        None => stderr,
    };
    assert!(
        error.contains("the warehouse's disk is full") && error.contains("free space"),
        "{error}"
    );

    let url = format!("sqlite://{}/vivres.sqlite", disk.0.display());
    let w = vivres::warehouse::Warehouse::open(&url).await.unwrap();
    let integrity = w.inspect("PRAGMA integrity_check").await.unwrap();
    assert_eq!(integrity, vec![vec![Some("ok".to_string())]]);
    if report.is_some() {
        let runs = w.runs(Some("bench"), 10).await.unwrap();
        assert_eq!(runs[0].status, vivres::warehouse::RunStatus::Failed);
    }
    w.close().await;

    // Space freed: the next run resumes and completes.
    disk.resize(128);
    let resumed = tokio::task::spawn_blocking({
        let (config, key) = (config.clone(), key.clone());
        move || sync_json(&config, &key)
    })
    .await
    .unwrap();
    assert_eq!(resumed["status"], "succeeded", "{resumed:#}");

    // A clean sync of the same data elsewhere: the same rows.
    let clean_dir = std::env::temp_dir().join(format!(
        "vivres-full-disk-clean-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&clean_dir).unwrap();
    let clean_config = write_config(&clean_dir, &addr, &key);
    let clean = tokio::task::spawn_blocking({
        let key = key.clone();
        move || sync_json(&clean_config, &key)
    })
    .await
    .unwrap();
    assert_eq!(clean["status"], "succeeded", "{clean:#}");
    let a = vivres::warehouse::Warehouse::open(&url).await.unwrap();
    let b = vivres::warehouse::Warehouse::open(&format!(
        "sqlite://{}/vivres.sqlite",
        clean_dir.display()
    ))
    .await
    .unwrap();
    for table in vivres::warehouse::schema::TABLES
        .iter()
        .filter(|t| t.role == vivres::warehouse::schema::Role::Fact)
    {
        assert_eq!(
            a.fingerprint(table).await.unwrap(),
            b.fingerprint(table).await.unwrap(),
            "{}",
            table.name
        );
    }
    a.close().await;
    b.close().await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&clean_dir);
}
