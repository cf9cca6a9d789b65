//! `cargo xtask schemathesis` (and the end of `cargo xtask test`): the admin
//! API against its own OpenAPI document, with schemathesis.
//!
//! A real `vivres serve` on 127.0.0.1 (a fresh data dir under
//! `target/tmp/schemathesis`, sources of both kinds, a file in an inbox, a
//! partner that refuses connections) is tested once per role's token
//! (admin, coordinator, evaluator): every check, every phase (examples,
//! coverage, fuzzing, stateful), a bounded number of examples per operation
//! and a fixed seed, so that a run takes a few minutes on two cores and a
//! failure can be replayed. Any failure fails the task.
//!
//! schemathesis comes from PyPI into a venv of our own
//! (`target/schemathesis-venv`), pinned, installed once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use crate::python::{pip_install, run};

/// The schemathesis release the API is tested with.
pub const SCHEMATHESIS: &str = "4.32.5";
/// Test cases per operation and phase (schemathesis' `--max-examples`).
const MAX_EXAMPLES: &str = "25";
/// Fixed, so that a failure found in CI replays on a laptop.
const SEED: &str = "20241";

fn venv(root: &Path) -> PathBuf {
    root.join("target/schemathesis-venv")
}

fn venv_bin(root: &Path, name: &str) -> PathBuf {
    venv(root).join("bin").join(name)
}

fn installed_version(root: &Path) -> Option<String> {
    let out = Command::new(venv_bin(root, "st"))
        .arg("--version")
        .output()
        .ok()?;
    // `st, version 4.32.5`
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().last().map(str::to_string)
}

/// Creates the venv and installs the pinned schemathesis, unless already done.
fn ensure_schemathesis(root: &Path) -> anyhow::Result<PathBuf> {
    let tool = venv_bin(root, "st");
    if installed_version(root).as_deref() == Some(SCHEMATHESIS) {
        return Ok(tool);
    }
    pip_install(
        &venv(root),
        &format!("schemathesis=={SCHEMATHESIS}"),
        "the API's schemathesis tests",
    )?;
    Ok(tool)
}

/// The hub under test: its config, sources of both kinds.
fn config(work: &Path, plugins: &Path) -> String {
    format!(
        r#"[hub]
data_dir = "{data}"
plugins_dir = "{plugins}"

[privacy]
pseudonym_key = {{ env = "VIVRES_SCHEMATHESIS_KEY" }}

[limits]
http_max_retries = 0
http_timeout_seconds = 2

[[territories]]
id = "lyon"
name = "Métropole de Lyon"
epci = ["200046977"]

[[territories]]
id = "toulouse"
name = "Toulouse Métropole"
epci = ["243100518"]

# A partner API that refuses connections: its runs fail, quickly.
[[sources]]
id = "cocagne-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["127.0.0.1:9"]
[sources.config]
base_url = "http://127.0.0.1:9/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
[sources.secrets]
api_token = {{ value = "token-lyon" }}

# Export files: an inbox, with one file in it.
[[sources]]
id = "civam-lyon"
connector = "civam-diagnostics"
network = "civam"
territory = "lyon"
inbox = true
streams = ["diagnostics"]

[[sources]]
id = "cocagne-toulouse"
connector = "cocagne-gardens"
network = "cocagne"
territory = "toulouse"
inbox = true
allowed_hosts = ["127.0.0.1:9"]
[sources.config]
base_url = "http://127.0.0.1:9/toulouse"
token_secret = "api_token"
garden = "jardin-toulouse"
[sources.secrets]
api_token = {{ value = "token-toulouse" }}
"#,
        data = work.join("data").display(),
        plugins = plugins.display(),
    )
}

/// What schemathesis is told beyond the document: where the hub's own
/// resources are, so that the operations on `{{id}}` reach real ones too.
fn settings() -> &'static str {
    r#"[generation]
# Unicode beyond ASCII is tested by the e2e tests; here it only slows down.
codec = "ascii"
allow-x00 = false

[phases.stateful]
max-steps = 30

# Exports refuse, with 400, what depends on the table or on this hub and
# that OpenAPI cannot say per entity: `from`/`to` on a table without a date
# column, `from` after `to`, a territory the hub does not have.
[[operations]]
include-path = "/api/v1/data/{entity}"
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404"]
"#
}

