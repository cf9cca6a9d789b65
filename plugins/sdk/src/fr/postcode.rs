//! Residences: the guest only cleans postcodes (`vivres_fr::parse_postcode`); the host resolves the commune
//! (and quarantines a well-formed code that is not a French postcode, `99999`).

use super::{ParseError, Parsed, clean_postcode, is_missing, repair_mojibake};
use crate::model::Location;

/// A residence from a postcode cell and a commune cell, as the host wants it:
/// - a clean postcode is kept, with the commune beside it;
/// - a postcode cell holding a city name instead (no digit at all) is read as
///   the commune when the commune cell is empty; the host resolves it, or
///   quarantines it `unresolved-location` when the name is ambiguous;
/// - a postcode cell with digits that do not make a postcode is an error: the
///   record goes to quarantine as `unknown-postcode`;
/// - both missing: `None`.
pub fn residence(
    postcode: Option<&str>,
    commune: Option<&str>,
) -> Result<Option<Location>, ParseError> {
    let commune = commune
        .filter(|c| !is_missing(c))
        .map(|c| repair_mojibake(c.trim()).into_owned());
    let (postcode, commune) = match postcode.map(clean_postcode) {
        None | Some(Ok(Parsed::Missing)) => (None, commune),
        Some(Ok(Parsed::Value(p))) => (Some(p), commune),
        Some(Err(e)) => {
            let raw = postcode.unwrap_or_default().trim();
            if raw.chars().any(|c| c.is_ascii_digit()) {
                return Err(e);
            }
            (
                None,
                commune.or_else(|| Some(repair_mojibake(raw).into_owned())),
            )
        }
    };
    if postcode.is_none() && commune.is_none() {
        return Ok(None);
    }
    Ok(Some(Location::new(postcode, commune)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residences() {
        let l = residence(Some("1000"), Some("Bourg-en-Bresse"))
            .unwrap()
            .unwrap();
        assert_eq!(l.postcode.as_deref(), Some("01000"));
        assert_eq!(l.commune.as_deref(), Some("Bourg-en-Bresse"));
        let l = residence(Some("Villeurbanne"), None).unwrap().unwrap();
        assert_eq!(
            (l.postcode, l.commune.as_deref()),
            (None, Some("Villeurbanne"))
        );
        let l = residence(Some("Lyon"), Some("Lyon")).unwrap().unwrap();
        assert_eq!((l.postcode, l.commune.as_deref()), (None, Some("Lyon")));
        let l = residence(Some(""), Some("Montpellier")).unwrap().unwrap();
        assert_eq!(
            (l.postcode, l.commune.as_deref()),
            (None, Some("Montpellier"))
        );
        let l = residence(Some("34000"), Some("Montpell\u{c3}\u{a9}"))
            .unwrap()
            .unwrap();
        assert_eq!(l.commune.as_deref(), Some("Montpellé"));
        assert!(residence(Some("690"), Some("Lyon")).is_err());
        assert_eq!(residence(None, None).unwrap(), None);
        assert_eq!(residence(Some("NC"), Some("")).unwrap(), None);
    }
}
