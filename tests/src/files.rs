//! The partners' export files (partners §1 IAE, §2–§5), written with every quirk
//! at a known rate and a known set of invalid rows, so tests know exactly what
//! must be stored and what quarantined. `partner-sim files --seed S --size N --out DIR`.
//!
//! Each network has its own module with
//! `pub fn write(out: &Path, seed: u64, size: usize) -> anyhow::Result<FileSet>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod civam;
pub mod iae;
pub mod secours;
pub mod ugess;
pub mod vrac;

/// What one network's files hold and what a correct connector + hub make of them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FileSet {
    /// The connector that reads them (`secours-catholique-aid`, …).
    pub connector: String,
    /// The files written, in the order they should be added to the inbox.
    pub files: Vec<PathBuf>,
    /// Data rows in all files (blank lines, header lines, TOTAL lines excluded).
    pub rows_total: usize,
    /// Fact table → rows that must be stored (after deduplication on natural keys).
    pub stored: BTreeMap<String, usize>,
    /// Quarantine reason → open entries at the end: one per line, reason and
    /// field of the latest version of each file.
    pub quarantined: BTreeMap<String, usize>,
    /// Every name, phone number, comment and raw identifier written: none may appear
    /// in the warehouse, logs or quarantine listing.
    pub raw_person_values: Vec<String>,
    /// Row-level expectations, for the rows a test checks value by value.
    pub rows: Vec<ExpectedRow>,
}

/// One input row and what must become of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpectedRow {
    pub file: String,
    /// 1-based physical line (CSV) or row (XLSX) number.
    pub line: u64,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Stored in `table` under the connector's raw partner key `key` (the hub stores
    /// its keyed hash: `Pseudonymiser::record_key(source, key)`), with these column
    /// values (warehouse column name → JSON value; only the columns worth checking).
    Stored {
        table: String,
        key: String,
        values: BTreeMap<String, serde_json::Value>,
    },
    Quarantined {
        reason: String,
        field: String,
    },
}

/// Writes every network's files under `out/<network>/`.
pub fn write_all(out: &Path, seed: u64, size: usize) -> anyhow::Result<Vec<FileSet>> {
    let mut sets = Vec::new();
    for (name, write) in [
        (
            "secours-catholique",
            secours::write as fn(&Path, u64, usize) -> anyhow::Result<FileSet>,
        ),
        ("ugess", ugess::write),
        ("vrac", vrac::write),
        ("civam", civam::write),
        ("cocagne-iae", iae::write),
    ] {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)?;
        sets.push(write(&dir, seed, size)?);
    }
    Ok(sets)
}

/// The entries open at the end, by reason: the sum of each file's latest
/// version's (an earlier version's entries close when it is re-sent).
pub fn sum_by_reason(
    files: impl IntoIterator<Item = BTreeMap<String, usize>>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in files {
        for (reason, n) in f {
            *out.entry(reason).or_default() += n;
        }
    }
    out
}
