//! The farm register `fermes.csv` (`;`, UTF-8):
//! `Identifiant;Nom;SIRET;CP;Commune;Groupe CIVAM;Vente en circuit court (O/N)`.
//! Each farm is a site of kind `farm` keyed by its `Identifiant`; it belongs to
//! the source's territory, its commune is kept as its location.

use vivres_sdk::csv::{CsvReader, Header, Record};
use vivres_sdk::fr;
use vivres_sdk::model::{Entity, Item, Reject, RejectReason, Site, SiteKind};

/// Column positions of one register file.
pub struct Columns {
    id: usize,
    name: Option<usize>,
    siret: Option<usize>,
    postcode: Option<usize>,
    commune: Option<usize>,
    group: Option<usize>,
    short_circuit: Option<usize>,
}

pub const SHORT_CIRCUIT: &str = "Vente en circuit court (O/N)";

impl Columns {
    /// The columns, or what makes the file unreadable (no `Identifiant`).
    pub fn find(header: &Header) -> Result<Columns, String> {
        let id = header
            .index_any(&["Identifiant", "Id", "Identifiant ferme"])
            .ok_or_else(|| "no column `Identifiant` in the header".to_string())?;
        Ok(Columns {
            id,
            name: header.index_any(&["Nom", "Nom de la ferme"]),
            siret: header.index("SIRET"),
            postcode: header.index_any(&["CP", "Code postal"]),
            commune: header.index("Commune"),
            group: header.index_any(&["Groupe CIVAM", "Groupe"]),
            short_circuit: header.index_any(&[SHORT_CIRCUIT, "Vente en circuit court"]),
        })
    }
}

/// `O`/`N` (also `oui`/`non`, `1`/`0`); empty is unknown.
pub fn parse_yes_no(s: &str) -> Result<Option<bool>, ()> {
    if fr::is_missing(s) {
        return Ok(None);
    }
    match fr::fold_label(s).as_str() {
        "o" | "oui" | "y" | "yes" | "1" | "x" | "vrai" => Ok(Some(true)),
        "n" | "non" | "no" | "0" | "faux" => Ok(Some(false)),
        _ => Err(()),
    }
}

fn opt(s: &str) -> Option<String> {
    if fr::is_missing(s) {
        None
    } else {
        Some(s.to_string())
    }
}

/// One register row → a farm site, or its reject.
pub fn farm(cols: &Columns, row: &Record, separator: u8) -> Result<Item, Reject> {
    let reject = |reason, field: &str, detail: &str| {
        Reject::new(reason, field, detail)
            .with_line(row.line)
            .with_raw(row.raw(separator))
    };
    let id = row.get(cols.id);
    if fr::is_missing(id) {
        return Err(reject(
            RejectReason::MissingRequired,
            "Identifiant",
            "empty farm identifier",
        ));
    }
    let with_key = |r: Reject| r.with_key(id);
    let location = fr::residence(
        cols.postcode.map(|i| row.get(i)),
        cols.commune.map(|i| row.get(i)),
    )
    .map_err(|e| with_key(reject(RejectReason::UnknownPostcode, "CP", e.message())))?;
    let short_circuit = parse_yes_no(row.get_opt(cols.short_circuit)).map_err(|()| {
        with_key(reject(
            RejectReason::UnknownLabel,
            SHORT_CIRCUIT,
            "expected O or N",
        ))
    })?;
    let siret = opt(row.get_opt(cols.siret)).map(|s| {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '.')
            .collect::<String>()
    });
    let site = Site {
        kind: SiteKind::Farm,
        name: opt(row.get_opt(cols.name)),
        location,
        group: opt(row.get_opt(cols.group)),
        short_circuit,
        siret,
    };
    Ok(Item::new(id, Entity::Site(site)))
}

/// Reads the rows of `csv` after the current position into `items` and
/// `rejects`, at most `limit` rows; the last physical line read and whether
/// the file ended.
pub fn read_rows(
    csv: &mut CsvReader,
    cols: &Columns,
    limit: usize,
    items: &mut Vec<Item>,
    rejects: &mut Vec<Reject>,
) -> Result<(u64, bool), vivres_sdk::csv::CsvError> {
    let separator = csv.separator();
    let mut last = 0;
    let mut n = 0;
    while n < limit {
        let Some(row) = csv.next_row()? else {
            return Ok((last, true));
        };
        last = row.line;
        match farm(cols, &row, separator) {
            Ok(item) => items.push(item.with_line(row.line)),
            Err(reject) => rejects.push(reject),
        }
        n += 1;
    }
    Ok((last, false))
}
