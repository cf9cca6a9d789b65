//! `vivres demo`: the partner simulator in-process, the example config, one
//! sync per source, and a per-territory summary.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::app::Hub;
use crate::config::Config;
use crate::privacy::Pseudonymiser;
use crate::sync::{SyncOptions, sync_source};
use crate::warehouse::RunStatus;

pub async fn run(config_path: &Path, data_dir: &Path, size: usize) -> anyhow::Result<i32> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let key = demo_key(data_dir)?;
    let sim = partner_sim::start(partner_sim::SimConfig::demo(42, size)).await?;
    println!("partner simulator listening on http://{}", sim.addr());

    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    vars.insert("SIMULATOR".into(), sim.addr().to_string());
    vars.insert("VIVRES_PSEUDONYM_KEY".into(), key);
    vars.insert(
        "VIVRES_HUB__DATA_DIR".into(),
        data_dir.display().to_string(),
    );
    let config = Config::load_with(config_path, &vars)?;
    let hub = Hub::start(config, vars).await?;
    println!("warehouse: {}", hub.config.database_url());
    hand_over_files(&hub, data_dir, size)?;
    println!();

    let started = std::time::Instant::now();
    let syncs = hub
        .config
        .sources
        .iter()
        .filter(|s| s.plugin_path(&hub.config.hub.plugins_dir).exists())
        .map(|s| {
            let hub = &hub;
            async move {
                (
                    s.id.clone(),
                    sync_source(hub, &s.id, &SyncOptions::default()).await,
                )
            }
        });
    // A few at a time: SQLite has one writer, and the pool four connections.
    use futures::StreamExt;
    let mut results: Vec<_> = futures::stream::iter(syncs)
        .buffer_unordered(4)
        .collect()
        .await;
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failed = 0;
    for (source, result) in &results {
        match result {
            Ok(r) => {
                println!(
                    "{source:<24} run {:>3} {:<10} read {:>7}  inserted {:>7}  updated {:>6}  unchanged {:>7}  quarantined {:>5}",
                    r.id,
                    r.status.as_str(),
                    r.counts.read,
                    r.counts.inserted,
                    r.counts.updated,
                    r.counts.unchanged,
                    r.counts.quarantined
                );
                if r.status != RunStatus::Succeeded {
                    failed += 1;
                    println!("    error: {}", r.error.as_deref().unwrap_or("?"));
                }
            }
            Err(e) => {
                failed += 1;
                println!("{source:<24} error: {e}");
            }
        }
    }
    println!(
        "\nsynced {} sources in {:.1?}\n",
        results.len(),
        started.elapsed()
    );

    let summary = hub.warehouse.territory_summary().await?;
    let mut tables: Vec<&str> = summary.iter().map(|(_, t, _)| t.as_str()).collect();
    tables.sort();
    tables.dedup();
    print!("{:<36}", "territory");
    for t in &tables {
        print!("{t:>15}");
    }
    println!("{:>15}", "quarantined");
    let quarantine = hub.warehouse.quarantine(None, None, i64::MAX).await?;
    for territory in hub.config.territories.iter().filter(|t| t.active) {
        print!("{:<36}", territory.name);
        for t in &tables {
            let n = summary
                .iter()
                .find(|(ter, tab, _)| ter == &territory.id && tab == t)
                .map(|x| x.2)
                .unwrap_or(0);
            print!("{n:>15}");
        }
        let q = quarantine
            .iter()
            .filter(|q| {
                hub.config
                    .source(&q.source)
                    .is_some_and(|s| s.territory == territory.id)
            })
            .count();
        println!("{q:>15}");
    }
    println!(
        "\nIndicators, by year (a cell resting on fewer people than its minimum, \
         or that would let one be recomputed, is suppressed):\n"
    );
    match crate::indicators::publish(
        &hub.config,
        &hub.warehouse,
        &crate::indicators::Request::default(),
    )
    .await
    {
        Ok(cells) => print!(
            "{}",
            crate::indicators::format::render(&cells, crate::indicators::format::Format::Table)
        ),
        Err(e) => {
            failed += 1;
            println!("indicators: {e}");
        }
    }
    println!(
        "\nRun it again: the second sync is incremental (nothing inserted, nothing updated).\n\
         List the runs:  SIMULATOR=- VIVRES_HUB__DATA_DIR={dir} cargo run -q -p vivres -- runs\n\
         One run's log:  SIMULATOR=- VIVRES_HUB__DATA_DIR={dir} cargo run -q -p vivres -- run 1\n\
         One quarter:    SIMULATOR=- VIVRES_HUB__DATA_DIR={dir} cargo run -q -p vivres -- indicators --period 2024-Q1",
        dir = data_dir.display()
    );
    sim.shutdown().await;
    hub.warehouse.close().await;
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Writes each territory's partner export files once (households and farms
/// in its own communes, a size of its own, another seed: the four
/// territories' figures differ as they would in life) and adds them to the
/// inboxes of that territory's file sources (adding the same file again does
/// nothing).
fn hand_over_files(hub: &Hub, data_dir: &Path, size: usize) -> anyhow::Result<()> {
    let out = data_dir.join("partner-files");
    let mut added = 0;
    let mut written = Vec::new();
    for (i, territory) in hub
        .config
        .territories
        .iter()
        .filter(|t| t.active)
        .enumerate()
    {
        let Some(sim_territory) = partner_sim::Territory::ALL
            .into_iter()
            .find(|t| t.id() == territory.id)
        else {
            continue;
        };
        // Lyon full size, the others smaller and each differently.
        let share = [100, 65, 45, 30][i % 4];
        let files = (size / 4 * share / 100).max(50);
        let sets = partner_sim::files::write_all_in(
            &out.join(&territory.id),
            42 + i as u64,
            files,
            sim_territory,
        )?;
        for source in hub
            .config
            .sources
            .iter()
            .filter(|s| s.territory == territory.id)
        {
            let Some(inbox) = source.inbox_dir(&hub.config.hub.data_dir) else {
                continue;
            };
            for set in sets.iter().filter(|s| s.connector == source.connector) {
                for file in &set.files {
                    if !crate::inbox::add_file(&inbox, file)?.duplicate {
                        added += 1;
                    }
                }
            }
        }
        written.push(format!("{} ({files})", territory.id));
    }
    println!(
        "partner files of {} written to {}, {added} new files added to inboxes",
        written.join(", "),
        out.display()
    );
    Ok(())
}

/// The demo's pseudonymisation key, generated once into its data dir.
fn demo_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("pseudonym.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_string());
    }
    let key = Pseudonymiser::generate_key();
    std::fs::write(&path, key.expose())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key.expose().to_string())
}
