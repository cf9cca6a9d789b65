//! Quantities as order sheets and basket contents write them: `3`, `1,5`,
//! `1/2`, `500g`, `2 x 1kg`, `3 pces`, `1 botte`.
//!
//! Units are normalised: weights to `kg` (`500g` is 0.5 kg), volumes to `l`
//! (`75 cl` is 0.75 l), counts to `piece` (`pce`, `pces`, `pc`, `u`, `unité`;
//! a `douzaine` is 12 pieces), bunches to `bunch` (`botte`, `bouquet`), and the
//! packaging units `barquette`, `sachet`, `pot`, `bocal`, `boite`, `bouteille`,
//! `paquet`, `filet`, `tete`, `colis` to themselves (singular, unaccented). Any
//! other unit is an error, never a guess. A negative quantity is returned as
//! such: the caller decides (a UGESS return, elsewhere `invalid-quantity`).

use crate::number::parse_decimal;
use crate::text::fold_label;
use crate::{ParseError, Parsed, is_missing};

/// A quantity and its normalised unit (`None`: a bare number).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Option<String>,
}

/// (unit as written, folded and singular → normalised unit, factor).
fn unit(u: &str) -> Option<(&'static str, f64)> {
    let u = u.trim().trim_end_matches('.');
    let singular = u.strip_suffix('s').filter(|s| s.len() > 1).unwrap_or(u);
    let known = |s: &str| -> Option<(&'static str, f64)> {
        Some(match s {
            "kg" | "kilo" | "kilogramme" | "kgr" => ("kg", 1.0),
            "g" | "gr" | "gramme" | "gram" => ("kg", 1e-3),
            "l" | "litre" | "lt" | "liter" => ("l", 1.0),
            "cl" => ("l", 1e-2),
            "ml" => ("l", 1e-3),
            "pce" | "pc" | "piece" | "u" | "unite" | "unit" | "p" => ("piece", 1.0),
            "douzaine" | "dz" => ("piece", 12.0),
            "botte" | "bouquet" | "bunch" => ("bunch", 1.0),
            "barquette" => ("barquette", 1.0),
            "sachet" => ("sachet", 1.0),
            "pot" => ("pot", 1.0),
            "bocal" | "bocaux" => ("bocal", 1.0),
            "boite" => ("boite", 1.0),
            "bouteille" => ("bouteille", 1.0),
            "paquet" => ("paquet", 1.0),
            "filet" => ("filet", 1.0),
            "tete" => ("tete", 1.0),
            "colis" => ("colis", 1.0),
            _ => return None,
        })
    };
    known(u).or_else(|| known(singular))
}

