//! Postcodes: cleaned here, resolved to a commune by the hub (which refuses a
//! well-formed code La Poste does not know, `99999`).

use crate::{ParseError, Parsed, is_missing};

/// A cleaned five-character code (postcode or INSEE), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code5([u8; 5]);

impl Code5 {
    /// `s` if it is exactly five ASCII alphanumerics (uppercased: `2a004` → `2A004`).
    pub fn parse(s: &str) -> Option<Code5> {
        let b = s.as_bytes();
        if b.len() != 5 || !b.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut code = [0u8; 5];
        for (dst, src) in code.iter_mut().zip(b) {
            *dst = src.to_ascii_uppercase();
        }
        Some(Code5(code))
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII bytes.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Code5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for Code5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a raw postcode field holds once cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanPostcode<'a> {
    /// Nothing (empty, blanks, or only `CEDEX`).
    Empty,
    /// Five digits (a lost leading zero restored). `cedex` tells a `CEDEX` suffix was
    /// removed (the code may then be a CEDEX code, absent from the commune list).
    Code { code: Code5, cedex: bool },
    /// Letters only: a city written where the postcode should be (trimmed text).
    Name(&'a str),
    /// Anything else: not a French postcode.
    Invalid,
}

/// Cleans a postcode field: trims; a missing marker ([`is_missing`]) is empty;
/// removes `CEDEX` (any case) and everything after it (a `CEDEX` with no code
/// before it is no postcode); drops a spreadsheet's `.0`; removes every space
/// (U+00A0, U+202F too); restores a lost leading zero (`1000` → `01000`).
/// Letters alone are a city written in the postcode field. Allocation-free.
pub fn clean_postcode(raw: &str) -> CleanPostcode<'_> {
    let mut text = raw.trim();
    if is_missing(text) {
        return CleanPostcode::Empty;
    }
    let mut cedex = false;
    if let Some(pos) = find_ascii_ci(text, "cedex") {
        text = text[..pos].trim_end();
        cedex = true;
    }
    let mut digits = [0u8; 5];
    let mut n = 0usize;
    let mut has_letter = false;
    let mut other = false;
    let body = text.strip_suffix(".0").unwrap_or(text);
    for c in body.chars() {
        match c {
            '0'..='9' => {
                if n < 5 {
                    digits[n] = c as u8;
                }
                n += 1;
            }
            c if c.is_whitespace() => {}
            c if c.is_alphabetic() => has_letter = true,
            _ => other = true,
        }
    }
    if n == 0 && !has_letter && !other {
        return CleanPostcode::Empty;
    }
    if has_letter && n == 0 {
        return CleanPostcode::Name(text);
    }
    if has_letter || other {
        return CleanPostcode::Invalid;
    }
    match n {
        5 => CleanPostcode::Code {
            code: Code5(digits),
            cedex,
        },
        4 => CleanPostcode::Code {
            code: Code5([b'0', digits[0], digits[1], digits[2], digits[3]]),
            cedex,
        },
        _ => CleanPostcode::Invalid,
    }
}

/// A postcode cell as a connector reads it: the five digits
/// ([`clean_postcode`]), missing, or an error (a city name or anything that is
/// not a postcode; the message never repeats the value).
pub fn parse_postcode(s: &str) -> Result<Parsed<String>, ParseError> {
    match clean_postcode(s) {
        CleanPostcode::Empty => Ok(Parsed::Missing),
        CleanPostcode::Code { code, .. } => Ok(Parsed::Value(code.as_str().to_string())),
        CleanPostcode::Name(_) => Err(ParseError::new("not a postcode: not only digits")),
        CleanPostcode::Invalid => Err(ParseError::new("not a postcode: not 5 digits")),
    }
}

/// Byte offset of `needle` (lowercase ASCII) in `hay`, ASCII case-insensitively.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes() {
        let code = |s: &str| match clean_postcode(s) {
            CleanPostcode::Code { code, .. } => Some(code.as_str().to_owned()),
            _ => None,
        };
        assert_eq!(code("69 008").as_deref(), Some("69008"));
        assert_eq!(code("69\u{00A0}008").as_deref(), Some("69008"));
        assert_eq!(code("69\u{202F}008").as_deref(), Some("69008"));
        assert_eq!(code(" 1000").as_deref(), Some("01000"));
        assert_eq!(code("69008.0").as_deref(), Some("69008"));
        assert_eq!(
            clean_postcode("13001 CEDEX 01"),
            CleanPostcode::Code {
                code: Code5(*b"13001"),
                cedex: true
            }
        );
        assert_eq!(code("13001 cedex").as_deref(), Some("13001"));
        assert_eq!(clean_postcode(""), CleanPostcode::Empty);
        assert_eq!(clean_postcode("  "), CleanPostcode::Empty);
        assert_eq!(clean_postcode("ABCDE"), CleanPostcode::Name("ABCDE"));
        assert_eq!(clean_postcode("690080"), CleanPostcode::Invalid);
        assert_eq!(clean_postcode("690"), CleanPostcode::Invalid);
        assert_eq!(clean_postcode("69-008"), CleanPostcode::Invalid);
        assert_eq!(clean_postcode("69OO8"), CleanPostcode::Invalid);
        assert_eq!(clean_postcode("CEDEX 3"), CleanPostcode::Empty);
        assert_eq!(clean_postcode("NC"), CleanPostcode::Empty);
    }
}
