//! Text normalisation for commune names and postcodes.
//!
//! This file is also compiled into the connectors' SDK
//! (`plugins/sdk/src/fr/geo.rs`), so that a connector judges a residence with
//! the very keys the hub resolves it with: it must use `std` only.
//!
//! Names are compared by a *key*: mojibake repaired, lowercase, accents stripped,
//! punctuation (`-`, `'`, `’`, `.`, …) and runs of spaces unified to one space,
//! `St`/`Ste` spelled `saint`/`sainte`, arrondissement ordinals reduced to their
//! number (`Lyon 3e Arrondissement`, `Lyon 3ème`, `LYON 03` → `lyon 3`), and a
//! trailing `CEDEX …` removed.

use std::borrow::Cow;

/// Repairs UTF-8 text that was decoded as Windows-1252 / Latin-1 once (`VÃ©nissieux`
/// → `Vénissieux`). Only strings holding `Ã` or `Â` (the lead bytes of the Latin-1
/// range in that mis-decoding) are candidates; the repair is kept only if the
/// re-encoded bytes are valid UTF-8, otherwise the text is returned unchanged.
pub fn repair_mojibake(s: &str) -> Cow<'_, str> {
    if !s.contains(['Ã', 'Â']) {
        return Cow::Borrowed(s);
    }
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        match to_cp1252_byte(c) {
            Some(b) => bytes.push(b),
            None => return Cow::Borrowed(s),
        }
    }
    match String::from_utf8(bytes) {
        Ok(repaired) => Cow::Owned(repaired),
        Err(_) => Cow::Borrowed(s),
    }
}

/// The Windows-1252 byte that decodes to `c` (Latin-1 for the bytes 0x80–0x9F that
/// Windows-1252 leaves undefined).
fn to_cp1252_byte(c: char) -> Option<u8> {
    let b = match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        c if (c as u32) <= 0xFF => c as u32 as u8,
        _ => return None,
    };
    Some(b)
}

/// Lowercase ASCII spelling of a letter, accents stripped; `None` for a separator.
fn fold(c: char, out: &mut String) -> bool {
    let s: &str = match c {
        'a'..='z' | '0'..='9' => {
            out.push(c);
            return true;
        }
        'A'..='Z' => {
            out.push(c.to_ascii_lowercase());
            return true;
        }
        'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' | 'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => "a",
        'ç' | 'Ç' => "c",
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => "e",
        'î' | 'ï' | 'í' | 'ì' | 'Î' | 'Ï' | 'Í' | 'Ì' => "i",
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'Ô' | 'Ö' | 'Ó' | 'Ò' | 'Õ' => "o",
        'ù' | 'û' | 'ü' | 'ú' | 'Ù' | 'Û' | 'Ü' | 'Ú' => "u",
        'ÿ' | 'ý' | 'Ÿ' | 'Ý' => "y",
        'ñ' | 'Ñ' => "n",
        'œ' | 'Œ' => "oe",
        'æ' | 'Æ' => "ae",
        'ß' => "ss",
        c if c.is_alphanumeric() => {
            out.extend(c.to_lowercase());
            return true;
        }
        // Spaces, NBSP, hyphens, apostrophes, dots, slashes, º…: all separators.
        _ => return false,
    };
    out.push_str(s);
    true
}

/// The comparison key of a commune name (see the module doc). Empty if the name has
/// no letter or digit.
pub fn name_key(raw: &str) -> String {
    let text = repair_mojibake(raw);
    // Split into folded words.
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if !fold(c, &mut cur) && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }

    let mut out = String::with_capacity(raw.len());
    let mut prev_numeric = false;
    for w in &words {
        let w = w.as_str();
        if w == "cedex" {
            break;
        }
        if prev_numeric && matches!(w, "arrondissement" | "arrdt" | "arrt" | "arr") {
            continue;
        }
        let mapped: Cow<'_, str> = match w {
            "st" => "saint".into(),
            "ste" => "sainte".into(),
            "sts" => "saints".into(),
            "stes" => "saintes".into(),
            _ => ordinal_number(w).map_or(Cow::Borrowed(w), Cow::Borrowed),
        };
        prev_numeric = mapped.bytes().all(|b| b.is_ascii_digit());
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&mapped);
    }
    out
}

/// `3e`, `3eme`, `1er`, `1ere`, `2nd`, `03` → the number without leading zeros.
fn ordinal_number(w: &str) -> Option<&str> {
    let digits_end = w
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(w.len());
    if digits_end == 0 {
        return None;
    }
    let suffix = &w[digits_end..];
    if !matches!(
        suffix,
        "" | "e" | "eme" | "em" | "er" | "ere" | "nd" | "nde"
    ) {
        return None;
    }
    let digits = w[..digits_end].trim_start_matches('0');
    Some(if digits.is_empty() { "0" } else { digits })
}

/// A partner's field as given: trimmed, `None` when empty, one of the partners'
/// spellings of "missing" (`-`, `?`, `NC`, `N/C`, `NR`…) or made only of
/// punctuation (which names nothing).
pub fn given_text(s: Option<&str>) -> Option<&str> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && !is_missing_marker(s))
}

fn is_missing_marker(s: &str) -> bool {
    matches!(
        s,
        "-" | "?" | "NC" | "nc" | "Nc" | "N/C" | "n/c" | "N.C." | "NR"
    ) || !s.chars().any(char::is_alphanumeric)
}

/// A cleaned five-character code (postcode or INSEE), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code5(pub(crate) [u8; 5]);

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

/// Cleans a postcode field: trims; removes spaces, U+00A0 and U+202F; removes `CEDEX`
/// (any case) and everything after it; drops a spreadsheet's `.0`; restores a lost
/// leading zero (`1000` → `01000`). Allocation-free.
pub fn clean_postcode(raw: &str) -> CleanPostcode<'_> {
    let mut text = raw.trim();
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
            ' ' | '\t' | '\u{00A0}' | '\u{202F}' | '\u{2009}' => {}
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
    fn keys() {
        assert_eq!(name_key("Villeurbanne"), "villeurbanne");
        assert_eq!(name_key("  VILLEURBANNE "), "villeurbanne");
        assert_eq!(name_key("Saint Priest"), name_key("Saint-Priest"));
        assert_eq!(name_key("St-Priest"), "saint priest");
        assert_eq!(name_key("STE  FOY-LÈS-LYON"), "sainte foy les lyon");
        assert_eq!(
            name_key("L'Abergement-Clémenciat"),
            "l abergement clemenciat"
        );
        assert_eq!(
            name_key("L’Abergement Clemenciat"),
            "l abergement clemenciat"
        );
        assert_eq!(name_key("VÃ©nissieux"), "venissieux");
        assert_eq!(name_key("Œuilly"), "oeuilly");
        assert_eq!(name_key("Lyon 3e Arrondissement"), "lyon 3");
        assert_eq!(name_key("Lyon 3ème"), "lyon 3");
        assert_eq!(name_key("LYON 03"), "lyon 3");
        assert_eq!(name_key("Marseille 1er Arrondissement"), "marseille 1");
        assert_eq!(name_key("Lyon Cedex 07"), "lyon");
        assert_eq!(name_key(" - "), "");
    }

    #[test]
    fn mojibake() {
        assert_eq!(repair_mojibake("VÃ©nissieux"), "Vénissieux");
        assert_eq!(repair_mojibake("Ã‰cully"), "Écully");
        assert_eq!(repair_mojibake("Vénissieux"), "Vénissieux");
        // Not mojibake after all: left as is.
        assert_eq!(repair_mojibake("Ãx"), "Ãx");
    }

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
    }
}