struct Hub {
    child: Child,
    base: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // SIGTERM, as systemd would stop it; the API stops at once.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn vivres(binary: &Path, config: &Path) -> Command {
    let mut c = Command::new(binary);
    c.arg("--config")
        .arg(config)
        .env(
            "VIVRES_SCHEMATHESIS_KEY",
            "schemathesis-pseudonym-key-0123456789abcdef",
        )
        .env_remove("RUST_LOG");
    c
}

/// `vivres serve` on 127.0.0.1 (a port the system picks), its log in `log`.
fn serve(binary: &Path, config: &Path, log: &Path) -> anyhow::Result<Hub> {
    let mut child = vivres(binary, config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start vivres serve")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(url) = line.split("admin API on ").nth(1) {
            base = Some(url.trim().trim_end_matches("/api/v1").to_string());
            break;
        }
        seen.push(line);
    }
    let Some(base) = base else {
        let _ = child.kill();
        bail!("vivres serve did not start:\n{}", seen.join("\n"));
    };
    // The rest of its log goes to a file (a full pipe would stop it).
    let mut file = std::fs::File::create(log)?;
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes());
        }
    });
    Ok(Hub { child, base })
}

fn token(binary: &Path, config: &Path, role: &str, extra: &[&str]) -> anyhow::Result<String> {
    let out = vivres(binary, config)
        .args([
            "token",
            "create",
            "--role",
            role,
            "--name",
            &format!("st-{role}"),
        ])
        .args(extra)
        .output()
        .context("cannot run vivres token create")?;
    if !out.status.success() {
        bail!(
            "vivres token create --role {role}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs schemathesis once per role; fails on any failure. Prints the case
/// counts per role.
pub fn test_api(root: &Path, cargo: impl Fn(&[&str]) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let st = ensure_schemathesis(root)?;
    // The binary the e2e tests use (built with the same features, so
    // after `cargo test` this builds nothing).
    cargo(&["test", "--package", "vivres", "--no-run"])?;
    let binary = root.join("target/debug/vivres");
    let plugins = root.join("plugins/target/wasm32-wasip2/release");
    let work = root.join("target/tmp/schemathesis");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let config_path = work.join("vivres.toml");
    std::fs::write(&config_path, config(&work, &plugins))?;
    let settings_path = work.join("schemathesis.toml");
    std::fs::write(&settings_path, settings())?;
    let export = plugins
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|p| p.join("civam-diagnostics/data/idea4_200417.json"))
        .context("no plugins folder")?;
    run(
        vivres(&binary, &config_path)
            .arg("migrate")
            .stdout(Stdio::null()),
        "vivres migrate",
    )?;
    run(
        vivres(&binary, &config_path)
            .args(["inbox", "add", "civam-lyon"])
            .arg(&export)
            .stdout(Stdio::null()),
        "vivres inbox add",
    )?;
    let tokens = [
        ("admin", token(&binary, &config_path, "admin", &[])?),
        (
            "coordinator",
            token(
                &binary,
                &config_path,
                "coordinator",
                &["--territory", "lyon"],
            )?,
        ),
        ("evaluator", token(&binary, &config_path, "evaluator", &[])?),
    ];
    let hub = serve(&binary, &config_path, &work.join("serve.log"))?;
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    for (role, token) in &tokens {
        let report = work.join(format!("{role}.junit.xml"));
        let out = Command::new(&st)
            .arg("--config-file")
            .arg(&settings_path)
            .args(["run", &format!("{}/api/v1/openapi.json", hub.base)])
            .args(["--url", &hub.base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all"])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
            .args(["--workers", "2", "--request-timeout", "30"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&report)
            .args(["--generation-database", "none", "--no-color"])
            // Its caches (`.hypothesis`, `.schemathesis`) stay in the work dir.
            .current_dir(&work)
            .env("NO_COLOR", "1")
            .output()
            .context("cannot run schemathesis")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        // `Test cases:` then, on the next line, `1009 generated, 1009 passed`.
        let cases = stdout
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Test cases:"))
            .nth(1)
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| "no count printed".to_string());
        summary.push(format!("{role}: {cases}"));
        if !out.status.success() {
            failed.push(*role);
        }
    }
    drop(hub);
    println!("schemathesis against the admin API:");
    for line in &summary {
        println!("  {line}");
    }
    if !failed.is_empty() {
        bail!(
            "schemathesis found failures as {} (hub log: {})",
            failed.join(", "),
            work.join("serve.log").display()
        );
    }
    Ok(())
}
