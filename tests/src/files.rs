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
    write_all_in(out, seed, size, crate::Territory::Lyon)
}

/// Writes every network's files under `out/<network>/`, for people and
/// farms living in `territory`'s communes (the demo gives each territory its
/// own, of its own size).
pub fn write_all_in(
    out: &Path,
    seed: u64,
    size: usize,
    territory: crate::Territory,
) -> anyhow::Result<Vec<FileSet>> {
    type Write = fn(&Path, u64, usize, crate::Territory) -> anyhow::Result<FileSet>;
    let mut sets = Vec::new();
    for (name, write) in [
        ("secours-catholique", secours::write_in as Write),
        ("ugess", ugess::write_in),
        ("vrac", vrac::write_in),
        ("civam", civam::write_in),
        ("cocagne-iae", iae::write_in),
    ] {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)?;
        sets.push(write(&dir, seed, size, territory)?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Territory;

    /// The text of every file of a set (Windows-1252 read byte by byte).
    fn text(sets: &[FileSet]) -> String {
        let mut out = String::new();
        for set in sets {
            for f in &set.files {
                let bytes = std::fs::read(f).unwrap();
                out.extend(bytes.iter().map(|b| *b as char));
            }
        }
        out
    }

    /// The demo gives each territory files of its own: households and farms
    /// in that territory's communes, not Lyon's.
    #[test]
    fn each_territory_gets_files_of_its_own_communes() {
        let dir = std::env::temp_dir().join(format!("vivres-files-{}", std::process::id()));
        let lyon = write_all_in(&dir.join("lyon"), 42, 60, Territory::Lyon).unwrap();
        let toulouse = write_all_in(&dir.join("toulouse"), 43, 40, Territory::Toulouse).unwrap();
        let (lyon, toulouse) = (text(&lyon), text(&toulouse));
        let count = |t: &str, territory: Territory| {
            crate::places::inside(territory)
                .iter()
                .filter(|(cp, _)| t.contains(&format!(";{cp};")) || t.contains(&format!(",{cp},")))
                .count()
        };
        assert!(
            count(&toulouse, Territory::Toulouse) >= 3,
            "Toulouse's postcodes"
        );
        assert_eq!(count(&lyon, Territory::Toulouse), 0);
        assert!(count(&lyon, Territory::Lyon) >= 3, "Lyon's postcodes");
        assert_ne!(lyon.len(), toulouse.len(), "sizes differ");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
