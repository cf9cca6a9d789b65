//! `vivres migrate` from several nodes at once, and the schema rule: only
//! `vivres migrate` changes the schema; every other command refuses a
//! warehouse that is not at its binary's version and says what to run. On
//! the backend `VIVRES_TEST_DATABASE_URL` names (SQLite by default).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vivres::warehouse::migrations::binary_version;
use vivres::warehouse::{MigrationLock, Warehouse, testing};

use crate::helpers::{KEY, Setup, config_text};

/// An empty database and a config naming it; no hub.
struct Fresh {
    db: testing::Guard,
    _dir: tempfile::TempDir,
    config_path: PathBuf,
    vars: BTreeMap<String, String>,
}

impl Fresh {
    async fn new() -> Fresh {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = testing::Guard::create(dir.path()).await;
        let setup = Setup {
            database_url: Some(db.url.clone()),
            ..Setup::default()
        };
        let config_path = dir.path().join("vivres.toml");
        std::fs::write(&config_path, config_text(dir.path(), &setup)).expect("config written");
        let mut vars = BTreeMap::new();
        vars.insert("SIMULATOR".to_string(), "127.0.0.1:1".to_string());
        vars.insert("E2E_KEY".to_string(), KEY.to_string());
        Fresh {
            db,
            _dir: dir,
            config_path,
            vars,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vivres"));
        c.arg("--config")
            .arg(&self.config_path)
            .args(args)
            .envs(&self.vars)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs a command that must end by itself within a minute.
    async fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().expect("vivres starts");
        finish(child, args).await
    }
}

async fn finish(mut child: Child, what: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`vivres {}` did not end within a minute", what.join(" "));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.wait_with_output().expect("output")
}

/// Whether `GET /api/v1/health` answers 200 (plain HTTP/1.0, no client to set up).
fn health_answers(addr: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut response = String::new();
    stream
        .write_all(b"GET /api/v1/health HTTP/1.0\r\nHost: vivres\r\n\r\n")
        .and_then(|()| stream.read_to_string(&mut response))
        .is_ok()
        && response.starts_with("HTTP/1.0 200")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Lines of a child's stderr, as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => panic!("no line with `{needle}` within a minute; saw {seen:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_migrates_one_applies_the_other_waits_and_succeeds() {
    let f = Fresh::new().await;
    // Hold the lock as a third node would, so that both surely contend.
    let lock = MigrationLock::acquire(&f.db.url).await.expect("lock");
    let mut a = f.command(&["migrate"]).spawn().expect("vivres migrate");
    let mut b = f.command(&["migrate"]).spawn().expect("vivres migrate");
    let (a_err, b_err) = (stderr_lines(&mut a), stderr_lines(&mut b));
    let (mut a_seen, mut b_seen) = (Vec::new(), Vec::new());
    wait_for_line(&a_err, "waiting for it to finish", &mut a_seen);
    wait_for_line(&b_err, "waiting for it to finish", &mut b_seen);
    assert!(a.try_wait().unwrap().is_none() && b.try_wait().unwrap().is_none());
    lock.release().await;

    let (a, b) = (finish(a, &["migrate"]).await, finish(b, &["migrate"]).await);
    let (a_out, b_out) = (text(&a.stdout), text(&b.stdout));
    assert!(a.status.success(), "{a_out} {a_seen:?}");
    assert!(b.status.success(), "{b_out} {b_seen:?}");
    let version = binary_version();
    let migrated = format!("migrated from schema version none to {version}");
    let already = format!("already at schema version {version}");
    assert!(
        (a_out.contains(&migrated) && b_out.contains(&already))
            || (b_out.contains(&migrated) && a_out.contains(&already)),
        "one migrates, the other finds nothing to do:\n{a_out}\n{b_out}"
    );

    // Each migration applied once; the warehouse opens at this binary's version.
    let w = Warehouse::open(&f.db.url).await.expect("opens");
    let rows = w
        .inspect("SELECT version, count(*) FROM _sqlx_migrations GROUP BY version")
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r[1].as_deref(), Some("1"), "{rows:?}");
    }
    // Reference data came with it, once.
    let sources = w.inspect("SELECT count(*) FROM sources").await.unwrap();
    assert_eq!(sources[0][0].as_deref(), Some("1"));
    w.close().await;

    // A third migrate later: nothing to do, no waiting.
    let c = f.run(&["migrate"]).await;
    assert!(c.status.success());
    let c_out = text(&c.stdout);
    assert!(
        c_out.contains(&already) && !c_out.contains("waited"),
        "{c_out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_binary_refuses_a_newer_warehouse_naming_both_versions() {
    let f = Fresh::new().await;
    let out = f.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A newer vivres migrated it since.
    let newer = 9_999_000;
    testing::pretend_newer_schema(&f.db.url, newer)
        .await
        .expect("row added");

    let binary = binary_version().to_string();
    for args in [
        &["migrate"][..],
        &["serve", "--listen", "127.0.0.1:0"],
        &["runs"],
        &["sync", "cocagne-lyon"],
    ] {
        let out = f.run(args).await;
        let err = text(&out.stderr);
        assert!(!out.status.success(), "`{}` ran: {err}", args.join(" "));
        assert!(
            err.contains(&format!(
                "schema is at version {newer}, newer than this binary"
            )) && err.contains(&format!("schema version {binary}"))
                && err.contains(env!("CARGO_PKG_VERSION")),
            "`{}`: {err}",
            args.join(" ")
        );
    }
    // Nothing was written: the database still says the newer version.
    let w = Warehouse::migrate(&f.db.url).await;
    assert!(matches!(
        w,
        Err(vivres::warehouse::WarehouseError::SchemaNewer { database, .. }) if database == newer
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_an_unmigrated_warehouse_says_what_to_run() {
    let f = Fresh::new().await;
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["sync", "cocagne-lyon"],
        &["token", "list"],
    ] {
        let out = f.run(args).await;
        let err = text(&out.stderr);
        assert!(!out.status.success(), "`{}` ran: {err}", args.join(" "));
        assert!(
            err.contains("has no schema yet: run `vivres migrate`"),
            "`{}`: {err}",
            args.join(" ")
        );
    }
    // Refusing created nothing: no SQLite file appeared.
    if let Some(path) = f.db.url.strip_prefix("sqlite://") {
        assert!(!std::path::Path::new(path).exists(), "{path} was created");
    }

    let out = f.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut serve = f
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .spawn()
        .expect("vivres serve");
    let lines = stderr_lines(&mut serve);
    let mut seen = Vec::new();
    wait_for_line(&lines, "vivres: admin API on", &mut seen);
    // Serving, signal handler in place, once /health answers.
    let addr = seen
        .last()
        .and_then(|l| l.strip_prefix("vivres: admin API on http://"))
        .and_then(|l| l.strip_suffix("/api/v1"))
        .expect("address")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !health_answers(&addr) {
        assert!(Instant::now() < deadline, "/health never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: kill sends SIGTERM to our own child.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let out = finish(serve, &["serve"]).await;
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(out.status.success(), "{:?} {seen:?} {rest:?}", out.status);
}
