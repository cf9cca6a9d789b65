//! The `vivres` command line: what an operator or a connector author does by hand.

pub(crate) mod progress;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::Hub;
use crate::config::Config;
use crate::plugin_host::{Grants, LogLine, PluginHost};
use crate::sync::{SyncOptions, sync_source};
use crate::warehouse::{RunReport, RunStatus, Warehouse};

#[derive(Debug, Parser)]
#[command(
    name = "vivres",
    version,
    about = "Vivres: the data-integration hub of Territoires à VivreS"
)]
pub struct Cli {
    /// Hub configuration file. It comes before the command
    /// (`vivres --config FILE sync …`): after `connector`, `--config` is the
    /// connector's own configuration.
    #[arg(long, default_value = "config/vivres.toml", env = "VIVRES_CONFIG")]
    pub config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the warehouse schema and load reference data.
    Migrate,
    /// Sync one source now and print its run report.
    Sync {
        source: String,
        /// Ignore saved checkpoints and read everything again.
        #[arg(long)]
        full_refresh: bool,
        /// Only this stream (repeatable).
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recent runs.
    Runs {
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one run: its report and its log (`vivres run cancel ID` cancels it).
    #[command(args_conflicts_with_subcommands = true)]
    Run {
        #[command(subcommand)]
        action: Option<RunAction>,
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// A source's pause after repeated failed runs: see it, lift it.
    Source {
        #[command(subcommand)]
        action: SourceAction,
    },
    /// Hand export files to a file-based source.
    Inbox {
        #[command(subcommand)]
        action: InboxAction,
    },
    /// Records refused by validation: list them, replay them after a fix.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineAction,
    },
    /// Run a connector plugin by hand (for connector authors).
    Connector {
        #[command(subcommand)]
        action: ConnectorAction,
    },
    /// Start the partner simulator, sync one Cocagne source per territory, print a summary.
    Demo {
        /// Deliveries per garden.
        #[arg(long, default_value_t = 2_000)]
        size: usize,
        #[arg(long, default_value = ".vivres/demo")]
        data_dir: PathBuf,
    },
    /// Measure end-to-end sync throughput against the raw sqlx ceiling.
    Bench {
        /// Deliveries to sync.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Instead: sync Secours Catholique CSV exports (Windows-1252) of about this many MB.
        #[arg(long)]
        files_mb: Option<usize>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL server to measure on (the bench creates and drops its
        /// own database there), e.g. postgres://postgres@127.0.0.1/postgres;
        /// default: a fresh SQLite file.
        #[arg(long)]
        database: Option<String>,
        #[command(subcommand)]
        mode: Option<BenchMode>,
    },
    /// Run the hub as a service: the admin API and the scheduler (stops cleanly on SIGTERM/SIGINT).
    Serve {
        /// Address the admin API listens on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "VIVRES_LISTEN")]
        listen: String,
        /// Largest file accepted by `POST /api/v1/sources/{id}/files`, MiB.
        #[arg(long, default_value_t = 64)]
        upload_limit_mib: usize,
    },
    /// Print the data dictionary: every table and column, its meaning
    /// (French and English), type, unit, provenance and connectors.
    Schema {
        #[arg(long, value_enum, default_value_t = SchemaFormat::Markdown)]
        format: SchemaFormat,
    },
    /// Export a unified table (pseudonyms only), streamed to a file; CSV and
    /// JSON Lines get a `FILE.meta.json` sidecar with the export's metadata.
    /// `vivres export dfc --out FILE.jsonld`: products, offers and orders as
    /// Data Food Consortium JSON-LD.
    Export {
        /// The table: a fact (`order_lines`, `households`…) or a fact's child
        /// (`survey_answers`, `diagnostic_scores`); see `vivres schema`. Or
        /// `dfc`.
        entity: String,
        /// Required for a table (a DFC export is JSON-LD).
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Only this territory (repeatable).
        #[arg(long = "territory")]
        territories: Vec<String>,
        /// Only this network (repeatable).
        #[arg(long = "network")]
        networks: Vec<String>,
        /// First day (YYYY-MM-DD) of the table's date column.
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD), included.
        #[arg(long)]
        to: Option<String>,
        /// CSV: decimals with a comma (French spreadsheets).
        #[arg(long)]
        decimal_comma: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Indicator × territory × period: value, n, unit, and whether the cell
    /// is suppressed (fewer people than its minimum, or it would reveal one).
    Indicators {
        /// Only this territory (repeatable).
        #[arg(long = "territory")]
        territories: Vec<String>,
        /// `2024`, `2024-Q1` or `2024-03` (repeatable; default: every year).
        #[arg(long = "period")]
        periods: Vec<String>,
        /// Only this indicator (repeatable; see `config/indicators/`).
        #[arg(long = "indicator")]
        indicators: Vec<String>,
        #[arg(long, value_enum, default_value_t = crate::indicators::format::Format::Table)]
        format: crate::indicators::format::Format,
    },
    /// One self-contained HTML file (inline CSS and SVG charts, no script,
    /// nothing fetched) with every indicator's table, chart and plain-French
    /// definition for a territory and a period, for the partners' meetings.
    Report {
        #[arg(long)]
        territory: String,
        /// `2024`, `2024-Q1` or `2024-03`.
        #[arg(long)]
        period: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// API tokens: create (shown once), list, revoke.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// (internal) write the partner files for `vivres bench --files-mb`.
    #[command(hide = true)]
    BenchFiles {
        #[arg(long)]
        rows: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// (internal) serve the partner simulator for `vivres bench`.
    #[command(hide = true)]
    BenchSimulator {
        #[arg(long)]
        size: usize,
    },
}

/// What `vivres bench` measures besides throughput.
#[derive(Debug, Subcommand)]
pub enum BenchMode {
    /// The crash campaign: SIGKILL a sync at random moments, resume each
    /// time, then compare the warehouse with a clean sync (exit code 1 on any
    /// lost, duplicated or stale row).
    Crash {
        /// Kills that must land on a running sync.
        #[arg(long, default_value_t = 100)]
        kills: usize,
        /// Deliveries at the simulated partner.
        #[arg(long, default_value_t = 5_000)]
        records: usize,
        /// Share of deliveries the partner changes between runs.
        #[arg(long, default_value_t = 0.02)]
        change: f64,
        /// Seed of the kill moments (printed; reuse it to replay a campaign).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL server (the campaign creates and drops its databases there).
        #[arg(long)]
        database: Option<String>,
    },
    /// Several nodes: how much faster two `vivres serve` nodes drain syncs
    /// that wait on partners than one, and the API's latency (p50–p99) on
    /// each node under a steady load meanwhile. Needs PostgreSQL.
    Nodes {
        /// The PostgreSQL server (the bench creates and drops its databases there).
        #[arg(long)]
        database: String,
        /// Sources synced in each drain.
        #[arg(long, default_value_t = 20)]
        sources: usize,
        /// Deliveries at the simulated partner.
        #[arg(long, default_value_t = 200)]
        records: usize,
        /// Delay of every partner answer during the timed drain (ms).
        #[arg(long, default_value_t = 1500)]
        delay_ms: u64,
        /// Requests per second sent to the API during the drain, spread
        /// evenly over the nodes.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaFormat {
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl From<ExportFormat> for crate::export::Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => crate::export::Format::Csv,
            ExportFormat::Jsonl => crate::export::Format::Jsonl,
            ExportFormat::Parquet => crate::export::Format::Parquet,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RunAction {
    /// Cancel a running run: the process running it stops it within a
    /// second and marks it cancelled (what it committed stays).
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SourceAction {
    /// List the sources paused after repeated failed runs.
    Paused {
        #[arg(long)]
        json: bool,
    },
    /// Resume a paused source: its scheduled runs run again.
    Resume { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it: it is shown only this once.
    Create {
        /// admin, coordinator or evaluator.
        #[arg(long)]
        role: String,
        /// A territory a coordinator acts on (repeatable; coordinators only).
        #[arg(long = "territory")]
        territories: Vec<String>,
        /// Who holds it (shown in logs instead of the token).
        #[arg(long)]
        name: String,
        /// Also print a one-time link that signs in to the web console once
        /// (within 24 hours), to hand over instead of the token.
        #[arg(long)]
        link: bool,
        /// Where the console is reached, for `--link`.
        #[arg(
            long,
            env = "VIVRES_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
    /// List tokens (names, roles, territories; never the tokens).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke the live token of that name.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum InboxAction {
    /// Add files (stored by content: adding the same file twice does nothing).
    Add {
        source: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print what was added as JSON (and no progress).
        #[arg(long)]
        json: bool,
    },
    /// List the files of a source's inbox, in arrival order.
    List {
        source: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineAction {
    /// Open quarantine entries (records still refused in the latest version of
    /// their file): file, line, reason and field (never a personal value).
    List {
        #[arg(long)]
        source: Option<String>,
        /// Entries of this run (open and closed ones).
        #[arg(long)]
        run: Option<i64>,
        /// Closed entries too, with why and when they closed.
        #[arg(long, conflicts_with = "closed")]
        all: bool,
        /// Only closed entries, with why and when they closed.
        #[arg(long)]
        closed: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Re-read a source in full (after a connector or reference-data fix): records
    /// now valid are stored, the others are quarantined again; earlier entries close.
    Replay {
        source: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectorAction {
    /// Print the connector's spec.
    Spec(ConnectorArgs),
    /// Check the configuration against the partner.
    Check(ConnectorArgs),
    /// List the streams the connector offers.
    Discover(ConnectorArgs),
    /// Read one batch of a stream (all batches with --all).
    Read {
        #[command(flatten)]
        args: ConnectorArgs,
        #[arg(long)]
        stream: String,
        /// File holding the checkpoint state to start from.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Keep reading until the connector says no more remain.
        #[arg(long)]
        all: bool,
    },
    /// Write a new connector that builds and passes `connector test` as it is.
    New {
        /// The connector's name: lowercase letters, digits and dashes (`food-parcels`).
        name: String,
        #[arg(long, value_enum)]
        lang: crate::scaffold::Lang,
        /// Where to write it (default: ./<name>); must be empty or absent.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Your Vivres checkout, whose SDK and contract the connector uses
        /// (default: found above the current directory or the `vivres` binary).
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// The offline acceptance suite: spec, check, discover, full and resumed
    /// reads, duplicates, records, personal values, on recorded fixtures.
    Test {
        #[command(flatten)]
        args: ConnectorArgs,
        /// Fixtures: `http.json` (recorded HTTP, replayed offline), `inbox/`
        /// (sample files), `planted.txt` (values that must never leak).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Call the partner (or the simulator) for real and record every
        /// exchange into <fixtures>/http.json, secrets redacted.
        #[arg(long, requires = "fixtures")]
        record: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    /// The plugin's .wasm file.
    pub plugin: PathBuf,
    /// The connector configuration (JSON file).
    #[arg(long = "config", id = "connector_config")]
    pub connector_config: Option<PathBuf>,
    /// A host the plugin may call (repeatable), e.g. 127.0.0.1:8080.
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// Directory mounted read-only at /inbox.
    #[arg(long)]
    pub inbox: Option<PathBuf>,
    /// A secret the plugin may ask for, NAME=VALUE (repeatable).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
}

pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn env_vars() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

/// Runs a parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Schema { format } => {
            let d = crate::warehouse::schema::dictionary();
            match format {
                SchemaFormat::Markdown => print!("{}", crate::warehouse::schema::markdown(&d)),
                SchemaFormat::Json => println!("{}", serde_json::to_string_pretty(&d)?),
            }
            Ok(0)
        }
        Command::Export {
            entity,
            format,
            territories,
            networks,
            from,
            to,
            decimal_comma,
            out,
        } => {
            let config = Config::load(&cli.config)?;
            for t in &territories {
                if !config.territories.iter().any(|k| &k.id == t) {
                    let known: Vec<&str> =
                        config.territories.iter().map(|k| k.id.as_str()).collect();
                    bail!("unknown territory `{t}` (known: {})", known.join(", "));
                }
            }
            let filters = crate::export::Filters {
                territories,
                networks,
                from,
                to,
            };
            if entity == "dfc" {
                let warehouse = Warehouse::open(&config.database_url()).await?;
                let started = std::time::Instant::now();
                let c = crate::export::dfc::to_file(&warehouse, &filters, &out).await?;
                eprintln!(
                    "exported {} products, {} offers, {} orders and {} order lines as DFC JSON-LD to {} in {:.2} s",
                    c.products,
                    c.offers,
                    c.orders,
                    c.order_lines,
                    out.display(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(0);
            }
            let Some(format) = format else {
                bail!("--format csv|jsonl|parquet is required to export a table");
            };
            // Refuse a bad request before touching the database.
            crate::export::query(&entity, &filters)?;
            let warehouse = Warehouse::open(&config.database_url()).await?;
            let started = std::time::Instant::now();
            let shown = progress::follow_file(out.clone(), progress::Mode::of(false));
            let meta = crate::export::to_file(
                &warehouse,
                &entity,
                format.into(),
                &filters,
                decimal_comma,
                &out,
            )
            .await;
            shown.finish().await;
            let meta = meta?;
            eprintln!(
                "exported {} rows of {entity} to {} in {:.2} s",
                meta.rows.unwrap_or(0),
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(0)
        }
        Command::Indicators {
            territories,
            periods,
            indicators,
            format,
        } => {
            let req = crate::indicators::Request::parse(territories, &periods, indicators)?;
            let config = Config::load(&cli.config)?;
            let warehouse = Warehouse::open(&config.database_url()).await?;
            let cells = crate::indicators::publish(&config, &warehouse, &req).await?;
            print!("{}", crate::indicators::format::render(&cells, format));
            Ok(0)
        }
        Command::Report {
            territory,
            period,
            out,
        } => crate::report::run(&cli.config, &territory, &period, &out).await,
        Command::Migrate => {
            let config = Config::load(&cli.config)?;
            let (hub, report) = Hub::migrate(config, env_vars()).await?;
            let url = crate::warehouse::redact_url(&hub.config.database_url());
            if report.waited.as_secs_f64() >= 0.5 {
                println!(
                    "waited {:.1} s for another `vivres migrate` to finish",
                    report.waited.as_secs_f64()
                );
            }
            if report.applied.is_empty() {
                println!(
                    "warehouse already at schema version {}: nothing to apply ({url})",
                    report.after
                );
            } else {
                let applied: Vec<String> = report
                    .applied
                    .iter()
                    .map(|(v, d)| format!("{v:04} {d}"))
                    .collect();
                println!(
                    "warehouse migrated from schema version {} to {}: applied {} ({url})",
                    report
                        .before
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "none".into()),
                    report.after,
                    applied.join(", ")
                );
            }
            Ok(0)
        }
        Command::Sync {
            source,
            full_refresh,
            streams,
            json,
        } => {
            let config = Config::load(&cli.config)?;
            let hub = Hub::open(config, env_vars()).await?;
            let options = SyncOptions {
                full_refresh,
                streams: (!streams.is_empty()).then_some(streams),
                ..SyncOptions::default()
            };
            let shown = progress::follow_sync(
                hub.warehouse.clone(),
                source.clone(),
                progress::Mode::of(json),
            );
            let report = sync_source(&hub, &source, &options).await;
            shown.finish().await;
            let report = report?;
            if json {
                let full = report_json(&hub.warehouse, &report).await?;
                println!("{}", serde_json::to_string_pretty(&full)?);
            } else {
                print_report(&report);
                print_streams(&hub.warehouse.run_streams(report.id).await?);
            }
            Ok(if report.status == RunStatus::Succeeded {
                0
            } else {
                1
            })
        }
        Command::Runs {
            source,
            limit,
            json,
        } => {
            let config = Config::load(&cli.config)?;
            let warehouse = Warehouse::open(&config.database_url()).await?;
            let runs = warehouse.runs(source.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print!("{}", runs_table(&runs));
            }
            Ok(0)
        }
        Command::Run {
            action: Some(RunAction::Cancel { id }),
            ..
        } => {
            let config = Config::load(&cli.config)?;
            let warehouse = Warehouse::open(&config.database_url()).await?;
            if warehouse.request_cancel(id).await? {
                println!("run {id} cancelled (the process running it had stopped)");
            } else {
                println!(
                    "run {id}: cancel asked for; the process running it stops it within a second"
                );
            }
            Ok(0)
        }
        Command::Run { id: None, .. } => {
            bail!("which run? `vivres run ID` shows it, `vivres run cancel ID` cancels it")
        }
        Command::Source { action } => source(&cli.config, action).await,
        Command::Run {
            id: Some(id), json, ..
        } => {
            let config = Config::load(&cli.config)?;
            let warehouse = Warehouse::open(&config.database_url()).await?;
            let report = warehouse.run(id).await?;
            let logs = warehouse.run_logs(id).await?;
            let streams = warehouse.run_streams(id).await?;
            let http = warehouse.run_http(id).await?;
            if json {
                let logs: Vec<_> = logs
                    .iter()
                    .map(
                        |l| serde_json::json!({"at": l.at, "level": l.level, "message": l.message}),
                    )
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run": report,
                        "streams": streams,
                        "http": http,
                        "log": logs
                    }))?
                );
            } else {
                print_report(&report);
                print_streams(&streams);
                if http.requests > 0 {
                    println!(
                        "  partner http: {} requests, by status {:?}, {} retries, {} denied, {} without response",
                        http.requests, http.by_status, http.retries, http.denied, http.failures
                    );
                }
                println!("\nlog:");
                for l in logs {
                    println!("  {} {:5} {}", l.at, l.level, l.message);
                }
            }
            Ok(0)
        }
        Command::Inbox { action } => {
            let config = Config::load(&cli.config)?;
            inbox(&config, action)
        }
        Command::Quarantine { action } => quarantine(&cli.config, action).await,
        Command::Connector { action } => connector(&cli.config, action).await,
        #[cfg(feature = "demo")]
        Command::Demo { size, data_dir } => crate::demo::run(&cli.config, &data_dir, size).await,
        #[cfg(feature = "demo")]
        Command::Bench {
            mode:
                Some(BenchMode::Crash {
                    kills,
                    records,
                    change,
                    seed,
                    data_dir,
                    database,
                }),
            ..
        } => {
            crate::bench::run_crash(crate::bench::CrashCampaign {
                kills,
                records,
                change,
                seed,
                data_dir,
                database,
            })
            .await
        }
        #[cfg(feature = "demo")]
        Command::Bench {
            mode:
                Some(BenchMode::Nodes {
                    database,
                    sources,
                    records,
                    delay_ms,
                    rate,
                    data_dir,
                }),
            ..
        } => {
            crate::bench::run_nodes(crate::bench::NodesBench {
                database,
                sources,
                records,
                delay_ms,
                rate,
                data_dir,
            })
            .await
        }
        #[cfg(feature = "demo")]
        Command::Bench {
            files_mb: Some(mb),
            data_dir,
            ..
        } => crate::bench::run_files(mb, data_dir).await,
        #[cfg(feature = "demo")]
        Command::Bench {
            records,
            data_dir,
            database,
            ..
        } => crate::bench::run(records, data_dir, database).await,
        #[cfg(feature = "demo")]
        Command::BenchFiles { rows, out } => crate::bench::write_files(rows, &out),
        #[cfg(feature = "demo")]
        Command::BenchSimulator { size } => crate::bench::serve_simulator(size).await,
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. }
        | Command::Bench { .. }
        | Command::BenchFiles { .. }
        | Command::BenchSimulator { .. } => anyhow::bail!(
            "this hub was built without the `demo` feature (the partner simulator): \
             build it with `cargo install --path hub` to run the demo and the benchmarks"
        ),
        Command::Serve {
            listen,
            upload_limit_mib,
        } => {
            let config = Config::load(&cli.config)?;
            // Before anything answers: a SIGTERM from here on stops the hub cleanly.
            let shutdown = crate::serve::shutdown_signal();
            let hub = Hub::open(config, env_vars()).await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!(
                "vivres: admin API on http://{}/api/v1",
                listener.local_addr()?
            );
            let mut settings = crate::serve::ServeSettings::default();
            settings.api.upload_limit_bytes = upload_limit_mib.saturating_mul(1024 * 1024);
            crate::serve::launch(std::sync::Arc::new(hub), settings, listener, shutdown).await?;
            Ok(0)
        }
        Command::Token { action } => token(&cli.config, action).await,
    }
}

async fn source(config_path: &Path, action: SourceAction) -> anyhow::Result<i32> {
    let config = Config::load(config_path)?;
    let warehouse = Warehouse::open(&config.database_url()).await?;
    match action {
        SourceAction::Paused { json } => {
            let pauses = warehouse.source_pauses().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pauses)?);
            } else if pauses.is_empty() {
                println!("no source is paused");
            } else {
                for p in &pauses {
                    println!(
                        "{} paused since {} (run {}): {}",
                        p.source, p.paused_at, p.run_id, p.reason
                    );
                }
            }
            Ok(0)
        }
        SourceAction::Resume { id } => {
            if config.source(&id).is_none() {
                bail!("no source `{id}` in the configuration");
            }
            match warehouse.resume_source(&id, "vivres source resume").await? {
                Some(p) => {
                    println!(
                        "source `{id}` resumed (paused since {} after {} failed runs)",
                        p.paused_at, p.failures
                    );
                    Ok(0)
                }
                None => {
                    eprintln!("source `{id}` is not paused");
                    Ok(1)
                }
            }
        }
    }
}

async fn token(config_path: &Path, action: TokenAction) -> anyhow::Result<i32> {
    let config = Config::load(config_path)?;
    let warehouse = Warehouse::open(&config.database_url()).await?;
    match action {
        TokenAction::Create {
            role,
            territories,
            name,
            link,
            url,
        } => {
            let known: Vec<&str> = config.territories.iter().map(|t| t.id.as_str()).collect();
            let role = crate::auth::role_from(&role, &territories, &known)?;
            let token = crate::auth::create(&warehouse, &name, &role).await?;
            eprintln!("token `{name}` created; it is shown only now, keep it safe:");
            println!("{token}");
            if link {
                let code = crate::console::session::create_link(&warehouse, &token).await?;
                eprintln!(
                    "one-time sign-in link to the web console (works once, within 24 hours):"
                );
                println!("{}/link/{code}", url.trim_end_matches('/'));
            }
        }
        TokenAction::List { json } => {
            let tokens = crate::auth::list(&warehouse).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:<24} {:<12} {:<30} {:<26} revoked",
                    "name", "role", "territories", "created"
                );
                for t in tokens {
                    let territories = match &t.role {
                        crate::auth::Role::Coordinator { territories } => territories.join(","),
                        _ => "-".to_string(),
                    };
                    println!(
                        "{:<24} {:<12} {:<30} {:<26} {}",
                        t.name,
                        t.role.name(),
                        territories,
                        t.created_at,
                        t.revoked_at.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        TokenAction::Revoke { name } => {
            crate::auth::revoke(&warehouse, &name).await?;
            println!("token `{name}` revoked");
        }
    }
    Ok(0)
}

fn inbox(config: &Config, action: InboxAction) -> anyhow::Result<i32> {
    let source_id = match &action {
        InboxAction::Add { source, .. } | InboxAction::List { source, .. } => source,
    };
    let source = config
        .source(source_id)
        .with_context(|| format!("no source `{source_id}` in the configuration"))?;
    let Some(dir) = source.inbox_dir(&config.hub.data_dir) else {
        bail!("source `{source_id}` has no inbox (set `inbox = true` in its configuration)");
    };
    match action {
        InboxAction::Add { files, json, .. } => {
            let shown =
                progress::Counter::new("inbox add", files.len() as u64, progress::Mode::of(json));
            let mut all = Vec::new();
            for file in files {
                let added = crate::inbox::add_file(&dir, &file)?;
                let line = format!(
                    "{} {} ({} bytes, sha256 {})",
                    if added.duplicate {
                        "already there:"
                    } else {
                        "added:"
                    },
                    added.file.name,
                    added.file.size,
                    &added.file.sha256[..16]
                );
                shown.inc(&added.file.name);
                if json {
                    all.push(added);
                } else {
                    shown.println(&line);
                }
            }
            shown.finish();
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
        }
        InboxAction::List { json, .. } => {
            let files = crate::inbox::list(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&files)?);
            } else {
                for f in files {
                    println!(
                        "{:>4}  {:<48} {:>10} bytes  {}",
                        f.seq,
                        f.name,
                        f.size,
                        &f.sha256[..16]
                    );
                }
            }
        }
    }
    Ok(0)
}

async fn quarantine(config_path: &Path, action: QuarantineAction) -> anyhow::Result<i32> {
    let config = Config::load(config_path)?;
    match action {
        QuarantineAction::List {
            source,
            run,
            all,
            closed,
            limit,
            json,
        } => {
            use crate::warehouse::EntryStatus;
            if let Some(id) = &source
                && config.source(id).is_none()
            {
                bail!("{}", unknown_source(&config, id));
            }
            let status = match (all, closed, run) {
                (true, _, _) => EntryStatus::All,
                (_, true, _) => EntryStatus::Closed,
                (_, _, Some(_)) => EntryStatus::All,
                _ => EntryStatus::Open,
            };
            let warehouse = Warehouse::open(&config.database_url()).await?;
            let entries = warehouse
                .quarantine_by_status(source.as_deref(), run, status, limit)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                let closing = status != EntryStatus::Open;
                println!(
                    "{:>6}  {:<22} {:>5}  {:<36} {:>6}  {:<20} {:<24} {}detail",
                    "id",
                    "source",
                    "run",
                    "file/record",
                    "line/cell",
                    "reason",
                    "field",
                    if closing {
                        format!("{:<38} ", "closed")
                    } else {
                        String::new()
                    }
                );
                for row in &entries {
                    let q = &row.entry;
                    let closed_at = match (&row.closed_reason, &row.closed_at, row.closed_by) {
                        (Some(why), Some(at), by) => format!(
                            "{why} {at}{}",
                            by.map(|r| format!(" (run {r})")).unwrap_or_default()
                        ),
                        _ => "open".to_string(),
                    };
                    println!(
                        "{:>6}  {:<22} {:>5}  {:<36} {:>6}  {:<20} {:<24} {}{}",
                        q.id,
                        q.source,
                        q.run_id,
                        q.origin
                            .as_deref()
                            .or(row.partner_key.as_deref())
                            .unwrap_or("-"),
                        // A workbook's cell says its line too (`Commande!F12`).
                        q.cell.clone().unwrap_or_else(|| q
                            .line
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "-".into())),
                        q.reason,
                        q.field,
                        if closing {
                            format!("{closed_at:<38} ")
                        } else {
                            String::new()
                        },
                        q.detail
                    );
                }
                println!("{} entries", entries.len());
            }
            Ok(0)
        }
        QuarantineAction::Replay { source, json } => {
            let hub = Hub::open(config, env_vars()).await?;
            let report = replay(&hub, &source).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(if report.status == RunStatus::Succeeded {
                0
            } else {
                1
            })
        }
    }
}

/// Replays a source's quarantine: a full re-read; on success the earlier
/// entries are closed (records still invalid were quarantined again).
pub async fn replay(hub: &Hub, source: &str) -> anyhow::Result<RunReport> {
    let options = SyncOptions {
        full_refresh: true,
        trigger: crate::sync::RunTrigger::Replay,
        ..SyncOptions::default()
    };
    let report = sync_source(hub, source, &options).await?;
    if report.status == RunStatus::Succeeded {
        hub.warehouse.mark_replayed(source, report.id).await?;
    }
    Ok(report)
}

/// A run report as `vivres sync --json` prints it: the report, its figures
/// per stream (a Secours Catholique row is read once by each of its two
/// streams) and its log.
pub async fn report_json(
    warehouse: &Warehouse,
    report: &RunReport,
) -> anyhow::Result<serde_json::Value> {
    let mut full = serde_json::to_value(report)?;
    let streams = warehouse.run_streams(report.id).await?;
    let log: Vec<_> = warehouse
        .run_logs(report.id)
        .await?
        .into_iter()
        .map(|l| serde_json::json!({"at": l.at, "level": l.level, "message": l.message}))
        .collect();
    if let Some(map) = full.as_object_mut() {
        map.insert("streams".into(), serde_json::to_value(streams)?);
        map.insert("log".into(), serde_json::Value::Array(log));
    }
    Ok(full)
}

fn print_streams(streams: &[crate::warehouse::StreamFigures]) {
    for s in streams {
        let c = &s.counts;
        println!(
            "  stream {}: read {}, inserted {}, updated {}, unchanged {}, quarantined {}, removed {} ({} batches; plugin reads {:.2} s, commits {:.2} s)",
            s.stream,
            c.read,
            c.inserted,
            c.updated,
            c.unchanged,
            c.quarantined,
            s.removed,
            s.batches,
            s.read_ms as f64 / 1e3,
            s.commit_ms as f64 / 1e3
        );
    }
}

pub fn print_report(r: &RunReport) {
    println!(
        "run {} of {}: {}{}",
        r.id,
        r.source,
        r.status.as_str(),
        if r.full_refresh {
            " (full refresh)"
        } else {
            ""
        }
    );
    if let (Some(c), Some(v)) = (&r.connector, &r.connector_version) {
        println!("  connector    {c} {v}");
    }
    println!("  started      {}", r.started_at);
    if let Some(e) = &r.ended_at {
        println!("  ended        {e}");
    }
    if let Some(t) = &r.trigger {
        match &r.token_name {
            Some(name) => println!("  started by   {t} (token `{name}`)"),
            None => println!("  started by   {t}"),
        }
    }
    let c = &r.counts;
    println!("  batches      {}", r.batches);
    println!("  read         {}", c.read);
    println!("  inserted     {}", c.inserted);
    println!("  updated      {}", c.updated);
    println!("  unchanged    {}", c.unchanged);
    println!("  quarantined  {}", c.quarantined);
    if r.removed > 0 {
        println!(
            "  removed      {} (their file was re-sent without them)",
            r.removed
        );
    }
    if !r.files_read.is_empty() {
        println!("  files read   {}", r.files_read.join(", "));
    }
    if !r.files_ignored.is_empty() {
        println!(
            "  files ignored {} (no stream of the connector reads them: check their names)",
            r.files_ignored.join(", ")
        );
    }
    if let Some(e) = &r.error {
        println!(
            "  error        [{}] {e}",
            r.error_kind.as_deref().unwrap_or("error")
        );
        if r.error_kind.as_deref() == Some("partner_unavailable") {
            println!("  (retryable: the next run resumes from the last committed batch)");
        }
    }
}

/// `vivres runs`: a line per run, with its error's kind and message.
pub fn runs_table(runs: &[RunReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6}  {:<24} {:<11} {:<9} {:<25} {:>9} {:>9} {:>9} {:>9} {:>9}  error",
        "run",
        "source",
        "status",
        "trigger",
        "started",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "quarant."
    );
    for r in runs {
        let error = match (&r.error_kind, &r.error) {
            (Some(kind), Some(e)) => format!("[{kind}] {e}"),
            (Some(kind), None) => format!("[{kind}]"),
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:>6}  {:<24} {:<11} {:<9} {:<25} {:>9} {:>9} {:>9} {:>9} {:>9}  {}",
            r.id,
            r.source,
            r.status.as_str(),
            r.trigger.as_deref().unwrap_or("-"),
            r.started_at,
            r.counts.read,
            r.counts.inserted,
            r.counts.updated,
            r.counts.unchanged,
            r.counts.quarantined,
            error
        );
    }
    out
}

/// The hub configuration `vivres connector` runs under: the hub's `[hub]`
/// (its data dir, so its private compile cache) and `[limits]` (so a plugin
/// tried by hand meets the limits and HTTP budget of a sync); the sources
/// are not needed, nor their variables. Without a file, the defaults.
fn connector_config(config_path: &Path) -> anyhow::Result<Config> {
    let file = config_path.display().to_string();
    let mut text = String::new();
    if config_path.exists() {
        let full =
            std::fs::read_to_string(config_path).with_context(|| format!("cannot read {file}"))?;
        let mut table: toml::Table =
            toml::from_str(&full).with_context(|| format!("{file}: not valid TOML"))?;
        table.retain(|section, _| section == "hub" || section == "limits");
        text = toml::to_string(&table).with_context(|| format!("{file}: cannot re-read"))?;
    } else {
        eprintln!(
            "note: no hub configuration at {file}: default limits, compile cache in .vivres/cache"
        );
    }
    let config = Config::parse(&file, &text, &env_vars())?;
    config.validate_limits(&file)?;
    Ok(config)
}

fn parse_secrets(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut secrets = BTreeMap::new();
    for s in pairs {
        let Some((name, value)) = s.split_once('=') else {
            bail!(
                "--secret `{}`: expected NAME=VALUE",
                s.split('=').next().unwrap_or("")
            );
        };
        secrets.insert(name.to_string(), value.to_string());
    }
    Ok(secrets)
}

async fn connector(config_path: &Path, action: ConnectorAction) -> anyhow::Result<i32> {
    let args = match &action {
        ConnectorAction::Spec(a) | ConnectorAction::Check(a) | ConnectorAction::Discover(a) => a,
        ConnectorAction::Read { args, .. } => args,
        ConnectorAction::New {
            name,
            lang,
            dir,
            repo,
        } => {
            let written = crate::scaffold::write(&crate::scaffold::NewConnector {
                name: name.clone(),
                lang: *lang,
                dir: dir.clone(),
                repo: repo.clone(),
            })?;
            println!("wrote {}:", written.dir.display());
            for f in &written.files {
                let shown = f.strip_prefix(&written.dir).unwrap_or(f);
                println!("  {}", shown.display());
            }
            let wasm = written
                .wasm
                .strip_prefix(&written.dir)
                .unwrap_or(&written.wasm);
            println!(
                "\nnext:\n  cd {}\n  {}\n  vivres connector test {} --config fixtures/config.json --fixtures fixtures",
                written.dir.display(),
                written.build,
                wasm.display()
            );
            return Ok(0);
        }
        ConnectorAction::Test {
            args,
            fixtures,
            record,
        } => {
            let hub_config = connector_config(config_path)?;
            let config = match &args.connector_config {
                Some(p) => read_json_file(p)?,
                None => "{}".to_string(),
            };
            let options = crate::acceptance::Options {
                plugin: args.plugin.clone(),
                config,
                fixtures: fixtures.clone(),
                record: *record,
                allowed_hosts: args.allow_hosts.clone(),
                inbox: args.inbox.clone(),
                secrets: parse_secrets(&args.secrets)?,
                request_budget: Some(hub_config.limits.http_request_budget),
            };
            let report =
                crate::acceptance::run(crate::app::host_settings(&hub_config), options).await?;
            println!("{report}");
            return Ok(if report.passed() { 0 } else { 1 });
        }
    };
    let hub_config = connector_config(config_path)?;
    let host = PluginHost::new(crate::app::host_settings(&hub_config))?;
    let plugin = host.load(&args.plugin).await?;
    let config = match &args.connector_config {
        Some(p) => read_json_file(p)?,
        None => "{}".to_string(),
    };
    let secrets = parse_secrets(&args.secrets)?;
    let redactor = crate::privacy::Redactor::new(
        secrets
            .values()
            .map(|v| crate::config::Secret::new(v.clone()))
            .collect::<Vec<_>>()
            .iter(),
    );
    let log = Arc::new(move |line: LogLine| {
        eprintln!("[{:?}] {}", line.level, redactor.redact(&line.message));
    });
    let grants = Grants {
        allowed_hosts: args.allow_hosts.clone(),
        inbox: args.inbox.clone(),
        secrets,
        request_budget: Some(hub_config.limits.http_request_budget),
        ..Grants::none("connector-cli", log)
    };
    let mut instance = host.instantiate(&plugin, grants).await?;
    let print_err = |e: &crate::model::ConnectorError| {
        eprintln!("connector error: {e}");
        1
    };
    match action {
        ConnectorAction::Spec(_) => {
            println!("{}", serde_json::to_string_pretty(&instance.spec().await?)?);
            Ok(0)
        }
        ConnectorAction::Check(_) => match instance.check(&config).await? {
            Ok(()) => {
                println!("ok");
                Ok(0)
            }
            Err(e) => Ok(print_err(&e)),
        },
        ConnectorAction::Discover(_) => match instance.discover(&config).await? {
            Ok(streams) => {
                println!("{}", serde_json::to_string_pretty(&streams)?);
                Ok(0)
            }
            Err(e) => Ok(print_err(&e)),
        },
        // Both returned above, before a plugin was loaded.
        ConnectorAction::New { .. } | ConnectorAction::Test { .. } => Ok(0),
        ConnectorAction::Read {
            stream, state, all, ..
        } => {
            let mut state = match state {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read state file {}", p.display()))?,
                ),
                None => None,
            };
            loop {
                match instance.read(&config, &stream, state.as_deref()).await? {
                    Ok(batch) => {
                        println!("{}", serde_json::to_string_pretty(&batch)?);
                        if batch.state.is_some() {
                            state = batch.state.clone();
                        }
                        if !all || !batch.more {
                            return Ok(0);
                        }
                    }
                    Err(e) => return Ok(print_err(&e)),
                }
            }
        }
    }
}

fn read_json_file(p: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("{}: not valid JSON", p.display()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn connector_config_and_hub_config_do_not_clash() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "vivres",
            "--config",
            "hub.toml",
            "connector",
            "read",
            "p.wasm",
            "--config",
            "c.json",
            "--stream",
            "s",
        ])
        .unwrap();
        assert_eq!(cli.config, std::path::PathBuf::from("hub.toml"));
        match cli.command {
            super::Command::Connector {
                action: super::ConnectorAction::Read { args, .. },
            } => assert_eq!(args.connector_config, Some("c.json".into())),
            other => panic!("{other:?}"),
        }
    }
}

/// "No such source", naming the sources there are.
fn unknown_source(config: &Config, id: &str) -> String {
    crate::sync::SyncError::unknown_source(config, id).to_string()
}
