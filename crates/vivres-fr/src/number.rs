//! Numbers as French spreadsheets write them: `15,50`, `15.50`, `15,50 €`,
//! `1 234,5` (space, U+00A0 or U+202F between thousands), `1.234,50`.
//!
//! A lone `.` or `,` is the decimal separator (`1.234` is 1.234); when both
//! occur, the last one is. Thousands groups after the first must have 3 digits,
//! otherwise the value is refused rather than guessed (`12 5`).

use crate::{ParseError, Parsed, is_missing};

/// A decimal read exactly, as digit strings.
#[derive(Debug, PartialEq)]
struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

fn is_group_space(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')
}

fn strip_currency(s: &str) -> &str {
    let mut t = s.trim();
    loop {
        let before = t;
        for sign in ["€", "EUR", "eur", "Eur"] {
            t = t.strip_suffix(sign).unwrap_or(t).trim();
            t = t.strip_prefix(sign).unwrap_or(t).trim();
        }
        if t == before {
            return t;
        }
    }
}

fn parse_parts(s: &str) -> Result<Parsed<Decimal>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    let mut t = strip_currency(s);
    let mut negative = false;
    if let Some(rest) = t.strip_prefix('-').or_else(|| t.strip_prefix('\u{2212}')) {
        negative = true;
        t = rest;
    } else if let Some(rest) = t.strip_prefix('+') {
        t = rest;
    }
    let t = strip_currency(t);
    if t.is_empty() {
        return Err(ParseError::new("not a number"));
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || c == ',' || c == '.' || is_group_space(c))
    {
        return Err(ParseError::new("not a number"));
    }
    let commas = t.matches(',').count();
    let points = t.matches('.').count();
    // Which character separates the decimals, and which one (if any) thousands.
    let (decimal, thousands) = match (commas, points) {
        (0, 0) => (None, None),
        (1, 0) => (Some(','), None),
        (0, 1) => (Some('.'), None),
        (_, 0) => (None, Some(',')),
        (0, _) => (None, Some('.')),
        _ => {
            let last_comma = t.rfind(',').unwrap_or(0);
            let last_point = t.rfind('.').unwrap_or(0);
            if last_comma > last_point {
                if commas > 1 {
                    return Err(ParseError::new("not a number: several decimal separators"));
                }
                (Some(','), Some('.'))
            } else {
                if points > 1 {
                    return Err(ParseError::new("not a number: several decimal separators"));
                }
                (Some('.'), Some(','))
            }
        }
    };
    let (int_part, frac_part) = match decimal.and_then(|d| t.rfind(d).map(|i| (d, i))) {
        Some((d, i)) => (&t[..i], &t[i + d.len_utf8()..]),
        None => (t, ""),
    };
    if !frac_part.chars().all(|c| c.is_ascii_digit()) {
        return Err(ParseError::new("not a number: separator in the decimals"));
    }
    let groups: Vec<&str> = int_part
        .split(|c: char| is_group_space(c) || Some(c) == thousands)
        .collect();
    if groups.len() > 1 {
        let first_ok = (1..=3).contains(&groups[0].len());
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return Err(ParseError::new("not a number: badly grouped thousands"));
        }
    }
    let int: String = groups.concat();
    if int.is_empty() && frac_part.is_empty() {
        return Err(ParseError::new("not a number"));
    }
    let int = int.trim_start_matches('0').to_string();
    if int.len() > 15 {
        return Err(ParseError::new("number too large"));
    }
    Ok(Parsed::Value(Decimal {
        negative,
        int,
        frac: frac_part.to_string(),
    }))
}

/// A decimal number (`15,50`, `1 234,5 €`, `-3.2`).
pub fn parse_decimal(s: &str) -> Result<Parsed<f64>, ParseError> {
    Ok(match parse_parts(s)? {
        Parsed::Missing => Parsed::Missing,
        Parsed::Value(d) => {
            let text = format!(
                "{}{}.{}",
                if d.negative { "-" } else { "" },
                if d.int.is_empty() { "0" } else { &d.int },
                if d.frac.is_empty() { "0" } else { &d.frac }
            );
            let v: f64 = text.parse().map_err(|_| ParseError::new("not a number"))?;
            Parsed::Value(v)
        }
    })
}

