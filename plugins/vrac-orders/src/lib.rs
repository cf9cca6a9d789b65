//! VRAC group orders (partners §2): monthly order workbooks
//! `commande_<groupement>_<yyyy-mm>.xlsx` (sheets `Commande`, wide, and
//! `Produits`), or their CSV export `…_Commande.csv` + `…_Produits.csv`, from the
//! source's inbox.
//!
//! Streams, each reading the inbox's files in arrival order, one file at a
//! time, a bounded batch per `read` (state: the SDK's file checkpoint):
//! - `order_lines` → order lines (channel buying-group), one per product cell
//!   that is not empty, `-` or `0`; key `<group>|<yyyy-mm>|<member>|<product>`;
//! - `members` → the member households (residence from `CP`); key `<group>|<member>`;
//! - `products` → the group's products (DFC type, organic, producer); key `<group>|<product>`;
//! - `supplies` → the group's supply of each product from its producer (commune,
//!   km); key `<group>|<yyyy-mm>|<product>`;
//! - `sites` → the groups with their commune, from the settings
//!   `"sites": [{"id": "croix-rousse", "insee": "69384"}]` (the id is the
//!   group as the workbooks' names give it); offered only when given.
//!
//! `Nom` and `Téléphone` are never read.

mod commande;
mod grid;
mod names;
mod produits;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use vivres_sdk::inbox::{self, FileProgress, InboxFile};
use vivres_sdk::model::{
    Batch, ConnectorError, ConnectorSpec, EntityKind, Item, Reject, RejectReason, SiteKind,
    StreamInfo,
};
use vivres_sdk::sites::{self, SiteSetting};
use vivres_sdk::{Connector, log};

use grid::Grid;
use names::{Form, Wants, WorkbookName};

/// The configuration's JSON Schema.
pub fn schema() -> String {
    format!(
        r#"{{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "VRAC group orders (monthly order workbooks in the source's inbox)",
  "type": "object",
  "additionalProperties": false,
  "properties": {{
    "batch_rows": {{"type": "integer", "minimum": 1, "maximum": 50000, "default": 2000, "description": "Records (items and rejects) per batch, about: a batch ends after the row that reaches it"}},
    "sites": {}
  }}
}}"#,
        sites::SCHEMA
    )
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub struct Config {
    pub batch_rows: usize,
    /// The groups' communes (stream `sites`).
    pub sites: Vec<SiteSetting>,
}

impl TryFrom<Value> for Config {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let map = match value {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            _ => return Err("the configuration must be a JSON object".into()),
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "batch_rows" | "sites"))
        {
            return Err(format!("{unknown}: unknown field (expected batch_rows, sites)"));
        }
        let sites = match map.get("sites") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<SiteSetting>>(v.clone())
                .map_err(|e| format!("sites: {e}"))?,
        };
        let batch_rows = match map.get("batch_rows") {
            None | Some(Value::Null) => inbox::BATCH_ROWS,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=50_000) => n as usize,
                _ => return Err("batch_rows: must be a whole number from 1 to 50000".into()),
            },
        };
        Ok(Config { batch_rows, sites })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    OrderLines,
    Members,
    Products,
    Supplies,
}

impl Stream {
    pub fn from_name(name: &str) -> Result<Self, ConnectorError> {
        Ok(match name {
            "order_lines" => Stream::OrderLines,
            "members" => Stream::Members,
            "products" => Stream::Products,
            "supplies" => Stream::Supplies,
            other => {
                return Err(ConnectorError::bad_config(format!(
                    "stream `{other}`: no such stream (order_lines, members, products, supplies, sites)"
                )));
            }
        })
    }

    fn wants(self) -> Wants {
        match self {
            Stream::OrderLines => Wants::Commande { strays: true },
            Stream::Members => Wants::Commande { strays: false },
            Stream::Products | Stream::Supplies => Wants::Produits,
        }
    }
}

struct VracOrders;

