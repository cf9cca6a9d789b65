//! Hostile plugins against the sandbox: a planted compiled artifact, a
//! plugin asleep at shutdown, a huge string, a secret split across log
//! pieces, a log flood hiding the hub's own warnings. Each test asserts a
//! clear, specific error and that the hub serves the next run.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vivres::Hub;
use vivres::config::Config;
use vivres::plugin_host::{Grants, HostSettings, LogSink, PluginHost};
use vivres::sync::{SyncOptions, sync_source};
use vivres::warehouse::RunStatus;

use crate::helpers::*;

/// A hub like `TestHub::start`'s, with extra `[limits]` keys.
async fn start(limits: &str, extra_sources: String) -> TestHub {
    start_with(
        Setup {
            size: 200,
            extra_sources,
            ..Setup::default()
        },
        limits,
    )
    .await
}

async fn start_with(setup: Setup, limits: &str) -> TestHub {
    TestHub::start(Setup {
        extra_limits: limits.to_string(),
        ..setup
    })
    .await
}

/// A source running the `misbehave` guest; `config` is TOML for
/// `[sources.config]`, `more` is appended after it (secrets…).
fn misbehave(id: &str, config: &str, more: &str) -> String {
    format!(
        r#"
[[sources]]
id = "{id}"
connector = "misbehave"
plugin = "{plugin}"
network = "cocagne"
territory = "lyon"
streams = ["events"]
allowed_hosts = ["${{SIMULATOR}}"]
[sources.config]
{config}
{more}
"#,
        plugin = plugins_dir().join("misbehave.wasm").display()
    )
}

async fn assert_next_run_succeeds(t: &TestHub) {
    let ok = t.sync("cocagne-lyon").await;
    assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error);
}

fn cwasm_of(cache: &Path, sha256: &str) -> PathBuf {
    std::fs::read_dir(cache)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(sha256) && name.ends_with(".cwasm")
        })
        .expect("a compiled artifact in the cache")
}

