//! Headless Chromium for the web console's browser tests
//! (`tests/e2e/console.rs`): Debian's `chromium` and `chromium-driver`,
//! installed with apt-get when missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Installs the browser and its driver unless both are there.
pub fn ensure() -> anyhow::Result<()> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    eprintln!(
        "xtask: {CHROMIUM} or {CHROMEDRIVER} is missing: installing Debian's chromium and chromium-driver with apt-get (the console's browser tests need them)"
    );
    let apt = |args: &[&str]| -> anyhow::Result<bool> {
        Ok(Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("cannot run apt-get {}", args.join(" ")))?
            .success())
    };
    let installed =
        apt(&["update", "-qq"])? && apt(&["install", "-y", "-qq", "chromium", "chromium-driver"])?;
    if !installed || !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        bail!(
            "could not install chromium and chromium-driver with apt-get (root and Debian's package repositories are needed): \
             the web console's browser tests (tests/e2e/console.rs) cannot run without {CHROMIUM} and {CHROMEDRIVER}; \
             install them by hand (apt-get install -y chromium chromium-driver) and run the tests again"
        );
    }
    eprintln!("xtask: chromium and chromium-driver installed");
    Ok(())
}
