//! Whether the hub will take a residence or refuse it, decided in the guest with
//! the hub's own rules, data and name keys (feature `geo`).
//!
//! A row that carries a residence beside records that carry none (a Secours
//! Catholique row gives a household and its aids; a VRAC member row gives the
//! member and order lines) is refused or taken as a whole: the connector asks
//! here, with the row's [`Location`], and refuses every record of the row when
//! the hub would refuse its residence (`unknown_postcode`, `unresolved_location`).
//!
//! Same rules as the hub's `Gazetteer::resolve` (`hub/src/geo.rs`), on the same
//! data (`hub/data/communes.csv`, embedded by `build.rs` as compact tables) and
//! through the same code for postcodes and name keys (the `vivres-fr` crate):
//! - a postcode that cleans to five digits is taken when La Poste knows it (a
//!   CEDEX code it does not know, when the name is one commune of its
//!   département), else `unknown_postcode`; one that does not clean is
//!   `unknown_postcode`; a city written in the postcode field is read as the name
//!   when it is a commune name and the commune field is empty or says the same;
//! - a commune name alone is taken when exactly one commune bears it, else
//!   `unresolved_location` (several communes, or none);
//! - nothing given is an unknown residence, taken.
//!
//! A location with an INSEE code is left to the hub (no connector sends one).

mod table;

use vivres_fr::{CleanPostcode, Code5, clean_postcode, given_text, name_key};

use crate::model::{Location, RejectReason};

static POSTCODES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/postcodes.bin"));
static NAMES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/names.bin"));

/// Why the hub would refuse a residence: its reason, the location field
/// (`postcode` or `commune`) and a detail that never holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidenceRefusal {
    pub reason: RejectReason,
    pub field: &'static str,
    pub detail: &'static str,
}

fn refusal(reason: RejectReason, field: &'static str, detail: &'static str) -> ResidenceRefusal {
    ResidenceRefusal {
        reason,
        field,
        detail,
    }
}

fn not_a_postcode(detail: &'static str) -> ResidenceRefusal {
    refusal(RejectReason::UnknownPostcode, "postcode", detail)
}

/// `Ok` when the hub will resolve `loc` (or keep it unknown), the refusal it
/// would make otherwise.
pub fn check_residence(loc: &Location) -> Result<(), ResidenceRefusal> {
    if given_text(loc.insee.as_deref()).is_some() {
        return Ok(());
    }
    let name = given_text(loc.commune.as_deref());
    let Some(raw) = given_text(loc.postcode.as_deref()) else {
        return by_name(name, "commune");
    };
    match clean_postcode(raw) {
        CleanPostcode::Empty => by_name(name, "commune"),
        CleanPostcode::Invalid => Err(not_a_postcode("not a French postcode")),
        CleanPostcode::Name(city) => {
            let key = name_key(city);
            let agrees = name.is_none_or(|n| name_key(n) == key);
            if agrees && !communes_named(&key).is_empty() {
                by_key(&key, "postcode")
            } else {
                Err(not_a_postcode("not a French postcode"))
            }
        }
        CleanPostcode::Code { code, cedex } => {
            if is_postcode(code) || cedex && name.is_some_and(|n| unique_in_departement(n, code)) {
                Ok(())
            } else {
                Err(not_a_postcode("not a known French postcode"))
            }
        }
    }
}

fn by_name(name: Option<&str>, field: &'static str) -> Result<(), ResidenceRefusal> {
    match name {
        None => Ok(()),
        Some(n) => by_key(&name_key(n), field),
    }
}

fn by_key(key: &str, field: &'static str) -> Result<(), ResidenceRefusal> {
    match communes_named(key).len() / table::ENTRY {
        1 => Ok(()),
        0 => Err(refusal(
            RejectReason::UnresolvedLocation,
            field,
            "no French commune has this name",
        )),
        _ => Err(refusal(
            RejectReason::UnresolvedLocation,
            field,
            "commune name shared by several communes in several départements",
        )),
    }
}

/// A La Poste postcode.
fn is_postcode(code: Code5) -> bool {
    let Ok(n) = code.as_str().parse::<usize>() else {
        return false;
    };
    POSTCODES
        .get(n / 8)
        .is_some_and(|b| b & (1 << (n % 8)) != 0)
}

/// The `names.bin` entries of the communes whose name key is `key`.
fn communes_named(key: &str) -> &'static [u8] {
    let hash = table::key_hash(key);
    let n = NAMES.len() / table::ENTRY;
    let hash_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&NAMES[i * table::ENTRY..i * table::ENTRY + 8]);
        u64::from_le_bytes(b)
    };
    // First entry not below `hash`, then the run equal to it.
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if hash_at(mid) < hash {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut end = lo;
    while end < n && hash_at(end) == hash {
        end += 1;
    }
    &NAMES[lo * table::ENTRY..end * table::ENTRY]
}

