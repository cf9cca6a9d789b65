//! `cargo xtask <task>`: the project's set-up and test commands, so that a
//! fresh machine with only rustup's stable toolchain needs nothing else.
//!
//!   cargo xtask demo            build the plugins, run `vivres demo`
//!   cargo xtask test            build the plugins, run every test (the hub's on SQLite, then on
//!                               PostgreSQL), check deploy/*.service with systemd-analyze if present
//!   cargo xtask build-plugins   add the wasm32-wasip2 target, build the plugins
//!                               (Rust, and Python with componentize-py in a venv)
//!   cargo xtask test-python     the Python SDK's and connectors' unit tests
//!   cargo xtask bench [-- args] build in release, run `vivres bench`
//!   cargo xtask fuzz [--seconds N] [TARGET…]
//!                               run the fuzz targets of fuzz/ (30 s each by default)

mod fuzz;
mod python;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    // `cargo xtask bench -- --records 10` and `cargo xtask bench --records 10` alike.
    let rest: Vec<String> = args.skip_while(|a| a == "--").collect();
    let root = root();
    match task.as_str() {
        "build-plugins" => build_plugins(&root),
        "test-python" => python::test_sdk(&root),
        "demo" => {
            build_plugins(&root)?;
            let mut run = vec!["run", "--quiet", "--package", "vivres", "--", "demo"];
            run.extend(rest.iter().map(String::as_str));
            cargo(&root, &run)
        }
        "test" => {
            build_plugins(&root)?;
            // The guest SDK and the connectors' parsing are plain Rust: test them natively.
            cargo(
                &root,
                &[
                    "test",
                    "--manifest-path",
                    "plugins/Cargo.toml",
                    "--workspace",
                ],
            )?;
            python::test_sdk(&root)?;
            let mut test = vec!["test", "--workspace"];
            test.extend(rest.iter().map(String::as_str));
            cargo(&root, &test)?;
            // The hub's tests again, on PostgreSQL: every behaviour on both backends.
            let postgres = std::env::var("VIVRES_TEST_DATABASE_URL")
                .ok()
                .filter(|u| u.starts_with("postgres"))
                .unwrap_or_else(|| POSTGRES.to_string());
            require_postgres(&postgres)?;
            let mut test = vec!["test", "--package", "vivres"];
            test.extend(rest.iter().map(String::as_str));
            cargo_with_env(&root, &test, &[("VIVRES_TEST_DATABASE_URL", &postgres)])?;
            verify_systemd_units(&root)?;
            // The bounded fuzzing campaign: every target, 30 s each.
            fuzz::run(&root, &[])
        }
        "verify-systemd" => verify_systemd_units(&root),
        "fuzz" => fuzz::run(&root, &rest),
        "bench" => {
            build_plugins(&root)?;
            let mut run = vec![
                "run",
                "--release",
                "--quiet",
                "--package",
                "vivres",
                "--",
                "bench",
            ];
            run.extend(rest.iter().map(String::as_str));
            cargo(&root, &run)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <demo | test | build-plugins | test-python | bench | verify-systemd | fuzz> [args]"
            );
            bail!("unknown task `{task}`")
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// The PostgreSQL server the tests use (each test creates and drops its own database).
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL tests are not optional: without a server, say so and fail.
fn require_postgres(url: &str) -> anyhow::Result<()> {
    let parsed = url.strip_prefix("postgres://").unwrap_or(url);
    let host_port = parsed
        .split('/')
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    let addr = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&addr.as_str())
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok()
        });
    if !reachable {
        bail!(
            "no PostgreSQL server at {addr}: the suite runs on SQLite and on PostgreSQL; \
             start one (trust auth, user postgres) or set VIVRES_TEST_DATABASE_URL=postgres://user@host:port/db"
        );
    }
    Ok(())
}

/// `systemd-analyze verify` on deploy/*.service, warnings included (an
/// unknown key or system-call group is only a warning to systemd, and would
/// silently weaken the hardening). The units name /usr/local/bin/vivres,
/// which verify wants to exist: they are checked with it pointed at the
/// binary just built. Skipped, saying so, where systemd-analyze is missing
/// (it comes with systemd: `apt-get install systemd`).
fn verify_systemd_units(root: &Path) -> anyhow::Result<()> {
    let present = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!(
            "xtask: systemd-analyze not found: deploy/*.service not checked (apt-get install systemd)"
        );
        return Ok(());
    }
    // The tests built it already; a bare `verify-systemd` builds it.
    let binary = root.join("target/debug/vivres");
    if !binary.exists() {
        cargo(root, &["build", "--package", "vivres", "--bin", "vivres"])?;
    }
    let dir = root.join("target/tmp/systemd-verify");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut units = Vec::new();
    for entry in std::fs::read_dir(root.join("deploy")).context("cannot read deploy/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "service") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let unit = dir.join(path.file_name().unwrap_or_default());
            std::fs::write(
                &unit,
                text.replace("/usr/local/bin/vivres", &binary.display().to_string()),
            )?;
            units.push(unit);
        }
    }
    if units.is_empty() {
        bail!("no deploy/*.service to check");
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .context("cannot run systemd-analyze verify")?;
    let said = String::from_utf8_lossy(&out.stderr);
    let said = said.trim();
    if !out.status.success() || !said.is_empty() {
        bail!("systemd-analyze verify deploy/*.service:\n{said}");
    }
    println!("systemd units verified: {} (systemd-analyze)", units.len());
    Ok(())
}

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    cargo_with_env(root, args, &[])
}

fn cargo_with_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let status = Command::new(cargo_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn build_plugins(root: &Path) -> anyhow::Result<()> {
    // Needs rustup; on a machine without it the target must already be there.
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(false);
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .context("cannot run rustup to add the wasm32-wasip2 target")?;
        if !status.success() {
            bail!("rustup target add wasm32-wasip2 failed");
        }
    }
    // Plugins are shipped artefacts: small, and built optimised for size.
    cargo(
        root,
        &[
            "build",
            "--manifest-path",
            "plugins/Cargo.toml",
            "--target",
            "wasm32-wasip2",
            "--release",
            "--workspace",
        ],
    )?;
    python::build_connectors(root)
}
