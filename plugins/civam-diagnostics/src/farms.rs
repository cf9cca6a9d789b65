//! The farm register `fermes.csv` (`;`, UTF-8):
//! `Identifiant;Nom;SIRET;CP;Commune;Groupe CIVAM;Vente en circuit court (O/N)`.
//! Each farm is a site of kind `farm` keyed by its `Identifiant`; it belongs to
//! the source's territory, its commune is kept as its location.

use vivres_sdk::csv::{Header, Record};
use vivres_sdk::csv_inbox::Refusal;
use vivres_sdk::fr;
use vivres_sdk::model::{Entity, Item, RejectReason, Site, SiteKind};

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

/// One register row → a farm site, or its refusal.
pub fn farm(cols: &Columns, row: &Record) -> Result<Item, Refusal> {
    let id = row.get(cols.id);
    if fr::is_missing(id) {
        return Err(Refusal::new(
            RejectReason::MissingRequired,
            "Identifiant",
            "empty farm identifier",
        ));
    }
    let with_key = |r: Refusal| r.with_key(id);
    let location = fr::residence(
        cols.postcode.map(|i| row.get(i)),
        cols.commune.map(|i| row.get(i)),
    )
    .map_err(|e| {
        with_key(Refusal::new(
            RejectReason::UnknownPostcode,
            "CP",
            e.message(),
        ))
    })?;
    let short_circuit = parse_yes_no(row.get_opt(cols.short_circuit)).map_err(|()| {
        with_key(Refusal::new(
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
