//! `partner-sim`: the partner simulator as a process, for a hub running on its own.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use partner_sim::{Garden, SimConfig, Territory};

#[derive(Parser)]
#[command(version, about = "Simulates the partners' systems that Vivres reads")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Cocagne gardens' HTTP JSON API (partners §1) and the KoboToolbox
    /// survey API (§6) until Ctrl-C.
    Serve(ServeArgs),
    /// Write the partners' export files (§1 IAE, §2–§5) and what must become of them.
    Files(FilesArgs),
}

#[derive(Args)]
struct FilesArgs {
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Rows per file, roughly.
    #[arg(long, default_value_t = 1_000)]
    size: usize,
    /// Directory to write into (one sub-directory per network, plus expected.json).
    #[arg(long)]
    out: std::path::PathBuf,
}

fn files(args: FilesArgs) -> anyhow::Result<()> {
    let sets = partner_sim::files::write_all(&args.out, args.seed, args.size)?;
    let expected = args.out.join("expected.json");
    std::fs::write(&expected, serde_json::to_vec_pretty(&sets)?)?;
    for set in &sets {
        println!(
            "{:<24} {} files, {} rows",
            set.connector,
            set.files.len(),
            set.rows_total
        );
    }
    println!("expected outcomes: {}", expected.display());
    Ok(())
}

#[derive(Args)]
struct ServeArgs {
    /// Seed of the generated data: the same seed serves the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Deliveries per garden (subscriptions: size / 20 + 1).
    #[arg(long, default_value_t = 1_000)]
    size: usize,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Requests per minute per garden before 429 (the partner's is 120); unlimited if absent.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Items sharing one updated_at second.
    #[arg(long, default_value_t = 7)]
    ties: usize,
    /// Gardens to serve: territory ids, or `id=territory` for another garden of a
    /// territory (e.g. `lyon,vaise=lyon`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "lyon,toulouse,montpellier,aix-marseille"
    )]
    gardens: Vec<String>,
}

fn garden(spec: &str) -> anyhow::Result<Garden> {
    let (id, territory) = spec.split_once('=').unwrap_or((spec, spec));
    let territory: Territory = territory
        .parse()
        .with_context(|| format!("garden `{spec}`"))?;
    Ok(Garden::new(id, territory))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = SimConfig {
        gardens: args
            .gardens
            .iter()
            .map(|spec| garden(spec))
            .collect::<anyhow::Result<_>>()?,
        rate_limit_per_minute: args.rate_limit,
        ties: args.ties,
        ..SimConfig::demo(args.seed, args.size)
    };
    let sim = partner_sim::start_at(
        config.clone(),
        SocketAddr::from(([127, 0, 0, 1], args.port)),
    )
    .await?;
    println!("partner-sim serving on http://{}", sim.addr());
    for garden in &config.gardens {
        println!(
            "garden {} ({}): base_url={} token={}",
            garden.id,
            garden.territory,
            sim.base_url(&garden.id),
            garden.token
        );
    }
    let mut territories: Vec<Territory> = config.gardens.iter().map(|g| g.territory).collect();
    territories.sort();
    territories.dedup();
    for territory in territories {
        println!(
            "kobo form of {territory}: server={} asset_uid={} token={}",
            sim.kobo_url(),
            partner_sim::kobo::asset_uid(territory),
            partner_sim::kobo::KOBO_TOKEN
        );
    }
    println!(
        "control: POST http://{}/_control/fault[?garden=G]  body {{\"kind\":\"server_error\",\"times\":2}}",
        sim.addr()
    );
    println!(
        "control: POST http://{}/_control/change?garden=G&share=0.01",
        sim.addr()
    );
    println!(
        "control: GET  http://{}/_control/expected?garden=G | /_control/stats",
        sim.addr()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Files(args) => files(args),
    }
}