impl Connector for VracOrders {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "vrac-orders".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "VRAC neighbourhood buying groups: monthly order workbooks (XLSX, or the CSV export of their two sheets) from the source's inbox".into(),
            config_schema: schema(),
            streams: vec![
                StreamInfo::new(
                    "order_lines",
                    EntityKind::OrderLine,
                    &["group", "month", "member", "product"],
                    None,
                    "One line per product a member ordered: quantity and unit, member price and reference price per unit and for the line, DFC product type, month",
                ),
                StreamInfo::new(
                    "members",
                    EntityKind::Household,
                    &["group", "member"],
                    None,
                    "The groups' members (number pseudonymised by the hub) with their residence postcode",
                ),
                StreamInfo::new(
                    "products",
                    EntityKind::Product,
                    &["group", "product"],
                    None,
                    "The groups' products: category, DFC product type, unit, organic, producer",
                ),
                StreamInfo::new(
                    "supplies",
                    EntityKind::Supply,
                    &["group", "month", "product"],
                    None,
                    "Each month's supply of a group from its producers: producer commune and distance in km",
                ),
                sites::stream_info("buying groups (the groupement of the workbooks' names)"),
            ],
        }
    }

    /// `sites` only when the settings give the groups' communes.
    fn discover(config: &Config) -> Result<Vec<StreamInfo>, ConnectorError> {
        let mut streams = Self::spec().streams;
        streams.retain(|s| s.name != sites::STREAM || !config.sites.is_empty());
        Ok(streams)
    }

    fn check(config: &Config) -> Result<(), ConnectorError> {
        sites::check(&config.sites, "sites")?;
        inbox::files().map(|_| ())
    }

    fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        // The sites come from the settings: no inbox needed.
        if stream == sites::STREAM {
            sites::check(&config.sites, "sites")?;
            return Ok(sites::read(&config.sites, SiteKind::BuyingGroup));
        }
        let stream = Stream::from_name(stream)?;
        let all = inbox::files()?;
        let batch = read_files(config, stream, &all, state)?;
        log::info(format!(
            "{stream:?}: {} items, {} rejected, more: {}",
            batch.items.len(),
            batch.rejects.len(),
            batch.more
        ));
        Ok(batch)
    }
}

/// One `read` of `stream` over the inbox files `all` (natively testable).
pub fn read_files(
    config: &Config,
    stream: Stream,
    all: &[InboxFile],
    state: Option<&str>,
) -> Result<Batch, ConnectorError> {
    let files = names::select(all, stream.wants());
    inbox::read_next(state, &files, |file, after, batch| {
        let out = read_file(config, stream, all, file, after);
        let (results, progress) = match out {
            Ok(x) => x,
            Err(detail) => {
                batch.rejects.push(
                    Reject::new(RejectReason::MalformedFile, "file", detail)
                        .with_raw(file.name.as_bytes().to_vec()),
                );
                return Ok(FileProgress {
                    last_line: after,
                    finished: true,
                });
            }
        };
        for r in results {
            match r {
                Ok(item) => batch.items.push(item),
                Err(reject) => batch.rejects.push(reject),
            }
        }
        Ok(progress)
    })
}

type Results = Vec<Result<Item, Reject>>;

fn read_file(
    config: &Config,
    stream: Stream,
    all: &[InboxFile],
    file: &InboxFile,
    after: u64,
) -> Result<(Results, FileProgress), String> {
    let name = names::parse(&file.name)?;
    let mut out: Results = Vec::new();
    let limit = config.batch_rows;
    let (last_line, finished) = match stream {
        Stream::OrderLines | Stream::Members => {
            let mut grid = match name.form {
                Form::Xlsx => Grid::xlsx(&file.path, "Commande")?,
                _ => Grid::csv(&file.path)?,
            };
            let units = if stream == Stream::OrderLines {
                units_for(&name, all, file)
            } else {
                BTreeMap::new()
            };
            commande::walk(&mut grid, after, |sheet, row| {
                match stream {
                    Stream::Members => out.push(
                        commande::member_record(&name, sheet, &row).map(|i| i.with_line(row.line)),
                    ),
                    _ => commande::order_lines(&name, sheet, &units, &row, &mut out),
                }
                out.len() < limit
            })?
        }
        Stream::Products | Stream::Supplies => {
            let mut grid = match name.form {
                Form::Xlsx => Grid::xlsx(&file.path, "Produits")?,
                _ => Grid::csv(&file.path)?,
            };
            produits::walk(&mut grid, after, |p| {
                let record = match stream {
                    Stream::Products => p.product(&name),
                    _ => p.supply(&name),
                };
                out.push(record.map(|i| i.with_line(p.line())));
                out.len() < limit
            })?
        }
    };
    Ok((
        out,
        FileProgress {
            last_line,
            finished,
        },
    ))
}

/// The products' selling units for the order lines of `file`: its own sheet
/// `Produits`, or for a CSV export the latest `…_Produits.csv` of the same
/// workbook. None found: bare quantities have no unit.
fn units_for(
    name: &WorkbookName,
    all: &[InboxFile],
    file: &InboxFile,
) -> BTreeMap<String, produits::Unit> {
    let grid = match name.form {
        Form::Xlsx => Grid::xlsx(&file.path, "Produits"),
        _ => {
            let wanted = name.companion(Form::CsvProduits);
            match all
                .iter()
                .rev()
                .find(|f| f.name.eq_ignore_ascii_case(&wanted))
            {
                Some(f) => Grid::csv(&f.path),
                None => return BTreeMap::new(),
            }
        }
    };
    match grid {
        Ok(mut g) => produits::units(&mut g),
        Err(_) => BTreeMap::new(),
    }
}

vivres_sdk::export_connector!(VracOrders);

#[cfg(test)]
mod tests;
