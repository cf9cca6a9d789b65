//! CIVAM farm diagnostics (partners §4), from files in the source's inbox:
//!
//! - `diagnostics` ← `idea4_<farm id>.json`, the IDEA4 calculator's exports:
//!   one diagnostic per file, keyed `<farm id>/<survey year>`, with its item,
//!   indicator, component and dimension scores computed as §4 says
//!   ([`idea4`]); a file that is not valid JSON is one `malformed-file` reject;
//! - `farms` ← `fermes*.csv`, the farm register: one site (kind farm) per
//!   farm, keyed by its `Identifiant`.
//!
//! Every record carries `origin` = its file name, and a file's first batch
//! replaces that origin: a corrected file re-sent under the same name replaces
//! the records of the earlier version.

pub mod diagnostic;
pub mod farms;
pub mod idea4;

use serde::Deserialize;
use serde_json::Value;
use vivres_sdk::csv_inbox::{self, Refusal};
use vivres_sdk::inbox::{self, FileCheckpoint, InboxFile};
use vivres_sdk::model::{
    Batch, ConnectorError, ConnectorSpec, EntityKind, Reject, RejectReason, StreamInfo,
};
use vivres_sdk::{Connector, log, state};

/// Diagnostic files read per batch (each is one record).
const FILES_PER_BATCH: usize = 200;
/// Register rows per batch.
const ROWS_PER_BATCH: usize = 2_000;
/// A calculator export is a few KiB; anything this large is not one.
const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;

pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "CIVAM farm diagnostics (IDEA4 exports and farm register, from the inbox)",
  "type": "object",
  "additionalProperties": false,
  "properties": {}
}"#;

/// No settings: everything comes from the inbox.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub struct Config {}

impl TryFrom<Value> for Config {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(Config {}),
            Value::Object(map) => match map.keys().next() {
                Some(k) => Err(format!(
                    "{k}: unknown field (this connector has no settings)"
                )),
                None => Ok(Config {}),
            },
            _ => Err("the configuration must be a JSON object".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Diagnostics,
    Farms,
}

impl Stream {
    fn from_name(name: &str) -> Result<Stream, ConnectorError> {
        match name {
            "diagnostics" => Ok(Stream::Diagnostics),
            "farms" => Ok(Stream::Farms),
            other => Err(ConnectorError::bad_config(format!(
                "unknown stream `{other}` (this connector offers diagnostics and farms)"
            ))),
        }
    }

    fn wants(self, name: &str) -> bool {
        match self {
            Stream::Diagnostics => is_diagnostic_file(name),
            Stream::Farms => is_register_file(name),
        }
    }
}

/// `idea4_<farm id>.json`.
pub fn is_diagnostic_file(name: &str) -> bool {
    inbox::name_between(name, "idea4_", ".json").is_some()
}

/// `fermes.csv` (also `fermes_<group>.csv`).
pub fn is_register_file(name: &str) -> bool {
    name.eq_ignore_ascii_case("fermes.csv")
        || inbox::name_between(name, "fermes_", ".csv").is_some()
}

struct CivamDiagnostics;

impl Connector for CivamDiagnostics {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "civam-diagnostics".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "CIVAM farm diagnostics: IDEA4 calculator exports (idea4_<farm>.json) with item, indicator, component and dimension scores, and the farm register (fermes.csv), from the source's inbox".into(),
            config_schema: SCHEMA.into(),
            streams: vec![
                StreamInfo::new(
                    "diagnostics",
                    EntityKind::Diagnostic,
                    &["farm", "survey_year"],
                    None,
                    "IDEA4 diagnostics, one per idea4_<farm id>.json file, keyed <farm id>/<survey year>: item, indicator, component and dimension scores (not assessed is none, never 0; no overall score)",
                ),
                StreamInfo::new(
                    "farms",
                    EntityKind::Site,
                    &["Identifiant"],
                    None,
                    "The CIVAM group's farms (fermes.csv), keyed by Identifiant: name, SIRET, commune, group, short-circuit sales",
                ),
            ],
        }
    }

    fn check(_config: &Config) -> Result<(), ConnectorError> {
        inbox::files().map(|_| ())
    }

    fn read(_config: &Config, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        let stream = Stream::from_name(stream)?;
        let files: Vec<InboxFile> = inbox::files()?
            .into_iter()
            .filter(|f| stream.wants(&f.name))
            .collect();
        let batch = match stream {
            Stream::Diagnostics => read_diagnostics(state, &files)?,
            Stream::Farms => read_farms(state, &files)?,
        };
        log::info(format!(
            "{}: {} items, {} rejected, more: {}",
            match stream {
                Stream::Diagnostics => "diagnostics",
                Stream::Farms => "farms",
            },
            batch.items.len(),
            batch.rejects.len(),
            batch.more
        ));
        Ok(batch)
    }
}

fn read_bytes(file: &InboxFile) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(&file.path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_JSON_BYTES {
        return Err("too large for an IDEA4 export".into());
    }
    std::fs::read(&file.path).map_err(|e| format!("cannot read: {e}"))
}

/// Up to [`FILES_PER_BATCH`] diagnostic files per batch, in arrival order; a
/// batch stops before a second version of a name it already holds (its
/// `replace_origins` must apply before that version's records).
pub fn read_diagnostics(state: Option<&str>, files: &[InboxFile]) -> Result<Batch, ConnectorError> {
    let method = idea4::Method::load()
        .ok_or_else(|| ConnectorError::bad_data("the embedded IDEA4 method table is unreadable"))?;
    let mut checkpoint: FileCheckpoint = state::load(state)?;
    let mut batch = Batch::new();
    for file in files {
        if checkpoint.is_done(&file.id) {
            continue;
        }
        if batch.replace_origins.len() >= FILES_PER_BATCH
            || batch.replace_origins.contains(&file.name)
        {
            break;
        }
        batch.replace_origins.push(file.name.clone());
        let result = match read_bytes(file) {
            Ok(bytes) => diagnostic::read_file(&method, &file.name, &bytes),
            Err(detail) => Err(Reject::new(RejectReason::MalformedFile, "file", detail)
                .with_origin(file.name.clone())),
        };
        match result {
            Ok(item) => batch.items.push(item),
            Err(reject) => batch.rejects.push(reject),
        }
        checkpoint.finish(&file.id);
    }
    batch.more = checkpoint.remaining(files) > 0;
    batch.state = Some(state::save(&checkpoint)?);
    Ok(batch)
}

/// The register, [`ROWS_PER_BATCH`] rows per batch, resuming where it stopped.
pub fn read_farms(state: Option<&str>, files: &[InboxFile]) -> Result<Batch, ConnectorError> {
    csv_inbox::read(
        state,
        files,
        ROWS_PER_BATCH,
        |_, header| {
            farms::Columns::find(header)
                .map_err(|e| Refusal::new(RejectReason::MalformedFile, "file", e))
        },
        |columns, row, items| {
            items.push(farms::farm(columns, row)?);
            Ok(())
        },
    )
}

vivres_sdk::export_connector!(CivamDiagnostics);

#[cfg(test)]
mod tests;
