//! Hostile plugins, the cases `sandbox.rs` and `main.rs` leave out: deep
//! recursion, a batch over the cap, a trap in the middle of a batch, a
//! granted name resolving to a non-public address, a redirect to a host not
//! granted, paths outside the inbox, the environment, sockets, a contract
//! version the hub does not know. Each runs a real guest of
//! `plugins/test-guests/` through a sync, asserts a clear, specific error,
//! and that the hub serves the next run. The README's reliability section
//! lists every hostile case and its test.

use std::net::ToSocketAddrs as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use vivres::warehouse::RunStatus;

use crate::helpers::*;
use crate::sandbox::{assert_next_run_succeeds, misbehave, misbehave_with, start, vivres};

/// The run's error, which must be there.
fn error_of(run: &vivres::warehouse::RunReport) -> &str {
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    run.error.as_deref().expect("a failed run says why")
}

async fn log_of(t: &TestHub, run: i64) -> Vec<String> {
    t.hub
        .warehouse
        .run_logs(run)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_exhausts_the_stack_and_the_hub_carries_on() {
    let mut extra = misbehave("recurse", "mode = \"recurse\"", "");
    extra += &misbehave("recurse-framed", "mode = \"recurse\"\nbytes = 1", "");
    let t = start("", extra).await;

    // Small frames: the engine's own stack for wasm overflows first.
    let run = t.sync("recurse").await;
    let e = error_of(&run);
    assert_eq!(run.error_kind.as_deref(), Some("plugin"));
    assert!(
        e.contains("plugin exhausted its call stack (recursion too deep)"),
        "{e}"
    );
    // Large frames: the guest's shadow stack, in its own linear memory,
    // runs out below its start and faults there.
    let run = t.sync("recurse-framed").await;
    let e = error_of(&run);
    assert_eq!(run.error_kind.as_deref(), Some("plugin"));
    assert!(
        e.contains("plugin exhausted its call stack (recursion too deep)")
            || e.contains(
                "plugin trapped: out of bounds memory access, often the plugin's own stack running out"
            ),
        "{e}"
    );
    assert!(
        !log_of(&t, run.id)
            .await
            .iter()
            .any(|l| l.contains("recursion returned"))
    );
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_cap_is_refused_whole() {
    // Over the partner's pages of 200, which the next run reads.
    let mut extra = misbehave("big", "mode = \"big-batch\"\ncount = 251", "");
    extra += &misbehave("at-cap", "mode = \"big-batch\"\ncount = 250", "");
    let t = start("max_batch_items = 250", extra).await;

    let run = t.sync("big").await;
    let e = error_of(&run);
    assert_eq!(run.error_kind.as_deref(), Some("plugin"));
    assert!(
        e.contains("plugin returned a batch of 251 items and rejects, more than the maximum of 250 (limits.max_batch_items)"),
        "{e}"
    );
    assert_eq!((run.batches, run.counts.read), (0, 0));
    assert_eq!(t.count("participation").await, 0);

    // At the cap: taken whole.
    let run = t.sync("at-cap").await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(t.count("participation").await, 250);
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_mid_batch_commits_nothing_of_that_batch() {
    let t = start(
        "",
        misbehave("trap", "mode = \"trap\"\nbatches = 2\ncount = 100", ""),
    )
    .await;
    let run = t.sync("trap").await;
    let e = error_of(&run);
    assert_eq!(run.error_kind.as_deref(), Some("plugin"));
    // The trap, with the guest's panic message from its stderr.
    assert!(
        e.contains("plugin trapped") && e.contains("hostile trap in batch 2"),
        "{e}"
    );
    // The two batches before it are committed with their checkpoint; none
    // of the hundred records it built.
    assert_eq!((run.batches, run.counts.read), (2, 2), "{run:?}");
    assert_eq!(t.count("participation").await, 2);
    let state = t.hub.warehouse.checkpoint("trap", "events").await.unwrap();
    assert_eq!(state.as_deref(), Some("2"));
    let log = log_of(&t, run.id).await;
    assert!(
        log.iter()
            .any(|l| l == "batch 2: 100 records built, trapping"),
        "{log:?}"
    );

    // The next run resumes at the batch that traps: nothing doubled.
    let again = t.sync("trap").await;
    assert!(error_of(&again).contains("hostile trap in batch 2"));
    assert_eq!(again.counts.read, 0);
    assert_eq!(t.count("participation").await, 2);
    assert_next_run_succeeds(&t).await;
}

/// A name of this machine that resolves only to non-public addresses: its
/// host name (127.0.1.1 on Debian, 127.0.0.1 in a VM, the container's
/// private address under Docker), else Debian's IPv6 loopback aliases.
fn a_local_name() -> (String, Vec<std::net::IpAddr>) {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // what fits.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let hostname = String::from_utf8_lossy(&buf[..end]).into_owned();
    let candidates = [hostname, "ip6-localhost".into(), "ip6-loopback".into()];
    for name in &candidates {
        if name.is_empty() || name == "localhost" {
            continue;
        }
        let Ok(addrs) = (name.as_str(), 80).to_socket_addrs() else {
            continue;
        };
        let ips: Vec<std::net::IpAddr> = addrs.map(|a| a.ip()).collect();
        let non_public = |ip: &std::net::IpAddr| match ip.to_canonical() {
            std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
            std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
        if !ips.is_empty() && ips.iter().all(non_public) {
            return (name.clone(), ips);
        }
    }
    panic!(
        "none of {candidates:?} resolves to a loopback or private address on this machine: \
         this test needs one (see /etc/hosts)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_resolving_to_a_private_address_is_denied_after_dns() {
    let (name, ips) = a_local_name();
    eprintln!("`{name}` resolves to {ips:?}");
    // A partner listening on every local address, granted by name: only
    // DNS can tell that the name leads inside.
    let inside = partner_on("0.0.0.0", "200 OK", String::new()).await;
    let t = start(
        "",
        http_source(
            "rebind",
            &format!("{name}:{}", inside.port),
            &format!("http://{name}:{}/export", inside.port),
        ),
    )
    .await;
    let run = t.sync("rebind").await;
    let e = error_of(&run);
    assert!(
        e.contains(&format!("`{name}` resolves only to non-public addresses")),
        "{e}"
    );
    assert_eq!(run.error_kind.as_deref(), Some("bad_config"));
    let http = t.hub.warehouse.run_http(run.id).await.unwrap();
    assert_eq!(http.denied, 1, "{http:?}");
    assert_eq!(inside.connections.load(Ordering::SeqCst), 0);
    assert_next_run_succeeds(&t).await;
}

/// A `misbehave` source in mode `http`, granted `host`, calling `url`.
fn http_source(id: &str, host: &str, url: &str) -> String {
    format!(
        r#"
[[sources]]
id = "{id}"
connector = "misbehave"
plugin = "{plugin}"
network = "cocagne"
territory = "lyon"
streams = ["events"]
allowed_hosts = ["{host}"]
[sources.config]
mode = "http"
url = "{url}"
"#,
        plugin = plugins_dir().join("misbehave.wasm").display()
    )
}

/// A partner on 127.0.0.1 that answers every request with `status` and
/// `headers`, counting its connections.
struct Partner {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn partner(status: &'static str, headers: String) -> Partner {
    partner_on("127.0.0.1", status, headers).await
}

async fn partner_on(ip: &str, status: &'static str, headers: String) -> Partner {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let headers = headers.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\nok"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Partner { port, connections }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_host_not_granted_is_not_followed() {
    let elsewhere = partner("200 OK", String::new()).await;
    let to_elsewhere = partner(
        "302 Found",
        format!("Location: http://127.0.0.1:{}/data\r\n", elsewhere.port),
    )
    .await;
    let to_metadata = partner(
        "307 Temporary Redirect",
        "Location: http://169.254.169.254/latest/meta-data/\r\n".into(),
    )
    .await;
    let source = |id: &str, port: u16| {
        http_source(
            id,
            &format!("127.0.0.1:{port}"),
            &format!("http://127.0.0.1:{port}/export"),
        )
    };
    let mut extra = source("to-elsewhere", to_elsewhere.port);
    extra += &source("to-metadata", to_metadata.port);
    let t = start("", extra).await;

    for (id, denied) in [
        (
            "to-elsewhere",
            format!(
                "port {} of `127.0.0.1` is not granted to this source",
                elsewhere.port
            ),
        ),
        (
            "to-metadata",
            "host `169.254.169.254` is not granted to this source".to_string(),
        ),
    ] {
        let run = t.sync(id).await;
        let e = error_of(&run);
        assert!(e.contains(&denied), "{id}: {e}");
        assert_eq!(run.error_kind.as_deref(), Some("bad_config"), "{id}");
        let http = t.hub.warehouse.run_http(run.id).await.unwrap();
        assert_eq!((http.requests, http.denied), (1, 1), "{id}: {http:?}");
    }
    assert_eq!(to_elsewhere.connections.load(Ordering::SeqCst), 1);
    assert_eq!(to_metadata.connections.load(Ordering::SeqCst), 1);
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_inbox_are_refused_symlinks_included() {
    const CANARY: &str = "CANARY-outside-the-inbox-5d41402abc";
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("outside.txt");
    std::fs::write(&outside, CANARY).unwrap();
    let paths = [
        "/inbox/ok.txt".to_string(),
        "/inbox/../canary.txt".into(),
        "/inbox/sub/../../canary.txt".into(),
        "../canary.txt".into(),
        outside.display().to_string(),
        "/etc/passwd".into(),
        "/inbox/abs-link".into(),
        "/inbox/rel-link".into(),
        "/inbox/up/canary.txt".into(),
        "/inbox/etc/passwd".into(),
    ];
    let config = format!(
        "mode = \"files\"\npaths = [{}]\nwrite = \"/inbox/new.txt\"",
        paths
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let t = start("", misbehave_with("files", "inbox = true", &config, "")).await;
    let inbox = t.dir.path().join("inbox").join("files");
    std::fs::create_dir_all(inbox.join("sub")).unwrap();
    std::fs::write(inbox.join("ok.txt"), "inbox-ok").unwrap();
    // Beside the inbox, and elsewhere on the disk.
    std::fs::write(t.dir.path().join("inbox").join("canary.txt"), CANARY).unwrap();
    // Symlinks planted in the inbox: absolute, relative, to directories.
    std::os::unix::fs::symlink(&outside, inbox.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../canary.txt", inbox.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("..", inbox.join("up")).unwrap();
    std::os::unix::fs::symlink("/etc", inbox.join("etc")).unwrap();

    let run = t.sync("files").await;
    let e = error_of(&run);
    assert!(e.contains("files: 1 read, 10 refused"), "{e}");
    let log = log_of(&t, run.id).await;
    assert!(
        log.iter()
            .any(|l| l == "read `/inbox/ok.txt`: 8 bytes: inbox-ok"),
        "{log:?}"
    );
    for path in &paths[1..] {
        assert!(
            log.iter()
                .any(|l| l.starts_with(&format!("read `{path}`: refused: "))),
            "{path}: {log:?}"
        );
    }
    assert!(
        log.iter()
            .any(|l| l.starts_with("write `/inbox/new.txt`: refused: ")),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.contains(CANARY) || l.contains("root:"))
    );
    assert!(!inbox.join("new.txt").exists());
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_sees_no_environment_variable_and_no_argument() {
    let t = start("", misbehave("env", "mode = \"env\"", "")).await;
    // A hub process with an environment: the test's, and a canary.
    assert!(std::env::vars().count() > 0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["sync", "env"])
        .envs(&t.vars)
        .env("VIVRES_CANARY_TOKEN", "canary-3b1f")
        .output()
        .expect("vivres runs");
    let runs = t.hub.warehouse.runs(Some("env"), 1).await.unwrap();
    let run = runs.first().expect("the run is recorded");
    let e = error_of(run);
    assert!(
        e.contains("environment: 0 variables, 0 arguments"),
        "{e}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log_of(&t, run.id).await;
    assert!(
        !log.iter()
            .any(|l| l.starts_with("variable ") || l.starts_with("argument ")),
        "{log:?}"
    );
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_opens_no_socket_and_resolves_no_name() {
    let listening = partner("200 OK", String::new()).await;
    let t = start(
        "",
        misbehave(
            "socket",
            &format!(
                "mode = \"socket\"\nurl = \"http://localhost:{}/\"",
                listening.port
            ),
            "",
        ),
    )
    .await;
    let run = t.sync("socket").await;
    let e = error_of(&run);
    assert!(
        e.contains("socket: lookup refused") && e.contains("connect refused"),
        "{e}"
    );
    assert_eq!(listening.connections.load(Ordering::SeqCst), 0);
    assert_next_run_succeeds(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_against_an_unknown_contract_version_is_refused_by_name() {
    let plugin = plugins_dir().join("future_guest.wasm");
    let t = start(
        "",
        format!(
            r#"
[[sources]]
id = "future"
connector = "future-guest"
plugin = "{}"
network = "cocagne"
territory = "lyon"
streams = ["events"]
"#,
            plugin.display()
        ),
    )
    .await;
    let refusal = "built against connector contract 0.9.0; this hub runs 0.1.0 and 0.2.0";
    let run = t.sync("future").await;
    let e = error_of(&run);
    assert!(e.contains(refusal), "{e}");
    // Named by its file, never by where the hub keeps it.
    assert!(e.contains("future_guest.wasm"), "{e}");
    assert!(!e.contains(plugins_dir().to_str().unwrap()), "{e}");
    assert_eq!(run.error_kind.as_deref(), Some("plugin"));
    // None of its code ran.
    assert_eq!(run.connector, None);
    let log = log_of(&t, run.id).await;
    assert!(!log.iter().any(|l| l.contains("future guest")), "{log:?}");

    let out = vivres(&t, &["connector", "spec", plugin.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(refusal), "{err}");
    assert_next_run_succeeds(&t).await;
}