/// An amount in euros as integer cents, rounded half up (away from zero for
/// a negative amount): `1 234,50 €` is 123450, `0,005` is 1.
pub fn parse_cents(s: &str) -> Result<Parsed<i64>, ParseError> {
    Ok(match parse_parts(s)? {
        Parsed::Missing => Parsed::Missing,
        Parsed::Value(d) => {
            let digit =
                |i: usize| -> i64 { d.frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0')) };
            let euros: i64 = if d.int.is_empty() {
                0
            } else {
                d.int
                    .parse()
                    .map_err(|_| ParseError::new("number too large"))?
            };
            let mut cents = euros
                .checked_mul(100)
                .and_then(|c| c.checked_add(digit(0) * 10 + digit(1)))
                .ok_or_else(|| ParseError::new("number too large"))?;
            if digit(2) >= 5 {
                cents += 1;
            }
            Parsed::Value(if d.negative { -cents } else { cents })
        }
    })
}

/// A whole number (`3`, `1 200`, `3,0`); decimals other than zeros are refused.
pub fn parse_integer(s: &str) -> Result<Parsed<i64>, ParseError> {
    Ok(match parse_parts(s)? {
        Parsed::Missing => Parsed::Missing,
        Parsed::Value(d) => {
            if d.frac.chars().any(|c| c != '0') {
                return Err(ParseError::new("not a whole number"));
            }
            let v: i64 = if d.int.is_empty() {
                0
            } else {
                d.int
                    .parse()
                    .map_err(|_| ParseError::new("number too large"))?
            };
            Parsed::Value(if d.negative { -v } else { v })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(s: &str) -> i64 {
        match parse_cents(s) {
            Ok(Parsed::Value(v)) => v,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    fn dec(s: &str) -> f64 {
        match parse_decimal(s) {
            Ok(Parsed::Value(v)) => v,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn decimal_comma_and_point() {
        assert_eq!(dec("15,50"), 15.5);
        assert_eq!(dec("15.50"), 15.5);
        assert_eq!(dec("15"), 15.0);
        assert_eq!(dec(",5"), 0.5);
        assert_eq!(dec("-3,25"), -3.25);
        assert_eq!(dec("\u{2212}3,25"), -3.25);
        assert_eq!(dec("+2"), 2.0);
        assert_eq!(dec("1.234"), 1.234);
    }

    #[test]
    fn currency_and_thousands() {
        assert_eq!(dec("15,50 €"), 15.5);
        assert_eq!(dec("15,50€"), 15.5);
        assert_eq!(dec("€15.50"), 15.5);
        assert_eq!(dec("15,50 EUR"), 15.5);
        assert_eq!(dec("1 234,5"), 1234.5);
        assert_eq!(dec("1\u{a0}234,5"), 1234.5);
        assert_eq!(dec("1\u{202f}234,5"), 1234.5);
        assert_eq!(dec("1 234 567"), 1234567.0);
        assert_eq!(dec("1.234,50"), 1234.5);
        assert_eq!(dec("1,234.50"), 1234.5);
        assert_eq!(dec("1.234.567"), 1234567.0);
        assert_eq!(dec("-1 234,50 €"), -1234.5);
    }

    #[test]
    fn cents_round_half_up() {
        assert_eq!(cents("1 234,50 €"), 123450);
        assert_eq!(cents("1\u{202f}234,50\u{a0}€"), 123450);
        assert_eq!(cents("1\u{202f}234,50 €"), 123450);
        assert_eq!(cents("15,5"), 1550);
        assert_eq!(cents("15"), 1500);
        assert_eq!(cents("0,005"), 1);
        assert_eq!(cents("0,004"), 0);
        assert_eq!(cents("2,675"), 268);
        assert_eq!(cents("2,6749"), 267);
        assert_eq!(cents("-2,675"), -268);
        assert_eq!(cents("0"), 0);
        assert_eq!(cents("007,10"), 710);
    }

    #[test]
    fn missing_is_not_invalid() {
        for s in ["", "NC", "?", "-", " "] {
            assert_eq!(parse_cents(s), Ok(Parsed::Missing), "{s:?}");
            assert_eq!(parse_decimal(s), Ok(Parsed::Missing), "{s:?}");
        }
        for s in [
            "abc",
            "12 5",
            "1,2,3.4.5",
            "1,5,0",
            "12a",
            "€",
            "1.2.3,4,5",
            "--5",
            "1e5",
            "15,5 0",
        ] {
            assert!(parse_cents(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn messages_hide_the_value() {
        let e = parse_cents("secret123abc").unwrap_err();
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn too_large() {
        assert!(parse_cents("99999999999999999999").is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer("3"), Ok(Parsed::Value(3)));
        assert_eq!(parse_integer("1 200"), Ok(Parsed::Value(1200)));
        assert_eq!(parse_integer("3,0"), Ok(Parsed::Value(3)));
        assert_eq!(parse_integer("-2"), Ok(Parsed::Value(-2)));
        assert!(parse_integer("3,5").is_err());
        assert_eq!(parse_integer("NC"), Ok(Parsed::Missing));
    }
}
