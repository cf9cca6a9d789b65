//! UGESS social and solidarity groceries (partners §5): till exports and card
//! registers added to the source's inbox as CSV files (`;`, UTF-8 with BOM or
//! Windows-1252, any of the quirks).
//!
//! Config: `{}`, optionally `"batch_rows": 2000` (1–5000) and the groceries'
//! communes `"sites": [{"id": "epicerie-lyon", "insee": "69387"}]` (stream `sites`).
//!
//! Streams, each reading only its own files, one after the other in arrival
//! order, at most `batch_rows` rows per batch:
//! - `sales` (order-line) from `ventes_<epicerie>_<yyyy-mm>.csv`: one order line
//!   per till line, channel `grocery`; a return is a negative quantity (stored);
//!   `PU public` 0 or `Don BA` is a food-bank donation (reference amount 0);
//!   reference amount = `Qté × PU public` rounded to the cent; `Total` is what
//!   the household paid. Key `grocery|yyyy-mm-dd|HH:MM:SS|card|article|quantity`;
//! - `cards` (household) from `beneficiaires_<epicerie>.csv`: key
//!   `grocery|card`; composition (or size), postcode, rights from/to, monthly cap.
//!
//! `N° carte` is local to its grocery: `PersonId { scope: grocery, local_id }`,
//! the grocery being the file name's `<epicerie>`.

pub mod mapping;

use serde::Deserialize;
use vivres_sdk::csv_inbox::{self, Refusal};
use vivres_sdk::inbox::{self, BATCH_ROWS, InboxFile};
use vivres_sdk::model::*;
use vivres_sdk::sites::{self, SiteSetting};
use vivres_sdk::{Connector, log};

use mapping::{CardColumns, SaleColumns};

pub const SALES: &str = "sales";
pub const CARDS: &str = "cards";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub batch_rows: Option<usize>,
    /// The groceries' communes: `[{"id": "epicerie-lyon", "insee": "69387"}]`.
    #[serde(default)]
    pub sites: Vec<SiteSetting>,
}

impl Config {
    fn batch_rows(&self) -> Result<usize, ConnectorError> {
        match self.batch_rows {
            None => Ok(BATCH_ROWS),
            Some(n) if (1..=5000).contains(&n) => Ok(n),
            Some(_) => Err(ConnectorError::bad_config(
                "batch_rows: must be from 1 to 5000",
            )),
        }
    }
}

fn schema() -> String {
    format!(
        r#"{{"type": "object", "properties": {{"batch_rows": {{"type": "integer", "minimum": 1, "maximum": 5000}}, "sites": {}}}, "additionalProperties": false}}"#,
        sites::SCHEMA
    )
}

/// The grocery of a `ventes_<epicerie>_<yyyy-mm>.csv` file.
pub fn sales_grocery(name: &str) -> Option<&str> {
    let middle = inbox::name_between(name, "ventes_", ".csv")?;
    let (grocery, month) = middle.rsplit_once('_')?;
    let b = month.as_bytes();
    let month_ok =
        b.len() == 7 && b[4] == b'-' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit);
    (!grocery.is_empty() && month_ok).then_some(grocery)
}

/// The grocery of a `beneficiaires_<epicerie>.csv` file.
pub fn cards_grocery(name: &str) -> Option<&str> {
    inbox::name_between(name, "beneficiaires_", ".csv")
        .or_else(|| inbox::name_between(name, "bénéficiaires_", ".csv"))
}

fn grocery_of(stream: &str, name: &str) -> Option<String> {
    if stream == SALES {
        sales_grocery(name).map(str::to_string)
    } else {
        cards_grocery(name).map(str::to_string)
    }
}

/// The inbox files of `stream`.
pub fn own_files(stream: &str, all: Vec<InboxFile>) -> Vec<InboxFile> {
    all.into_iter()
        .filter(|f| grocery_of(stream, &f.name).is_some())
        .collect()
}

enum Columns {
    Sales(SaleColumns),
    Cards(CardColumns),
}

/// One batch of `stream` over `files` (already the stream's own files).
pub fn read_files(
    config: &Config,
    files: &[InboxFile],
    stream: &str,
    state: Option<&str>,
) -> Result<Batch, ConnectorError> {
    if stream == sites::STREAM {
        sites::check(&config.sites, "sites")?;
        return Ok(sites::read(&config.sites, SiteKind::Grocery));
    }
    if stream != SALES && stream != CARDS {
        return Err(ConnectorError::bad_config(format!(
            "unknown stream `{stream}`: sales, cards or sites"
        )));
    }
    let batch_rows = config.batch_rows()?;
    let batch = csv_inbox::read(
        state,
        files,
        batch_rows,
        |file, header| {
            let grocery = grocery_of(stream, &file.name).unwrap_or_default();
            let columns = if stream == SALES {
                SaleColumns::find(header).map(Columns::Sales)
            } else {
                CardColumns::find(header).map(Columns::Cards)
            };
            columns
                .map(|columns| (columns, grocery))
                .map_err(|(column, e)| {
                    Refusal::new(RejectReason::MalformedFile, column, e.message())
                })
        },
        |(columns, grocery), r, items| {
            items.push(match columns {
                Columns::Sales(c) => mapping::sale(c, r, grocery)?,
                Columns::Cards(c) => mapping::card_holder(c, r, grocery)?,
            });
            Ok(())
        },
    )?;
    log::info(format!(
        "{stream}: {} records, {} rejected",
        batch.items.len(),
        batch.rejects.len()
    ));
    Ok(batch)
}

struct UgessGroceries;

impl Connector for UgessGroceries {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "ugess-groceries".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "UGESS social and solidarity groceries: till lines (ventes_<epicerie>_<yyyy-mm>.csv) and card registers (beneficiaires_<epicerie>.csv) from the source's inbox".into(),
            config_schema: schema(),
            streams: vec![
                StreamInfo::new(
                    SALES,
                    EntityKind::OrderLine,
                    &["grocery", "Date", "Heure", "N° carte", "Article", "Qté"],
                    None,
                    "Till lines as order lines (channel grocery): card (pseudonymised by the hub, scoped to its grocery), article with its DFC type, quantity (negative for a return), unit prices, reference amount (Qté × PU public), amount paid (Total), food-bank donations flagged",
                ),
                StreamInfo::new(
                    CARDS,
                    EntityKind::Household,
                    &["grocery", "N° carte"],
                    None,
                    "Card register: the household, its composition, residence postcode, rights from/to and monthly cap",
                ),
                sites::stream_info("groceries (the <epicerie> of the file names)"),
            ],
        }
    }

    /// `sites` only when the settings give the groceries' communes.
    fn discover(config: &Config) -> Result<Vec<StreamInfo>, ConnectorError> {
        let mut streams = Self::spec().streams;
        streams.retain(|s| s.name != sites::STREAM || !config.sites.is_empty());
        Ok(streams)
    }

    fn check(config: &Config) -> Result<(), ConnectorError> {
        config.batch_rows()?;
        sites::check(&config.sites, "sites")?;
        inbox::files().map(|_| ())
    }

    fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        // The sites come from the settings: no inbox needed.
        let files = if stream == sites::STREAM {
            Vec::new()
        } else {
            own_files(stream, inbox::files()?)
        };
        read_files(config, &files, stream, state)
    }
}

vivres_sdk::export_connector!(UgessGroceries);

#[cfg(test)]
mod tests;