fn round9(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// A number, a fraction `a/b`, or a vulgar fraction `½`.
fn number(s: &str) -> Result<f64, ParseError> {
    let t = s.trim();
    match t {
        "½" => return Ok(0.5),
        "¼" => return Ok(0.25),
        "¾" => return Ok(0.75),
        _ => {}
    }
    if let Some((a, b)) = t.split_once('/') {
        let a = parse_decimal(a)?
            .value()
            .ok_or_else(|| ParseError::new("not a quantity"))?;
        let b = parse_decimal(b)?
            .value()
            .ok_or_else(|| ParseError::new("not a quantity"))?;
        if b == 0.0 {
            return Err(ParseError::new("not a quantity: division by zero"));
        }
        return Ok(a / b);
    }
    parse_decimal(t)?
        .value()
        .ok_or_else(|| ParseError::new("not a quantity"))
}

/// A number followed by an optional unit (`500g`, `1,5 kg`, `3 pces`, `1/2`).
fn simple(s: &str) -> Result<Quantity, ParseError> {
    let t = s.trim();
    let split = t
        .char_indices()
        .find(|&(_, c)| c.is_alphabetic())
        .map_or(t.len(), |(i, _)| i);
    let (num, u) = t.split_at(split);
    if num.trim().is_empty() {
        return Err(ParseError::new("not a quantity: no number"));
    }
    let value = number(num)?;
    let u = u.trim();
    if u.is_empty() {
        return Ok(Quantity { value, unit: None });
    }
    let (name, factor) = unit(u).ok_or_else(|| ParseError::new("not a quantity: unknown unit"))?;
    let value = if factor < 1.0 {
        // 500 g → 0.5 exactly: divide rather than multiply by 0.001.
        value / (1.0 / factor).round()
    } else {
        value * factor
    };
    Ok(Quantity {
        value: round9(value),
        unit: Some(name.to_string()),
    })
}

/// A quantity: `Ok(Parsed::Missing)` for an empty cell or a missing marker,
/// an error for anything unreadable (the message never holds the value).
pub fn parse_quantity(s: &str) -> Result<Parsed<Quantity>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    let t = fold_label(s); // also folds U+00A0 and U+202F to spaces
    let t = t.trim();
    // `2 x 1kg`, `2x500g`, `2 × 1 kg`, `2 * 1kg`.
    if let Some(i) = t.find(['x', '×', '*']) {
        let (count, rest) = t.split_at(i);
        let rest = &rest[rest.chars().next().map_or(0, char::len_utf8)..];
        if !count.trim().is_empty() && count.trim().chars().all(|c| !c.is_alphabetic()) {
            let n = number(count)?;
            let q = simple(rest)?;
            return Ok(Parsed::Value(Quantity {
                value: round9(n * q.value),
                unit: q.unit,
            }));
        }
    }
    simple(t).map(Parsed::Value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> (f64, Option<&'static str>) {
        match parse_quantity(s) {
            Ok(Parsed::Value(q)) => (
                q.value,
                q.unit
                    .map(|u| -> &'static str { Box::leak(u.into_boxed_str()) }),
            ),
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn the_forms_of_the_partners() {
        assert_eq!(q("1/2"), (0.5, None));
        assert_eq!(q("500g"), (0.5, Some("kg")));
        assert_eq!(q("500 g"), (0.5, Some("kg")));
        assert_eq!(q("2 x 1kg"), (2.0, Some("kg")));
        assert_eq!(q("2x500g"), (1.0, Some("kg")));
        assert_eq!(q("2 × 1 kg"), (2.0, Some("kg")));
        assert_eq!(q("3 pces"), (3.0, Some("piece")));
        assert_eq!(q("1 pce"), (1.0, Some("piece")));
        assert_eq!(q("1,5"), (1.5, None));
        assert_eq!(q("1.5"), (1.5, None));
        assert_eq!(q("3"), (3.0, None));
        assert_eq!(q("1 botte"), (1.0, Some("bunch")));
        assert_eq!(q("2 bottes"), (2.0, Some("bunch")));
        assert_eq!(q("1,5 kg"), (1.5, Some("kg")));
        assert_eq!(q("1/2 kg"), (0.5, Some("kg")));
        assert_eq!(q("75 cl"), (0.75, Some("l")));
        assert_eq!(q("1 L"), (1.0, Some("l")));
        assert_eq!(q("1 douzaine"), (12.0, Some("piece")));
        assert_eq!(q("2 Barquettes"), (2.0, Some("barquette")));
        assert_eq!(q("250 gr"), (0.25, Some("kg")));
        assert_eq!(q("½"), (0.5, None));
        assert_eq!(q("3 unités"), (3.0, Some("piece")));
        assert_eq!(q("2 bocaux"), (2.0, Some("bocal")));
    }

    #[test]
    fn negatives_are_returned_for_the_caller_to_judge() {
        assert_eq!(q("-1"), (-1.0, None));
        assert_eq!(q("-2 pces"), (-2.0, Some("piece")));
        assert_eq!(q("-0,5 kg"), (-0.5, Some("kg")));
    }

    #[test]
    fn missing_and_errors() {
        for s in ["", "NC", "?", "-", " "] {
            assert_eq!(parse_quantity(s), Ok(Parsed::Missing), "{s:?}");
        }
        for s in [
            "beaucoup",
            "2 chameaux",
            "1/0",
            "x 2",
            "kg",
            "abc x 2kg",
            "2 x",
            "1,2,3",
        ] {
            assert!(parse_quantity(s).is_err(), "{s:?}");
        }
        let e = parse_quantity("secret42 chameaux").unwrap_err();
        assert!(!e.message().contains("secret"));
    }
}
