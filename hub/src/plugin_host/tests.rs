//! The plugin host against real components and real HTTP servers on
//! 127.0.0.1: the `misbehave` test guest (spins, over-allocates, calls
//! hosts) and, when built, the Cocagne connector.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::model::ConnectorError;

const PLUGINS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../plugins/target/wasm32-wasip2/release/"
);

fn wasm(name: &str) -> PathBuf {
    let path = PathBuf::from(PLUGINS).join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask build-plugins` first",
        path.display()
    );
    path
}

struct Fixture {
    host: PluginHost,
    cache: tempfile::TempDir,
}

fn fixture(tune: impl FnOnce(&mut HostSettings)) -> Fixture {
    let cache = tempfile::tempdir().unwrap();
    let mut settings = HostSettings::new(cache.path().join("cache"));
    settings.http.base_backoff = Duration::from_millis(20);
    tune(&mut settings);
    Fixture {
        host: PluginHost::new(settings).unwrap(),
        cache,
    }
}

type Lines = Arc<Mutex<Vec<LogLine>>>;

fn grants(allowed_hosts: &[String]) -> (Grants, Lines) {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let log: LogSink = Arc::new(move |line| sink.lock().unwrap().push(line));
    let mut grants = Grants::none("test-source", log);
    grants.allowed_hosts = allowed_hosts.to_vec();
    (grants, lines)
}

fn logged(lines: &Lines) -> String {
    lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| format!("[{}] {}", l.level.as_str(), l.message))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn misbehave(fx: &Fixture, grants: Grants) -> Instance {
    let plugin = fx.host.load(&wasm("misbehave")).await.unwrap();
    fx.host.instantiate(&plugin, grants).await.unwrap()
}

fn config(mode: &str, url: Option<&str>) -> String {
    match url {
        Some(url) => serde_json::json!({ "mode": mode, "url": url }).to_string(),
        None => serde_json::json!({ "mode": mode }).to_string(),
    }
}

/// A partner on 127.0.0.1 answering each connection with the next scripted
/// response (then the last one again), counting connections.
struct Partner {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn partner(responses: Vec<String>) -> Partner {
    partner_with_delay(responses, Duration::ZERO).await
}

async fn partner_with_delay(responses: Vec<String>, delay: Duration) -> Partner {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let response = responses[n.min(responses.len() - 1)].clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => read += k,
                    }
                }
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..read]).into_owned());
                tokio::time::sleep(delay).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Partner {
        port,
        connections,
        requests,
    }
}

fn response(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_plugin_is_stopped_at_its_cpu_deadline_and_the_host_goes_on() {
    let fx = fixture(|s| s.call_cpu_deadline = Duration::from_secs(1));
    let (g, _) = grants(&[]);
    let mut instance = misbehave(&fx, g).await;
    let started = Instant::now();
    let err = instance
        .read(&config("spin", None), "events", None)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, HostError::OutOfTime { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin exceeded its CPU deadline of 1 s (its own computing time in one call, waits excluded; limits.plugin_call_seconds)"
    );
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");

    // The trapped instance is never entered again...
    assert!(instance.is_poisoned());
    let again = instance.read(&config("ok", None), "events", None).await;
    assert!(matches!(again, Err(HostError::Poisoned)), "{again:?}");

    // ...but the same host runs the next one fine.
    let (g, _) = grants(&[]);
    let mut next = misbehave(&fx, g).await;
    let batch = next
        .read(&config("ok", None), "events", None)
        .await
        .unwrap()
        .unwrap();
    assert!(!batch.more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let fx = fixture(|_| {});
    let (g, _) = grants(&[]);
    let mut instance = misbehave(&fx, g).await;
    let err = instance
        .read(&config("alloc", None), "events", None)
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::MemoryLimit { .. }), "{err:?}");
    assert_eq!(err.to_string(), "plugin tried to grow memory past 256 MiB");
    assert!(instance.is_poisoned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_not_granted_is_denied_without_any_connection() {
    let server = partner(vec![response("200 OK", "", "hello")]).await;
    let fx = fixture(|_| {});
    // Granted a partner name only: 127.0.0.1 is not named.
    let (g, lines) = grants(&["partner.example.org".into()]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/export", server.port);
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    let Err(ConnectorError::BadConfig(message)) = result else {
        panic!("{result:?}");
    };
    assert!(message.contains("not granted"), "{message}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    let stats = instance.http_stats();
    assert_eq!((stats.requests, stats.denied), (0, 1));
    assert!(logged(&lines).contains("denied"), "{}", logged(&lines));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_resolving_to_loopback_is_denied_after_dns() {
    let server = partner(vec![response("200 OK", "", "hello")]).await;
    http::test_hosts::insert("rebind.partner.test", &["127.0.0.1".parse().unwrap()]);
    let fx = fixture(|_| {});
    let (g, _) = grants(&[format!("rebind.partner.test:{}", server.port)]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://rebind.partner.test:{}/", server.port);
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    let Err(ConnectorError::BadConfig(message)) = result else {
        panic!("{result:?}");
    };
    assert!(message.contains("non-public"), "{message}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert_eq!(instance.http_stats().denied, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_named_explicitly_works_and_logs_no_query() {
    let server = partner(vec![response("200 OK", "", "hello")]).await;
    let fx = fixture(|_| {});
    let (mut g, lines) = grants(&[format!("127.0.0.1:{}", server.port)]);
    g.secrets.insert("token".into(), "tok-s3cr3t".into());
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/export?token=tok-s3cr3t", server.port);
    let batch = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap()
        .unwrap();
    assert!(!batch.more);
    let log = logged(&lines);
    assert!(log.contains("HTTP 200 (5 bytes)"), "{log}");
    assert!(
        log.contains(&format!("http GET 127.0.0.1:{}/export -> 200", server.port)),
        "{log}"
    );
    assert!(!log.contains("s3cr3t"), "{log}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    let stats = instance.http_stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.by_status.get(&200), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_named_explicitly_works() {
    let server = partner(vec![response("200 OK", "", "hi")]).await;
    let fx = fixture(|_| {});
    let (g, lines) = grants(&[format!("localhost:{}", server.port)]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://localhost:{}/", server.port);
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    assert!(result.is_ok(), "{result:?}\n{}", logged(&lines));
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_not_counted_as_guest_time() {
    let server = partner(vec![
        response("429 Too Many Requests", "Retry-After: 2\r\n", ""),
        response("200 OK", "", "ok"),
    ])
    .await;
    // The wait (2 s) is longer than the guest's CPU budget (1 s).
    let fx = fixture(|s| s.call_cpu_deadline = Duration::from_secs(1));
    let (g, lines) = grants(&[format!("127.0.0.1:{}", server.port)]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let started = Instant::now();
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    assert!(result.is_ok(), "{result:?}\n{}", logged(&lines));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(logged(&lines).contains("HTTP 200 (2 bytes)"));
    let stats = instance.http_stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.retries, 1);
    assert_eq!(stats.waited, Duration::from_secs(2));
    assert_eq!(stats.by_status.get(&429), Some(&1));
    assert_eq!(stats.by_status.get(&200), Some(&1));
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_end_with_the_last_response_and_the_budget_is_enforced() {
    let server = partner(vec![response("503 Service Unavailable", "", "")]).await;
    let fx = fixture(|s| s.http.max_retries = 2);
    let (g, _) = grants(&[format!("127.0.0.1:{}", server.port)]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    // The guest saw the last 503 (the SDK maps it to partner-unavailable).
    let Err(ConnectorError::PartnerUnavailable { message, .. }) = result else {
        panic!("{result:?}");
    };
    assert!(message.contains("503"), "{message}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);

    let (mut g, _) = grants(&[format!("127.0.0.1:{}", server.port)]);
    g.request_budget = Some(2);
    let mut instance = misbehave(&fx, g).await;
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    let Err(ConnectorError::PartnerUnavailable { message, .. }) = result else {
        panic!("{result:?}");
    };
    assert!(message.contains("budget"), "{message}");
    assert_eq!(instance.http_stats().requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_rechecked_against_the_allowlist() {
    let elsewhere = partner(vec![response("200 OK", "", "secret stuff")]).await;
    let location = format!("Location: http://127.0.0.1:{}/\r\n", elsewhere.port);
    let server = partner(vec![response("302 Found", &location, "")]).await;
    let fx = fixture(|_| {});
    let (mut g, _) = grants(&[format!("127.0.0.1:{}", server.port)]);
    g.secrets.insert("t".into(), "Bearer x".into());
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    let Err(ConnectorError::BadConfig(message)) = result else {
        panic!("{result:?}");
    };
    assert!(message.contains("not granted"), "{message}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);

    // Within the allowlist a redirect is followed.
    let location = format!("Location: http://127.0.0.1:{}/final\r\n", elsewhere.port);
    let server = partner(vec![response("301 Moved Permanently", &location, "")]).await;
    let (g, _) = grants(&[
        format!("127.0.0.1:{}", server.port),
        format!("127.0.0.1:{}", elsewhere.port),
    ]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let result = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 1);
    assert!(elsewhere.requests.lock().unwrap()[0].starts_with("GET /final "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_stuck_on_a_slow_partner_hits_the_wall_timeout() {
    let server =
        partner_with_delay(vec![response("200 OK", "", "")], Duration::from_secs(10)).await;
    let fx = fixture(|s| s.call_wall_timeout = Duration::from_millis(500));
    let (g, _) = grants(&[format!("127.0.0.1:{}", server.port)]);
    let mut instance = misbehave(&fx, g).await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let started = Instant::now();
    let err = instance
        .read(&config("http", Some(&url)), "events", None)
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::WallTimeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(instance.is_poisoned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_load_comes_from_the_compile_cache() {
    let fx = fixture(|_| {});
    let first = fx.host.load(&wasm("misbehave")).await.unwrap();
    assert!(!first.from_cache());
    let cached: Vec<_> = std::fs::read_dir(fx.cache.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != cache::KEY_FILE && !name.ends_with(".sha256"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with(first.sha256()), "{cached:?}");
    assert!(cached[0].ends_with(".cwasm"), "{cached:?}");

    let started = Instant::now();
    let second = fx.host.load(&wasm("misbehave")).await.unwrap();
    assert!(second.from_cache());
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(first.sha256(), second.sha256());

    // A new host on the same cache dir (a restart) compiles nothing either.
    let restarted = PluginHost::new(fx.host.settings().clone()).unwrap();
    let third = restarted.load(&wasm("misbehave")).await.unwrap();
    assert!(third.from_cache());
    let (g, _) = grants(&[]);
    let mut instance = restarted.instantiate(&third, g).await.unwrap();
    assert_eq!(instance.spec().await.unwrap().name, "misbehave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_plugin_file_is_loaded_again() {
    let fx = fixture(|_| {});
    let path = fx.cache.path().join("plugin.wasm");
    std::fs::copy(wasm("misbehave"), &path).unwrap();
    let first = fx.host.load(&path).await.unwrap();
    let again = fx.host.load(&path).await.unwrap();
    assert!(again.from_cache());
    assert_eq!(first.sha256(), again.sha256());
    // Another component under the same name (a rebuild, a redeploy).
    let other = PathBuf::from(PLUGINS).join("cocagne_gardens.wasm");
    if other.is_file() {
        std::fs::copy(&other, &path).unwrap();
        let replaced = fx.host.load(&path).await.unwrap();
        assert_ne!(replaced.sha256(), first.sha256());
        let (g, _) = grants(&[]);
        let mut instance = fx.host.instantiate(&replaced, g).await.unwrap();
        assert_eq!(instance.spec().await.unwrap().name, "cocagne-gardens");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_plugin_file_is_hashed_again() {
    // The cache remembers each file's hash by its identity, so that a large
    // (Python) component is not re-read and hashed on every load; a file
    // replaced under the same name must not get the old one's compiled code,
    // nor must a remembered hash that is not the hub's own.
    let fx = fixture(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.wasm");
    std::fs::copy(wasm("misbehave"), &path).unwrap();
    let first = fx.host.load(&path).await.unwrap();
    assert!(!first.from_cache());
    let again = fx.host.load(&path).await.unwrap();
    assert!(again.from_cache());
    assert_eq!(again.sha256(), first.sha256());

    let other = std::fs::read(wasm("cocagne_gardens")).unwrap();
    std::fs::write(&path, &other).unwrap();
    let replaced = fx.host.load(&path).await.unwrap();
    assert!(!replaced.from_cache());
    assert_eq!(replaced.sha256(), hex::encode(Sha256::digest(&other)));
    let (g, _) = grants(&[]);
    let mut instance = fx.host.instantiate(&replaced, g).await.unwrap();
    assert_eq!(instance.spec().await.unwrap().name, "cocagne-gardens");

    // A remembered hash rewritten by someone else is not believed: the
    // file is hashed again (and gets its own, right, compiled code).
    let cache_dir = fx.cache.path().join("cache");
    for entry in std::fs::read_dir(&cache_dir).unwrap() {
        let entry = entry.unwrap().path();
        if entry.extension().is_some_and(|e| e == "sha256") {
            let mut bytes = std::fs::read(&entry).unwrap();
            let body = bytes.len() - 64;
            bytes[body..].copy_from_slice(first.sha256().as_bytes());
            std::fs::write(&entry, bytes).unwrap();
        }
    }
    // (A restarted hub: this host would take the plugin from memory.)
    let restarted = PluginHost::new(fx.host.settings().clone()).unwrap();
    let checked = restarted.load(&path).await.unwrap();
    assert_eq!(checked.sha256(), replaced.sha256());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_converts_to_the_model() {
    let fx = fixture(|_| {});
    let (g, _) = grants(&[]);
    let mut instance = misbehave(&fx, g).await;
    let spec = instance.spec().await.unwrap();
    assert_eq!(spec.name, "misbehave");
    assert_eq!(spec.wit_version, "0.2.0");
    assert_eq!(spec.config_schema["required"][0], "mode");
    assert_eq!(
        spec.streams[0].entity,
        crate::model::EntityKind::Participation
    );
    let check = instance.check(&config("ok", None)).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
    let streams = instance
        .discover(&config("ok", None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(streams[0].name, "events");

    let path = PathBuf::from(PLUGINS).join("cocagne_gardens.wasm");
    if path.is_file() {
        let plugin = fx.host.load(&path).await.unwrap();
        assert_eq!(plugin.wit_version(), "0.2.0");
        let (g, _) = grants(&[]);
        let mut instance = fx.host.instantiate(&plugin, g).await.unwrap();
        let spec = instance.spec().await.unwrap();
        assert!(spec.config_schema.is_object(), "{:?}", spec.config_schema);
        assert!(!spec.streams.is_empty());
        assert_eq!(spec.wit_version, "0.2.0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_inbox_or_bad_grant_is_refused_before_running() {
    let fx = fixture(|_| {});
    let plugin = fx.host.load(&wasm("misbehave")).await.unwrap();
    let (mut g, _) = grants(&["https://with-scheme.example.org".into()]);
    let err = fx.host.instantiate(&plugin, g.clone()).await.unwrap_err();
    assert!(matches!(err, HostError::Grant { .. }), "{err:?}");
    g.allowed_hosts.clear();
    g.inbox = Some(fx.cache.path().join("no-such-dir"));
    let err = fx.host.instantiate(&plugin, g).await.unwrap_err();
    assert!(matches!(err, HostError::Io { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_a_plugin_asleep_in_a_call_and_sleeping_is_not_cpu() {
    let fx = fixture(|s| s.call_cpu_deadline = Duration::from_millis(300));
    let (g, _) = grants(&[]);
    let mut instance = misbehave(&fx, g).await;
    // Asleep for a second with a 300 ms CPU deadline: waiting is not CPU.
    let nap = serde_json::json!({"mode": "sleep", "seconds": 1}).to_string();
    let batch = instance.read(&nap, "events", None).await.unwrap();
    assert!(batch.is_ok(), "{batch:?}");

    let token = CancellationToken::new();
    instance.set_cancel(Some(token.clone()));
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let err = instance
        .read(&config("sleep", None), "events", None)
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::Interrupted), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(instance.is_poisoned());
    // Refused at once from now on.
    let err = instance.spec().await.unwrap_err();
    assert!(matches!(err, HostError::Interrupted), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_a_spinning_plugin_too() {
    let fx = fixture(|_| {});
    let (g, _) = grants(&[]);
    let mut instance = misbehave(&fx, g).await;
    let token = CancellationToken::new();
    instance.set_cancel(Some(token.clone()));
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let err = instance
        .read(&config("spin", None), "events", None)
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::Interrupted), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_data_is_refused_before_or_after_the_copy() {
    let fx = fixture(|s| {
        s.max_call_bytes = 1024 * 1024;
        s.max_record_bytes = 64 * 1024;
        s.max_string_bytes = 16 * 1024;
    });
    let (g, _) = grants(&[]);
    let mut instance = misbehave(&fx, g.clone()).await;
    // Over the per-call copy limit: wasmtime refuses before copying.
    let huge = serde_json::json!({"mode": "huge-string", "bytes": 2_000_000}).to_string();
    let err = instance.read(&huge, "events", None).await.unwrap_err();
    assert!(
        matches!(err, HostError::CallDataTooLarge { limit_bytes } if limit_bytes == 1024 * 1024),
        "{err:?}"
    );
    assert!(err.to_string().contains("limits.max_call_mib"), "{err}");

    let mut instance = misbehave(&fx, g).await;
    let long = serde_json::json!({"mode": "huge-string", "bytes": 20_000}).to_string();
    let err = instance.read(&long, "events", None).await.unwrap_err();
    assert!(
        matches!(&err, HostError::StringTooLong { at, bytes: 20_000, .. } if at == "items[0].entity.Participation.kind"),
        "{err:?}"
    );
    let fine = serde_json::json!({"mode": "huge-string", "bytes": 10_000}).to_string();
    let batch = instance.read(&fine, "events", None).await.unwrap().unwrap();
    assert_eq!(batch.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_lines_and_the_http_summary_outlive_a_log_flood() {
    let fx = fixture(|s| s.max_log_lines = 50);
    let (g, lines) = grants(&[]);
    let mut instance = misbehave(&fx, g).await;
    let flood = serde_json::json!({
        "mode": "flood", "lines": 500, "urls": ["http://partner.invalid/x"]
    })
    .to_string();
    let result = instance.read(&flood, "events", None).await.unwrap();
    assert!(result.is_err());
    drop(instance);
    let log = logged(&lines);
    assert!(
        log.contains("log truncated: the plugin wrote more than 50 lines"),
        "{log}"
    );
    assert!(log.contains("partner.invalid/x denied"), "{log}");
    assert!(
        log.contains("http: 0 requests, statuses {}, 0 retries, waited 0.0ns, 1 denied, 0 failed"),
        "{log}"
    );
    assert!(!log.contains("flood line 100"), "{log}");
}

#[test]
fn instance_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    #[allow(clippy::diverging_sub_expression)]
    fn check(instance: &mut Instance, host: &PluginHost, plugin: &Plugin, grants: Grants) {
        assert_send(&instance.read("", "", None));
        assert_send(&instance.spec());
        assert_send(&host.instantiate(plugin, grants));
        assert_send(&host.load(std::path::Path::new("")));
    }
    let _ = check;
}
