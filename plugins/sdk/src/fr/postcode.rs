//! Postcodes: the guest only cleans them; the host resolves the commune
//! (and quarantines a well-formed code that is not a French postcode, `99999`).

use super::text::repair_mojibake;
use super::{ParseError, Parsed, is_missing};
use crate::model::Location;

/// Cleans a postcode: strips spaces (also U+00A0, U+202F), `CEDEX` and what
/// follows it, restores a leading zero lost by a spreadsheet (`1000` is
/// `01000`). Anything that is not then 5 digits is an error.
pub fn clean_postcode(s: &str) -> Result<Parsed<String>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    let upper = s.trim().to_uppercase();
    let before_cedex = match upper.find("CEDEX") {
        Some(i) => &upper[..i],
        None => &upper[..],
    };
    let compact: String = before_cedex
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if compact.is_empty() {
        return Err(ParseError::new("no postcode before CEDEX"));
    }
    if !compact.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new("not a postcode: not only digits"));
    }
    match compact.len() {
        5 => Ok(Parsed::Value(compact)),
        4 => Ok(Parsed::Value(format!("0{compact}"))),
        _ => Err(ParseError::new("not a postcode: not 5 digits")),
    }
}

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

    fn clean(s: &str) -> String {
        match clean_postcode(s) {
            Ok(Parsed::Value(v)) => v,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn cleans_postcodes() {
        assert_eq!(clean("69008"), "69008");
        assert_eq!(clean(" 69 008 "), "69008");
        assert_eq!(clean("69\u{a0}008"), "69008");
        assert_eq!(clean("69\u{202f}008"), "69008");
        assert_eq!(clean("1000"), "01000");
        assert_eq!(clean("13001 CEDEX"), "13001");
        assert_eq!(clean("31000 Cedex 6"), "31000");
        assert_eq!(clean("99999"), "99999"); // the host decides it is not French
    }

    #[test]
    fn refuses_what_is_not_a_postcode() {
        for s in ["690", "690088", "Lyon", "69OO8", "CEDEX 3", "2A004"] {
            assert!(clean_postcode(s).is_err(), "{s:?}");
        }
        assert_eq!(clean_postcode("NC"), Ok(Parsed::Missing));
        assert_eq!(clean_postcode(""), Ok(Parsed::Missing));
    }

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
