//! `cargo xtask fuzz [--seconds N] [TARGET…]`: the fuzz targets of `fuzz/`
//! (see its README), each run for N seconds (30 by default: what
//! `cargo xtask test` runs) from a corpus seeded with the project's fixtures.
//! `cargo fuzz` is installed when missing; it needs nightly flags, which
//! `RUSTC_BOOTSTRAP=1` enables on the stable toolchain, and runs without a
//! sanitizer (safe Rust: we look for panics, overflows, endless loops).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Every target of `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &["french_data", "csv", "xlsx", "idea4", "config"];

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 30u32;
    let mut targets: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--seconds" {
            seconds = it
                .next()
                .and_then(|s| s.parse().ok())
                .context("--seconds takes a number")?;
        } else if let Some(t) = TARGETS.iter().find(|t| **t == arg.as_str()) {
            targets.push(t);
        } else {
            bail!(
                "unknown fuzz target `{arg}` (targets: {})",
                TARGETS.join(", ")
            );
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    install(root)?;
    let mut summary = Vec::new();
    for target in targets {
        let corpus = root.join("fuzz/corpus").join(target);
        seed(root, target, &corpus)?;
        println!("xtask: fuzzing `{target}` for {seconds} s");
        let out = Command::new(super::cargo_bin())
            .args(["fuzz", "run", "-s", "none", "--fuzz-dir", "fuzz", target])
            .arg(&corpus)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=2048",
                "-timeout=10",
                "-print_final_stats=1",
            ])
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root)
            .output()
            .with_context(|| format!("cannot run cargo fuzz on `{target}`"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let runs = stderr
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| "?".into());
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "fuzz target `{target}` failed after {runs} executions; its input is under fuzz/artifacts/{target}/ (turn it into a regression test):\n{}",
                tail.join("\n")
            );
        }
        summary.push(format!(
            "{target}: {runs} executions in {seconds} s, no crash"
        ));
    }
    for line in summary {
        println!("xtask: fuzz {line}");
    }
    Ok(())
}

/// `cargo fuzz`, installed from crates.io when missing.
fn install(root: &Path) -> anyhow::Result<()> {
    let present = Command::new(super::cargo_bin())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        println!("xtask: installing cargo-fuzz (once)");
        super::cargo(
            root,
            &["install", "cargo-fuzz", "--locked", "--version", "0.13.2"],
        )?;
    }
    Ok(())
}

/// Seeds a target's corpus with the project's own fixtures (idempotent).
fn seed(root: &Path, target: &str, corpus: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(corpus)?;
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    match target {
        "idea4" => {
            let data = root.join("plugins/civam-diagnostics/data");
            for entry in std::fs::read_dir(&data)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    seeds.push((name.into_owned(), std::fs::read(&path)?));
                }
            }
        }
        "french_data" => {
            let cases = std::fs::read_to_string(root.join("crates/vivres-fr/cases.json"))?;
            let cases: Vec<serde_json::Value> = serde_json::from_str(&cases)?;
            for (i, case) in cases.iter().enumerate() {
                if let Some(input) = case.get("input").and_then(|v| v.as_str()) {
                    seeds.push((format!("case-{i}"), input.as_bytes().to_vec()));
                }
            }
        }
        "csv" => {
            let header = "Date passage;N° dossier;Equipe;Composition;Nb adultes;Nb enfants;CP;Commune;Ressources mensuelles;Reste à vivre;Type aide;Montant;Commentaire\r\n";
            let row = "12/03/2024;A-17;Lyon 8;Personne seule;1;0;69008;Lyon;300-599;<300;2 x chèque 15€;30;\r\n";
            let text = format!("{header}{row};;;;;;;;;;;;\r\nTOTAL;;;;;;;;;;;30;\r\n");
            seeds.push(("secours-cp1252.csv".into(), windows_1252(&text)));
            seeds.push((
                "utf8-bom-comma.csv".into(),
                format!("\u{feff}Produit,Catégorie,Unité\n\"Carottes, vrac\",vegetable,kg\n")
                    .into_bytes(),
            ));
        }
        "config" => {
            // The example configurations, and each with an override and a
            // variable (`#env` lines, see `fuzz_targets/config.rs`).
            for file in ["config/vivres.toml", "deploy/vivres.production.toml"] {
                let text = std::fs::read_to_string(root.join(file))?;
                let name = file.replace('/', "-");
                seeds.push((
                    format!("env-{name}"),
                    format!(
                        "#env VIVRES_LIMITS__MAX_BATCH_ITEMS=500\n#env VIVRES_DB_PASSWORD=pw\n#env CREDENTIALS_DIRECTORY=/run/credentials/vivres\n{text}"
                    )
                    .into_bytes(),
                ));
                seeds.push((name, text.into_bytes()));
            }
        }
        _ => {}
    }
    for (name, bytes) in seeds {
        std::fs::write(corpus.join(name), bytes)?;
    }
    Ok(())
}

/// The few non-ASCII characters of the seeds, in Windows-1252.
fn windows_1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '°' => 0xB0,
            'à' => 0xE0,
            'è' => 0xE8,
            'é' => 0xE9,
            '€' => 0x80,
            c if c.is_ascii() => c as u8,
            _ => b'?',
        })
        .collect()
}