async fn spec_name(host: &PluginHost, plugin: &vivres::plugin_host::Plugin) -> String {
    let sink: LogSink = Arc::new(|_| {});
    let mut instance = host
        .instantiate(plugin, Grants::none("cache-test", sink))
        .await
        .expect("instantiates");
    instance.spec().await.expect("spec").name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_or_altered_compiled_plugin_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("data").join("cache");
    let misbehave = plugins_dir().join("misbehave.wasm");
    let other = plugins_dir().join("cocagne_gardens.wasm");
    let host = PluginHost::new(HostSettings::new(&cache)).unwrap();
    let target = host.load(&misbehave).await.unwrap();
    assert!(!target.from_cache());
    let donor = host.load(&other).await.unwrap();
    drop(host);
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // A restart: both come authenticated from the cache.
    let host = PluginHost::new(HostSettings::new(&cache)).unwrap();
    assert!(host.load(&misbehave).await.unwrap().from_cache());
    let target_file = cwasm_of(&cache, target.sha256());
    let donor_file = cwasm_of(&cache, donor.sha256());
    let donor_bytes = std::fs::read(&donor_file).unwrap();

    // Native code that would run if loaded, planted three ways: another
    // plugin's authentic artifact renamed, an artifact with one byte changed,
    // and a bare wasmtime artifact as an older hub wrote it (no tag).
    let mut altered = std::fs::read(&target_file).unwrap();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    for (what, planted) in [
        ("renamed", donor_bytes.clone()),
        ("altered", altered),
        ("untagged", donor_bytes[32..].to_vec()),
    ] {
        std::fs::write(&target_file, &planted).unwrap();
        // A restart: a host that has not loaded the plugin yet reads the cache.
        let host = PluginHost::new(HostSettings::new(&cache)).unwrap();
        let loaded = host.load(&misbehave).await.unwrap();
        assert!(
            !loaded.from_cache(),
            "{what}: the planted artifact was loaded"
        );
        assert_eq!(spec_name(&host, &loaded).await, "misbehave", "{what}");
        // Recompiled and rewritten: the next start loads it from the cache.
        let host = PluginHost::new(HostSettings::new(&cache)).unwrap();
        assert!(host.load(&misbehave).await.unwrap().from_cache(), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_directory_others_can_write_or_another_user_owns_is_refused() {
    let t = start("", String::new()).await;
    let cache = t.hub.config.cache_dir();
    let connector_spec = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
            .arg("--config")
            .arg(&t.config_path)
            .args(["connector", "spec"])
            .arg(plugins_dir().join("misbehave.wasm"))
            .envs(&t.vars)
            .output()
            .expect("vivres runs")
    };
    assert!(connector_spec().status.success());

    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = connector_spec();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing the plugin cache") && err.contains("chmod 700"),
        "{err}"
    );
    let config = Config::load_with(&t.config_path, &t.vars).unwrap();
    let refused = Hub::start(config.clone(), t.vars.clone())
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("mode is 0777"), "{refused}");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();

    // Another owner (the test runs as root in CI; elsewhere chown is refused).
    let path = std::ffi::CString::new(cache.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; chown has no other precondition.
    if unsafe { libc::chown(path.as_ptr(), 65534, 65534) } == 0 {
        let out = connector_spec();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("owned by uid 65534"),
            "{err}"
        );
        // SAFETY: as above.
        let uid = unsafe { libc::geteuid() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::chown(path.as_ptr(), uid, uid) }, 0);
    }
    assert!(connector_spec().status.success());
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_commands_use_the_hub_cache_limits_and_budget() {
    let t = start(
        "max_string_kib = 64\nhttp_request_budget = 2",
        String::new(),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let connector = |args: &[&str], config: &str| {
        let config_file = tmp.path().join("c.json");
        std::fs::write(&config_file, config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
            .arg("--config")
            .arg(&t.config_path)
            .arg("connector")
            .args(args)
            .arg(plugins_dir().join("misbehave.wasm"))
            .arg("--config")
            .arg(&config_file)
            .args(["--allow-host", &t.vars["SIMULATOR"]])
            .envs(&t.vars)
            .env("TMPDIR", tmp.path())
            .output()
            .expect("vivres runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = connector(&["read", "--stream", "events"], r#"{"mode": "ok"}"#);
    assert!(ok, "{err}");
    assert!(
        std::fs::read_dir(t.hub.config.cache_dir())
            .unwrap()
            .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "cwasm")),
        "compiled into the hub's own cache"
    );
    assert!(!tmp.path().join("vivres-plugin-cache").exists());

    let (ok, err) = connector(
        &["read", "--stream", "events"],
        r#"{"mode": "huge-string", "bytes": 100000}"#,
    );
    assert!(!ok);
    assert!(
        err.contains("string of 100000 bytes in `items[0].entity.Participation.kind`")
            && err.contains("over the limit of 64 KiB (limits.max_string_kib)"),
        "{err}"
    );

    let url = format!("http://{}/lyon/ping", t.vars["SIMULATOR"]);
    let (_, err) = connector(
        &["read", "--stream", "events"],
        &format!(r#"{{"mode": "flood", "lines": 1, "urls": ["{url}", "{url}", "{url}"]}}"#),
    );
    assert!(err.contains("http request budget of 2 spent"), "{err}");
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_is_not_cpu_a_long_wait_hits_the_wall_clock_and_a_cancel_stops_it() {
    let mut extra = misbehave("nap", "mode = \"sleep\"\nseconds = 3", "");
    extra += &misbehave("sleepy", "mode = \"sleep\"", "");
    let t = start_with(
        Setup {
            size: 200,
            plugin_call_seconds: 1,
            extra_sources: extra,
            ..Setup::default()
        },
        "plugin_call_wall_seconds = 5",
    )
    .await;

    // Three seconds asleep with a one-second CPU deadline: waiting is not CPU.
    let nap = t.sync("nap").await;
    assert_eq!(nap.status, RunStatus::Succeeded, "{:?}", nap.error);

    let started = Instant::now();
    let sleepy = t.sync("sleepy").await;
    assert_eq!(sleepy.status, RunStatus::Failed);
    let e = sleepy.error.clone().unwrap_or_default();
    assert!(
        e.contains("wall-clock timeout of 5 s") && !e.contains("CPU"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // A cancelled token stops the call in flight: the run is interrupted.
    let cancel = tokio_util::sync::CancellationToken::new();
    let options = SyncOptions {
        cancel: Some(cancel.clone()),
        ..SyncOptions::default()
    };
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let interrupted = sync_source(&t.hub, "sleepy", &options).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        interrupted.status,
        RunStatus::Interrupted,
        "{interrupted:?}"
    );
    assert_eq!(interrupted.error_kind.as_deref(), Some("interrupted"));
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_interrupts_a_plugin_asleep_in_a_call() {
    let t = start(
        "shutdown_grace_seconds = 10",
        misbehave("sleepy", "mode = \"sleep\"", ""),
    )
    .await;
    let vivres = env!("CARGO_BIN_EXE_vivres");
    let token = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&t.config_path)
        .args(["token", "create", "--role", "admin", "--name", "ops"])
        .envs(&t.vars)
        .output()
        .expect("vivres token create");
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listen.local_addr().unwrap();
    drop(listen);
    let mut child = std::process::Command::new(vivres)
        .arg("--config")
        .arg(&t.config_path)
        .args(["serve", "--listen", &addr.to_string()])
        .envs(&t.vars)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vivres serve");
    let client = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        if let Ok(resp) = client
            .post(format!("{base}/sources/sleepy/sync"))
            .bearer_auth(&token)
            .send()
            .await
        {
            let body: serde_json::Value = resp.json().await.unwrap();
            break body["run_id"].as_i64().expect("run id");
        }
        assert!(Instant::now() < deadline, "vivres serve never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Asleep inside `read` once the connector is recorded and a moment passed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while t
        .hub
        .warehouse
        .run(run_id)
        .await
        .unwrap()
        .connector
        .is_none()
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "vivres serve still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    eprintln!("vivres serve exited {:?} after SIGTERM", sent.elapsed());
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    let run = t.hub.warehouse.run(run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Interrupted, "{run:?}");
    assert!(
        run.error.as_deref().unwrap_or("").contains("interrupted"),
        "{run:?}"
    );
    assert_next_run_succeeds(&t).await;
}

/// Peak resident memory of a `vivres sync <source>` child, in MiB.
// The child is reaped by `wait4`, which also gives its peak memory.
#[allow(clippy::zombie_processes)]
async fn sync_peak_mib(t: &TestHub, source: &str) -> i64 {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["sync", source])
        .envs(&t.vars)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vivres sync");
    let pid = child.id() as i32;
    tokio::task::spawn_blocking(move || {
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value to be overwritten.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child, not waited for elsewhere; both out
        // pointers are valid.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(rc, pid);
        // ru_maxrss is in KiB on Linux.
        usage.ru_maxrss / 1024
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_string_is_refused_before_the_hub_copies_it() {
    let mut extra = misbehave("huge", "mode = \"huge-string\"", "");
    extra += &misbehave("huge-kept", "mode = \"huge-string-kept\"", "");
    extra += &misbehave("long", "mode = \"huge-string\"\nbytes = 300000", "");
    let t = start("", extra).await;

    // The same 120 MB string in the plugin's memory, returned or kept; the
    // plugin compiled beforehand, so that neither run pays for compiling.
    sync_peak_mib(&t, "huge-kept").await;
    let kept = sync_peak_mib(&t, "huge-kept").await;
    let huge = sync_peak_mib(&t, "huge").await;
    eprintln!("peak RSS: {kept} MiB with the string kept, {huge} MiB with it returned");
    let runs = t.hub.warehouse.runs(Some("huge"), 1).await.unwrap();
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Failed);
    let e = run.error.as_deref().unwrap_or("");
    assert!(
        e.contains("more than 64 MiB in one call (limits.max_call_mib)"),
        "{e}"
    );
    assert!(
        huge < kept + 48,
        "returning the string cost {} MiB more than keeping it ({huge} vs {kept} MiB)",
        huge - kept
    );
    assert_eq!(t.count("participation").await, 0);

    // Under the copy limit, over the string limit: refused, its field named.
    let long = t.sync("long").await;
    assert_eq!(long.status, RunStatus::Failed);
    let e = long.error.as_deref().unwrap_or("");
    assert!(
        e.contains("string of 300000 bytes in `items[0].entity.Participation.kind`")
            && e.contains("over the limit of 256 KiB (limits.max_string_kib)"),
        "{e}"
    );
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_split_at_a_piece_boundary_never_reaches_the_log() {
    let secret = "tok-9f8e7d6c5b4a39281706-lyon";
    let secrets = format!("[sources.secrets]\ntoken = {{ value = \"{secret}\" }}");
    let mut extra = String::new();
    for (id, offset) in [("leak-a", 8190), ("leak-b", 8192 - 12), ("leak-c", 4095)] {
        extra += &misbehave(
            id,
            &format!("mode = \"leak\"\nsecret = \"token\"\noffset = {offset}"),
            &secrets,
        );
    }
    let t = start("", extra).await;
    for id in ["leak-a", "leak-b", "leak-c"] {
        let run = t.sync(id).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{id}: {:?}", run.error);
        let log = t.hub.warehouse.run_logs(run.id).await.unwrap();
        assert!(
            log.iter().any(|l| l.message == "the secret is ***"),
            "{id}: {log:?}"
        );
        assert!(log.iter().filter(|l| l.message.contains("aaaa")).count() >= 1);
        for line in &log {
            for window in secret.as_bytes().windows(8) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(
                    !line.message.contains(window),
                    "{id}: `{window}` of the secret in the log"
                );
            }
        }
    }
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_warnings_and_http_summary_survive_a_log_flood() {
    let ping = "http://${SIMULATOR}/lyon/ping";
    let t = start(
        "http_request_budget = 2",
        misbehave(
            "flood",
            &format!(
                "mode = \"flood\"\nlines = 20000\nurls = [\"http://partner.invalid/x\", \"{ping}\", \"{ping}\", \"{ping}\"]"
            ),
            "",
        ),
    )
    .await;
    let run = t.sync("flood").await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap_or("").contains("flood over"),
        "{:?}",
        run.error
    );
    let log = t.hub.warehouse.run_logs(run.id).await.unwrap();
    let has = |needle: &str| log.iter().any(|l| l.message.contains(needle));
    assert!(has("log truncated: the plugin wrote more than 10000 lines"));
    assert!(!has("flood line 15000"));
    assert!(has("partner.invalid/x denied"), "the denied host is logged");
    assert!(
        has("http request budget of 2 spent"),
        "the spent budget is logged"
    );
    assert!(
        log.iter()
            .any(|l| l.message.starts_with("http: 2 requests") && l.message.contains("1 denied")),
        "the HTTP summary is written: {:?}",
        log.iter().rev().take(5).collect::<Vec<_>>()
    );
    assert_next_run_succeeds(&t).await;
}
