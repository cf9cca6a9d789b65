//! Secours Catholique: reception and aid records (partners §3), from the
//! teams' `accueils_<equipe>_<yyyy>.csv` exports (Windows-1252, `;`, CRLF, any
//! of the quirks) added to the source's inbox.
//!
//! Config: `{}`, optionally `"batch_rows": 2000` (1–5000) and the teams'
//! communes `"sites": [{"id": "Lyon 3", "insee": "69383"}]` (stream `sites`).
//!
//! Streams, both over the same files, one file after the other in arrival
//! order, at most `batch_rows` rows per batch:
//! - `aids` (distribution): one record per aid; `2 x chèque 15€` gives two aids
//!   (ordinals 1 and 2) of 15 €. Key `team|dossier|yyyy-mm-dd|aid type|unit
//!   amount in cents or ?|ordinal`, the aid type being `food-voucher`,
//!   `prepaid-card`, `parcel`, `meal`, `referral` or the folded label of another aid;
//! - `households` (household): one record per row, keyed `team|dossier` (the
//!   latest row wins): composition, adults, children, residence, income and
//!   *reste à vivre* as bands only.
//!
//! A row is refused or taken as a whole: both streams read every cell either
//! uses, and refuse a row with the same reason and field (its residence judged
//! by the hub's gazetteer rules, [`vivres_sdk::fr::check_residence`]), so that
//! no aid is stored whose household is refused, nor the reverse.
//!
//! `N° dossier` is local to its team: `PersonId { scope: team, local_id }`,
//! the team being the row's `Equipe` (else the file name's). `Commentaire` is
//! never read. Each record's origin is its file name; a corrected file re-sent
//! under the same name replaces the records of the earlier version.

pub mod mapping;

use serde::Deserialize;
use vivres_sdk::csv_inbox::{self, Refusal};
use vivres_sdk::inbox::{self, BATCH_ROWS, InboxFile};
use vivres_sdk::model::*;
use vivres_sdk::sites::{self, SiteSetting};
use vivres_sdk::{Connector, log};

use mapping::Columns;

pub const AIDS: &str = "aids";
pub const HOUSEHOLDS: &str = "households";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub batch_rows: Option<usize>,
    /// The teams' communes: `[{"id": "Lyon 3", "insee": "69383"}]`.
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

/// The team of an `accueils_<equipe>_<yyyy>.csv` file, if the name is one.
pub fn file_team(name: &str) -> Option<&str> {
    let middle = inbox::name_between(name, "accueils_", ".csv")?;
    match middle.rsplit_once('_') {
        Some((team, year))
            if !team.is_empty() && year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(team)
        }
        _ => None,
    }
}

/// The inbox files this connector reads.
pub fn own_files(all: Vec<InboxFile>) -> Vec<InboxFile> {
    let (own, other): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|f| file_team(&f.name).is_some());
    if !other.is_empty() {
        log::warn(format!(
            "{} inbox file(s) not named accueils_<equipe>_<yyyy>.csv ignored",
            other.len()
        ));
    }
    own
}

/// One batch of `stream` over `files` (the inbox, or any directory in tests).
pub fn read_files(
    config: &Config,
    files: &[InboxFile],
    stream: &str,
    state: Option<&str>,
) -> Result<Batch, ConnectorError> {
    if stream == sites::STREAM {
        sites::check(&config.sites, "sites")?;
        return Ok(sites::read(&config.sites, SiteKind::AidTeam));
    }
    if stream != AIDS && stream != HOUSEHOLDS {
        return Err(ConnectorError::bad_config(format!(
            "unknown stream `{stream}`: aids, households or sites"
        )));
    }
    let batch_rows = config.batch_rows()?;
    let aids = stream == AIDS;
    let batch = csv_inbox::read(
        state,
        files,
        batch_rows,
        |file, header| {
            let team = file_team(&file.name).unwrap_or_default().to_string();
            Columns::find(header)
                .map(|columns| (columns, team))
                .map_err(|(column, e)| {
                    Refusal::new(RejectReason::MalformedFile, column, e.message())
                })
        },
        // Both streams read the whole row: they take it or refuse it alike.
        |(columns, team), r, items| {
            let row = mapping::row(columns, r, team)?;
            if aids {
                items.extend(row.aids);
            } else {
                items.push(row.household);
            }
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

struct SecoursCatholiqueAid;

impl Connector for SecoursCatholiqueAid {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "secours-catholique-aid".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Secours Catholique teams: aids given and households received, from accueils_<equipe>_<yyyy>.csv exports in the source's inbox".into(),
            config_schema: schema(),
            streams: vec![
                StreamInfo::new(
                    AIDS,
                    EntityKind::Distribution,
                    &["team", "N° dossier", "Date passage", "aid type", "unit amount", "ordinal"],
                    None,
                    "Aids given (food vouchers, prepaid cards, parcels, meals, referrals, other), one per aid, with the household (dossier pseudonymised by the hub, scoped to its team), date and unit amount",
                ),
                StreamInfo::new(
                    HOUSEHOLDS,
                    EntityKind::Household,
                    &["team", "N° dossier"],
                    None,
                    "Households received: composition, adults, children, residence, income and reste à vivre as bands only",
                ),
                sites::stream_info("teams (the Equipe of the rows)"),
            ],
        }
    }

    /// `sites` only when the settings give the teams' communes.
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
            own_files(inbox::files()?)
        };
        read_files(config, &files, stream, state)
    }
}

vivres_sdk::export_connector!(SecoursCatholiqueAid);

#[cfg(test)]
mod tests;