/// The one commune of a CEDEX code's département with this name.
fn unique_in_departement(name: &str, code: Code5) -> bool {
    let pc = code.as_str();
    let two: u16 = pc[..2].parse().unwrap_or(0);
    let three: u16 = pc[..3].parse().unwrap_or(0);
    let in_dep = |dep: u16| match two {
        20 => dep == table::departement_code("2A") || dep == table::departement_code("2B"),
        97 | 98 => dep == three,
        _ => dep == two,
    };
    communes_named(&name_key(name))
        .chunks_exact(table::ENTRY)
        .filter(|e| in_dep(u16::from_le_bytes([e[8], e[9]])))
        .count()
        == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        postcode: Option<&str>,
        commune: Option<&str>,
    ) -> Result<(), (RejectReason, &'static str)> {
        let loc = Location::new(postcode.map(str::to_owned), commune.map(str::to_owned));
        check_residence(&loc).map_err(|r| (r.reason, r.field))
    }

    const UNKNOWN: RejectReason = RejectReason::UnknownPostcode;
    const UNRESOLVED: RejectReason = RejectReason::UnresolvedLocation;

    #[test]
    fn postcodes() {
        for pc in [
            "69001", "01000", "1000", "69 008", "31000", "34000", "13001", "75001", "97400",
        ] {
            assert_eq!(check(Some(pc), None), Ok(()), "{pc}");
        }
        // A postcode decides, whatever the name beside it.
        assert_eq!(check(Some("69003"), Some("Saint-Denis")), Ok(()));
        assert_eq!(check(Some("07000"), Some("Villeurbanne")), Ok(()));
        for pc in ["99999", "00000", "69999"] {
            assert_eq!(check(Some(pc), None), Err((UNKNOWN, "postcode")), "{pc}");
        }
        for pc in ["690", "690080", "69-008", "69OO8"] {
            assert_eq!(check(Some(pc), None), Err((UNKNOWN, "postcode")), "{pc}");
        }
    }

    #[test]
    fn names_alone() {
        assert_eq!(check(None, Some("Villeurbanne")), Ok(()));
        assert_eq!(check(None, Some("VILLEURBANNE ")), Ok(()));
        assert_eq!(
            check(None, Some("VÃ©nissieux")),
            Ok(()),
            "mojibake repaired"
        );
        assert_eq!(check(None, Some("STE FOY LES LYON")), Ok(()));
        assert_eq!(check(None, Some("Lyon 3ème")), Ok(()), "an arrondissement");
        // Several communes of several départements.
        for name in ["Saint-Denis", "Valence", "saint denis", "St-Priest"] {
            assert_eq!(
                check(None, Some(name)),
                Err((UNRESOLVED, "commune")),
                "{name}"
            );
        }
        assert_eq!(
            check(None, Some("Nulle-Part-sur-Mer")),
            Err((UNRESOLVED, "commune"))
        );
    }

    #[test]
    fn a_city_in_the_postcode_field() {
        assert_eq!(check(Some("Villeurbanne"), None), Ok(()));
        assert_eq!(check(Some("Villeurbanne"), Some("villeurbanne")), Ok(()));
        assert_eq!(
            check(Some("Villeurbanne"), Some("Bron")),
            Err((UNKNOWN, "postcode"))
        );
        assert_eq!(check(Some("ABCDE"), None), Err((UNKNOWN, "postcode")));
        assert_eq!(
            check(Some("Saint-Denis"), None),
            Err((UNRESOLVED, "postcode"))
        );
    }

    #[test]
    fn cedex_codes() {
        // 69361 is a CEDEX code of Lyon, no La Poste commune postcode.
        assert_eq!(check(Some("69361 CEDEX 07"), Some("Lyon")), Ok(()));
        assert_eq!(
            check(Some("69361 CEDEX 07"), None),
            Err((UNKNOWN, "postcode"))
        );
        assert_eq!(
            check(Some("69361"), Some("Lyon")),
            Err((UNKNOWN, "postcode"))
        );
    }

    #[test]
    fn nothing_given_is_taken() {
        assert_eq!(check(None, None), Ok(()));
        assert_eq!(check(Some(" "), Some("-")), Ok(()));
        assert_eq!(check(Some("NC"), Some("NR")), Ok(()));
        assert_eq!(check(Some(" CEDEX "), None), Ok(()));
    }
}
