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
pub(crate) async fn start(limits: &str, extra_sources: String) -> TestHub {
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

pub(crate) async fn start_with(setup: Setup, limits: &str) -> TestHub {
    TestHub::start(Setup {
        extra_limits: limits.to_string(),
        ..setup
    })
    .await
}

/// A source running the `misbehave` guest; `config` is TOML for
/// `[sources.config]`, `more` is appended after it (secrets…).
pub(crate) fn misbehave(id: &str, config: &str, more: &str) -> String {
    misbehave_with(id, "", config, more)
}

/// The same, with more keys of the source (`keys`, before its tables).
pub(crate) fn misbehave_with(id: &str, keys: &str, config: &str, more: &str) -> String {
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
{keys}
[sources.config]
{config}
{more}
"#,
        plugin = plugins_dir().join("misbehave.wasm").display()
    )
}

/// `vivres --config <the test's config> ARGS…`, run to its end.
pub(crate) fn vivres(t: &TestHub, args: &[&str]) -> std::process::Output {
    vivres_with(&t.config_path, &t.vars, args)
}

fn vivres_with(
    config: &Path,
    vars: &std::collections::BTreeMap<String, String>,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(vars)
        .output()
        .expect("vivres runs")
}

pub(crate) async fn assert_next_run_succeeds(t: &TestHub) {
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
    let plugin = plugins_dir().join("misbehave.wasm");
    let connector_spec = || vivres(&t, &["connector", "spec", plugin.to_str().unwrap()]);
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
    let token = vivres(&t, &["token", "create", "--role", "admin", "--name", "ops"]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listen.local_addr().unwrap();
    drop(listen);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["serve", "--listen", &addr.to_string()])
        .envs(&t.vars)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(t.dir.path().join("serve.log")).expect("log file"))
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
        // The plugin sleeps an hour; the grace is 10 s. Exiting at all within
        // the grace and a wide margin for a loaded machine shows the sleep was
        // interrupted (not a timing benchmark: the figure is printed).
        assert!(
            sent.elapsed() < Duration::from_secs(40),
            "vivres serve still running 40 s after SIGTERM; its log:\n{}",
            std::fs::read_to_string(t.dir.path().join("serve.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    eprintln!("vivres serve exited {:?} after SIGTERM", sent.elapsed());
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

// ---------------------------------------------------------------------------
// Runs that never end: deadline, caps, a state that does not advance, rejects
// that pile up, cancel, pause, fair slots, runs interrupted again and again.

/// A `misbehave` source with its own `[sources.limits]` lines and, if any, a
/// schedule.
fn runaway(id: &str, config: &str, limits: &str, schedule: Option<&str>) -> String {
    let schedule = schedule
        .map(|s| format!("schedule = \"{s}\""))
        .unwrap_or_default();
    misbehave_with(
        id,
        &schedule,
        config,
        &format!("[sources.limits]\n{limits}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_never_ends_meets_its_caps_and_its_deadline() {
    let mut extra = runaway(
        "forever",
        "mode = \"forever\"",
        "max_run_batches = 50",
        None,
    );
    extra += &runaway(
        "forever-records",
        "mode = \"forever\"",
        "max_run_records = 30",
        None,
    );
    extra += &runaway(
        "forever-late",
        "mode = \"forever\"",
        "run_deadline_seconds = 2",
        None,
    );
    let t = start("", extra).await;

    let run = t.sync("forever").await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.error_kind.as_deref(), Some("too_many_batches"));
    let e = run.error.as_deref().unwrap_or("");
    assert!(
        e.contains("read 50 batches") && e.contains("limits.max_run_batches"),
        "{e}"
    );
    assert_eq!((run.batches, run.counts.read), (50, 50));
    // What was read is committed: the next run goes on from batch 50.
    let next = t.sync("forever").await;
    assert_eq!(next.error_kind.as_deref(), Some("too_many_batches"));
    let state = t
        .hub
        .warehouse
        .checkpoint("forever", "events")
        .await
        .unwrap();
    assert_eq!(state.as_deref(), Some("100"));

    let run = t.sync("forever-records").await;
    assert_eq!(
        run.error_kind.as_deref(),
        Some("too_many_records"),
        "{run:?}"
    );
    assert!(
        run.error
            .as_deref()
            .unwrap_or("")
            .contains("more than 30 records")
    );
    assert_eq!(run.counts.read, 30);

    let started = Instant::now();
    let run = t.sync("forever-late").await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.error_kind.as_deref(), Some("deadline_exceeded"));
    assert!(
        run.error
            .as_deref()
            .unwrap_or("")
            .contains("deadline of 2 s (limits.run_deadline_seconds)")
    );
    assert!(run.batches > 0);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_never_advances_fails_the_run() {
    let t = start(
        "max_idle_batches = 5",
        runaway("stuck", "mode = \"stuck\"", "", None),
    )
    .await;
    let run = t.sync("stuck").await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.error_kind.as_deref(), Some("stalled"));
    let e = run.error.as_deref().unwrap_or("");
    assert!(
        e.contains("5 batches in a row") && e.contains("not advancing"),
        "{e}"
    );
    // The first batch set the state; four more left it where it was.
    assert!(run.batches <= 5, "{run:?}");
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_read_again_replace_their_entry_and_a_flood_is_capped() {
    let mut extra = runaway(
        "bad-file",
        "mode = \"rejects\"\ncount = 1000\nbatches = 3",
        "",
        None,
    );
    extra += &runaway(
        "reject-flood",
        "mode = \"rejects\"\ncount = 1000",
        "max_run_quarantine = 5000",
        None,
    );
    let t = start("", extra).await;
    let entries = |source: &'static str| {
        let hub = &t.hub;
        async move {
            scalar(
                hub,
                &format!("SELECT count(*) FROM quarantine WHERE source = '{source}'"),
            )
            .await
            .unwrap_or(0)
        }
    };

    // The same 1000 bad lines, three batches a run, two runs: 1000 entries.
    let first = t.sync("bad-file").await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert_eq!(first.counts.quarantined, 3000);
    assert_eq!(entries("bad-file").await, 1000);
    let second = t.sync("bad-file").await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    t.hub
        .warehouse
        .delete_checkpoint("bad-file", "events")
        .await
        .unwrap();
    let third = t.sync("bad-file").await;
    assert_eq!(third.status, RunStatus::Succeeded, "{third:?}");
    assert_eq!(entries("bad-file").await, 1000);
    let open = t
        .hub
        .warehouse
        .quarantine(Some("bad-file"), None, 10_000)
        .await
        .unwrap();
    assert_eq!(open.len(), 1000);
    assert!(open.iter().all(|e| e.run_id == third.id));

    // For ever: stopped once the run has refused 5000 records.
    let flood = t.sync("reject-flood").await;
    assert_eq!(flood.status, RunStatus::Failed, "{flood:?}");
    assert_eq!(flood.error_kind.as_deref(), Some("too_many_rejects"));
    assert!(
        flood
            .error
            .as_deref()
            .unwrap_or("")
            .contains("limits.max_run_quarantine")
    );
    assert_eq!(flood.counts.quarantined, 5000);
    assert_eq!(entries("reject-flood").await, 1000);
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_the_state_and_rejects_are_redacted_and_keys_pseudonymised() {
    let secret = "tok-5e4d3c2b1a-lyon";
    let t = start(
        "",
        misbehave(
            "leaky",
            "mode = \"leak-state\"\nsecret = \"token\"\nbytes = 5000",
            &format!("[sources.secrets]\ntoken = {{ value = \"{secret}\" }}"),
        ),
    )
    .await;
    let run = t.sync("leaky").await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let state = t.hub.warehouse.checkpoint("leaky", "events").await.unwrap();
    assert_eq!(state.as_deref(), Some("cursor=***"));
    let entries = t
        .hub
        .warehouse
        .quarantine(Some("leaky"), None, 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.origin.as_deref(), Some("export-***.csv"));
    assert_eq!(e.field, "date-***");
    assert!(e.detail.starts_with("value *** is wrong"), "{}", e.detail);
    assert!(
        e.detail.len() <= 1024 + " …[cut]".len(),
        "{}",
        e.detail.len()
    );
    assert!(e.detail.ends_with("…[cut]"));
    // The key is the record key's pseudonym, as items' keys are.
    let raw = "jeanne.martin@example.org";
    let pseudonym = hex::encode(t.hub.pseudonymiser.record_key_bytes("leaky", raw));
    let stored = t
        .hub
        .warehouse
        .inspect("SELECT key FROM quarantine WHERE source = 'leaky'")
        .await
        .unwrap();
    let stored = stored[0][0].clone().unwrap_or_default();
    assert!(
        stored.to_lowercase().contains(&pseudonym),
        "{stored} vs {pseudonym}"
    );
    // Nowhere in the warehouse: the secret, the raw key.
    for (table, column) in [
        ("checkpoints", "state"),
        ("quarantine", "origin"),
        ("quarantine", "field"),
        ("quarantine", "detail"),
        ("run_logs", "message"),
        ("runs", "error"),
    ] {
        let leaks = scalar(
            &t.hub,
            &format!(
                "SELECT count(*) FROM {table} WHERE {column} LIKE '%{secret}%' OR {column} LIKE '%{raw}%'"
            ),
        )
        .await;
        assert_eq!(leaks, Some(0), "{table}.{column}");
    }
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_interrupted_again_and_again_without_progress_fail() {
    let t = start(
        "max_interrupted_runs = 2",
        misbehave("sleepy", "mode = \"sleep\"", ""),
    )
    .await;
    let interrupt = || async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let options = SyncOptions {
            cancel: Some(cancel.clone()),
            ..SyncOptions::default()
        };
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            canceller.cancel();
        });
        sync_source(&t.hub, "sleepy", &options).await.unwrap()
    };
    let first = interrupt().await;
    assert_eq!(first.status, RunStatus::Interrupted, "{first:?}");
    let second = interrupt().await;
    assert_eq!(second.status, RunStatus::Failed, "{second:?}");
    assert_eq!(second.error_kind.as_deref(), Some("interrupted_repeatedly"));
    assert!(
        second
            .error
            .as_deref()
            .unwrap_or("")
            .contains("interrupted 2 times in a row without committing a batch")
    );
    assert_next_run_succeeds(&t).await;
}

/// A hub served in-process (API and scheduler), for the tests below.
struct Served {
    hub: Arc<Hub>,
    config_path: PathBuf,
    vars: std::collections::BTreeMap<String, String>,
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), vivres::serve::ServeError>>>,
    _sim: partner_sim::RunningSim,
    _dir: tempfile::TempDir,
    // Dropped last: the database outlives the hub.
    _db: vivres::warehouse::testing::Guard,
}

impl Served {
    async fn start(limits: &str, extra: String, concurrency: usize) -> Served {
        let TestHub {
            db,
            dir,
            sim,
            hub,
            config_path,
            vars,
        } = start(limits, extra).await;
        let hub = Arc::new(hub);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let settings = vivres::serve::ServeSettings {
            scheduler: vivres::scheduler::SchedulerSettings {
                poll_interval: Duration::from_millis(100),
                concurrency,
                ..Default::default()
            },
            ..Default::default()
        };
        let task = tokio::spawn(vivres::serve::launch(
            hub.clone(),
            settings,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        Served {
            hub,
            config_path,
            vars,
            _sim: sim,
            _dir: dir,
            _db: db,
            base,
            client: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn token(&self, name: &str, role: vivres::auth::Role) -> String {
        vivres::auth::create(&self.hub.warehouse, name, &role)
            .await
            .unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Waits until `done` holds of the source's runs (newest first).
    async fn wait_runs(
        &self,
        source: &str,
        what: &str,
        done: impl Fn(&[vivres::warehouse::RunReport]) -> bool,
    ) -> Vec<vivres::warehouse::RunReport> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let runs = self.hub.warehouse.runs(Some(source), 1000).await.unwrap();
            if done(&runs) {
                return runs;
            }
            assert!(
                Instant::now() < deadline,
                "{source}: never {what}: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        vivres_with(&self.config_path, &self.vars, args)
    }

    async fn assert_next_run_succeeds(&self) {
        let ok = sync_source(&self.hub, "cocagne-lyon", &SyncOptions::default())
            .await
            .unwrap();
        assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error);
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the hub stops within a minute")
                .unwrap()
                .unwrap();
        }
    }
}

fn coordinator(territory: &str) -> vivres::auth::Role {
    vivres::auth::Role::Coordinator {
        territories: vec![territory.to_string()],
    }
}

const TOULOUSE: &str = r#"
[[territories]]
id = "toulouse"
name = "Toulouse Métropole"
epci = ["243100518"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_cancelled_by_the_api_or_the_cli_and_the_state_is_for_admins() {
    let mut extra = misbehave("sleepy", "mode = \"sleep\"", "");
    extra += TOULOUSE;
    let mut s = Served::start("", extra, 4).await;
    let admin = s.token("admin", vivres::auth::Role::Admin).await;
    let lyon = s.token("coord-lyon", coordinator("lyon")).await;
    let toulouse = s.token("coord-toulouse", coordinator("toulouse")).await;
    let evaluator = s.token("eval", vivres::auth::Role::Evaluator).await;
    use reqwest::{Method, StatusCode};

    // Through the API, by a coordinator of the source's territory.
    let (status, body) = s.call(Method::POST, "/sources/sleepy/sync", &lyon).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["run_id"].as_i64().unwrap();
    let cancel = format!("/runs/{id}/cancel");
    for (who, token) in [("evaluator", &evaluator), ("other territory", &toulouse)] {
        let (status, body) = s.call(Method::POST, &cancel, token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    let (status, body) = s.call(Method::POST, &cancel, &lyon).await;
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::OK,
        "{status}: {body}"
    );
    let runs = s
        .wait_runs("sleepy", "cancelled", |r| {
            r.iter()
                .any(|r| r.id == id && r.status == RunStatus::Cancelled)
        })
        .await;
    let run = runs.iter().find(|r| r.id == id).unwrap();
    assert_eq!(run.error_kind.as_deref(), Some("cancelled"));
    let (status, body) = s.call(Method::POST, &cancel, &admin).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "wrong_state");

    // From the command line, another process.
    let (status, body) = s.call(Method::POST, "/sources/sleepy/sync", &admin).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["run_id"].as_i64().unwrap();
    let out = s.cli(&["run", "cancel", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.wait_runs("sleepy", "cancelled", |r| {
        r.iter()
            .any(|r| r.id == id && r.status == RunStatus::Cancelled)
    })
    .await;

    // A checkpoint may hold what only admins should see.
    let (status, _) = s
        .call(Method::GET, "/sources/cocagne-lyon/state", &lyon)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call(Method::GET, "/sources/cocagne-lyon/state", &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    s.shutdown().await;
    s.assert_next_run_succeeds().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_failing_again_and_again_is_paused_until_a_coordinator_resumes_it() {
    let mut extra = runaway("stuck", "mode = \"stuck\"", "", Some("* * * * * *"));
    extra += TOULOUSE;
    let mut s = Served::start("pause_after_failures = 3\nmax_idle_batches = 2", extra, 4).await;
    use reqwest::{Method, StatusCode};
    let lyon = s.token("coord-lyon", coordinator("lyon")).await;
    let toulouse = s.token("coord-toulouse", coordinator("toulouse")).await;

    // Every second a tick; three failures, then paused.
    let deadline = Instant::now() + Duration::from_secs(120);
    let pause = loop {
        let (status, pause) = s.call(Method::GET, "/sources/stuck/pause", &lyon).await;
        assert_eq!(status, StatusCode::OK, "{pause}");
        if pause["paused"] == true {
            break pause;
        }
        assert!(Instant::now() < deadline, "never paused: {pause}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let failed: Vec<_> = s
        .hub
        .warehouse
        .runs(Some("stuck"), 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|r| r.error_kind.as_deref() == Some("stalled"))
    );
    assert_eq!(pause["failures"], 3, "{pause}");
    let pausing = pause["run_id"].as_i64().unwrap();
    let log = s.hub.warehouse.run_logs(pausing).await.unwrap();
    assert!(
        log.iter().any(|l| l
            .message
            .contains("source paused after 3 failed runs in a row")),
        "{log:?}"
    );
    // Ticks keep firing, and are skipped: no run starts while it is paused
    // (a tick's run, queued with it, is closed `cancelled`, kind `paused`).
    let ran = || async {
        s.hub
            .warehouse
            .runs(Some("stuck"), 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.error_kind.as_deref() != Some("paused"))
            .count()
    };
    let before = ran().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = ran().await;
    assert_eq!(before, after, "a paused source ran");

    let (status, _) = s
        .call(Method::POST, "/sources/stuck/resume", &toulouse)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s.call(Method::POST, "/sources/stuck/resume", &lyon).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["paused"], false);
    let (status, body) = s.call(Method::POST, "/sources/stuck/resume", &lyon).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Scheduled again: runs, fails three times more, and is paused again.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, pause) = s.call(Method::GET, "/sources/stuck/pause", &lyon).await;
        if pause["paused"] == true {
            assert!(pause["run_id"].as_i64().unwrap() > pausing, "{pause}");
            break;
        }
        assert!(Instant::now() < deadline, "never paused again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.shutdown().await;

    let out = s.cli(&["source", "paused"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listed.contains("stuck paused since"), "{listed}");
    let out = s.cli(&["source", "resume", "stuck"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        s.hub
            .warehouse
            .source_pause("stuck")
            .await
            .unwrap()
            .is_none()
    );
    let out = s.cli(&["source", "resume", "stuck"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not paused"));
    s.assert_next_run_succeeds().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_sources_never_take_every_slot_from_a_good_one() {
    let mut extra = String::new();
    for id in ["loop-a", "loop-b"] {
        extra += &runaway(
            id,
            "mode = \"forever\"",
            "max_run_batches = 100000000",
            None,
        );
    }
    let mut s = Served::start("run_fair_share_seconds = 1", extra, 2).await;
    use reqwest::{Method, StatusCode};
    let admin = s.token("admin", vivres::auth::Role::Admin).await;
    for id in ["loop-a", "loop-b"] {
        let (status, body) = s
            .call(Method::POST, &format!("/sources/{id}/sync"), &admin)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        s.wait_runs(id, "started", |r| r.first().is_some_and(|r| r.batches > 0))
            .await;
    }
    // Both slots are held by sources that never end; the good one still runs.
    let (status, body) = s
        .call(Method::POST, "/sources/cocagne-lyon/sync", &admin)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let good = body["run_id"].as_i64().unwrap();
    let runs = s
        .wait_runs("cocagne-lyon", "succeeded", |r| {
            r.iter()
                .any(|r| r.id == good && r.status != RunStatus::Running)
        })
        .await;
    let run = runs.iter().find(|r| r.id == good).unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let yielded: usize = {
        let mut n = 0;
        for id in ["loop-a", "loop-b"] {
            n += s
                .hub
                .warehouse
                .runs(Some(id), 1000)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.error_kind.as_deref() == Some("yielded"))
                .count();
        }
        n
    };
    assert!(yielded >= 1, "no looping run gave its slot up");
    s.shutdown().await;
}
