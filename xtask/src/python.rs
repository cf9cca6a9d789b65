//! Python connectors: `plugins/python/<name>/app.py` (with the SDK of
//! `plugins/python/sdk`) built with componentize-py
//! into `plugins/target/wasm32-wasip2/release/<name>.wasm`, beside the Rust ones.
//!
//! componentize-py comes from PyPI into a venv of our own (`target/python-venv`),
//! pinned, so a fresh machine needs only `python3`. Installing is skipped when the
//! pinned version is already there, and a connector is rebuilt only when its
//! inputs (its folder, the SDK, the contract, the tool's version) changed: each
//! build takes ~15 s of CPU and makes an ~18 MB component.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The componentize-py release the hub is tested with. Its components import
/// WASI 0.2 and the contract only, which wasmtime 48 (the hub's) links.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The contract Python connectors are built against.
const WIT_DIR: &str = "wit/since_v0.2.0";
const WORLD: &str = "connector-plugin";

fn venv(root: &Path) -> PathBuf {
    root.join("target/python-venv")
}

fn venv_bin(root: &Path, name: &str) -> PathBuf {
    venv(root).join("bin").join(name)
}

/// The interpreter that creates the venv: `$PYTHON`, else `python3`.
fn system_python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The installed componentize-py's version, if any.
fn installed_version(root: &Path) -> Option<String> {
    let out = Command::new(venv_bin(root, "componentize-py"))
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_string)
}

/// Creates the venv and installs the pinned componentize-py, unless already done.
pub fn ensure_componentize_py(root: &Path) -> anyhow::Result<PathBuf> {
    let tool = venv_bin(root, "componentize-py");
    if installed_version(root).as_deref() == Some(COMPONENTIZE_PY) {
        return Ok(tool);
    }
    if !venv_bin(root, "python").exists() {
        let python = system_python();
        run(
            Command::new(&python).args(["-m", "venv"]).arg(venv(root)),
            &format!(
                "`{python} -m venv target/python-venv` (Python connectors need Python 3.10 or later; set PYTHON to choose one)"
            ),
        )?;
    }
    run(
        Command::new(venv_bin(root, "python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("componentize-py=={COMPONENTIZE_PY}"),
        ]),
        &format!("pip install componentize-py=={COMPONENTIZE_PY} into target/python-venv"),
    )?;
    match installed_version(root) {
        Some(v) if v == COMPONENTIZE_PY => Ok(tool),
        other => bail!(
            "componentize-py {COMPONENTIZE_PY} was installed but `componentize-py --version` says {other:?}"
        ),
    }
}

/// The Python connectors: folders of `plugins/python` holding an `app.py`.
fn connectors(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = root.join("plugins/python");
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.join("app.py").is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Hashes the files (names and bytes) under `dirs`, skipping caches.
fn inputs_hash(dirs: &[PathBuf]) -> anyhow::Result<String> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "__pycache__" || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, files)?;
            } else {
                files.push(path);
            }
        }
        Ok(())
    }
    let mut hasher = DefaultHasher::new();
    COMPONENTIZE_PY.hash(&mut hasher);
    for dir in dirs {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        files.sort();
        for file in files {
            file.hash(&mut hasher);
            std::fs::read(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .hash(&mut hasher);
        }
    }
    Ok(format!("{:016x}", hasher.finish()))
}

pub fn build_connectors(root: &Path) -> anyhow::Result<()> {
    let connectors = connectors(root)?;
    if connectors.is_empty() {
        return Ok(());
    }
    let tool = ensure_componentize_py(root)?;
    let out_dir = root.join("plugins/target/wasm32-wasip2/release");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let sdk = root.join("plugins/python/sdk/vivres_sdk");
    let wit = root.join(WIT_DIR);
    for connector in connectors {
        let name = connector
            .file_name()
            .and_then(|n| n.to_str())
            .context("a Python connector folder without a UTF-8 name")?
            .replace('-', "_");
        let out = out_dir.join(format!("{name}.wasm"));
        let stamp = out_dir.join(format!("{name}.wasm.inputs"));
        let hash = inputs_hash(&[connector.clone(), sdk.clone(), wit.clone()])?;
        if out.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(hash.as_str()) {
            println!("python connector {name}: up to date");
            continue;
        }
        println!("python connector {name}: building with componentize-py {COMPONENTIZE_PY}");
        run(
            Command::new(&tool)
                .arg("-d")
                .arg(&wit)
                .args(["-w", WORLD, "componentize", "app"])
                .arg("-p")
                .arg(&connector)
                .arg("-p")
                .arg(root.join("plugins/python/sdk"))
                .arg("-o")
                .arg(&out)
                // Only the folders above go into the component, never a venv's packages.
                .env_remove("VIRTUAL_ENV"),
            &format!("componentize-py for {}", connector.display()),
        )?;
        std::fs::write(&stamp, hash)
            .with_context(|| format!("cannot write {}", stamp.display()))?;
    }
    Ok(())
}

/// Runs the Python SDK's and connectors' unit tests natively, against the
/// generated bindings (host functions are not available outside the hub).
pub fn test_sdk(root: &Path) -> anyhow::Result<()> {
    let tool = ensure_componentize_py(root)?;
    let bindings = root.join("target/python-bindings");
    // componentize-py refuses to write into an existing folder: regenerate it whole.
    if bindings.exists() {
        std::fs::remove_dir_all(&bindings)
            .with_context(|| format!("cannot remove {}", bindings.display()))?;
    }
    run(
        Command::new(&tool)
            .arg("-d")
            .arg(root.join(WIT_DIR))
            .args(["-w", WORLD, "bindings"])
            .arg(&bindings),
        "componentize-py bindings",
    )?;
    let sdk = root.join("plugins/python/sdk");
    let mut suites = vec![sdk.clone()];
    suites.extend(connectors(root)?);
    for suite in suites {
        if !suite.join("tests").is_dir() {
            continue;
        }
        let path = [bindings.clone(), sdk.clone(), suite.clone()];
        let pythonpath = std::env::join_paths(&path).context("a path cannot go into PYTHONPATH")?;
        run(
            Command::new(venv_bin(root, "python"))
                .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
                .current_dir(&suite)
                .env("PYTHONPATH", pythonpath),
            &format!("the Python unit tests of {}", suite.display()),
        )?;
    }
    Ok(())
}
