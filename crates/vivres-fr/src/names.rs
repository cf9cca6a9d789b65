//! Commune names compared by a *key*: mojibake repaired, lowercase, accents
//! stripped, punctuation (`-`, `'`, `’`, `.`, …) and runs of spaces unified to
//! one space, `St`/`Ste` spelled `saint`/`sainte`, arrondissement ordinals
//! reduced to their number (`Lyon 3e Arrondissement`, `Lyon 3ème`, `LYON 03` →
//! `lyon 3`), and a trailing `CEDEX …` removed.

use std::borrow::Cow;

use crate::is_missing;
use crate::text::repair_mojibake;

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

/// A partner's name field as given: trimmed, `None` when missing ([`is_missing`])
/// or made only of punctuation (which names nothing).
pub fn given_text(s: Option<&str>) -> Option<&str> {
    s.map(str::trim)
        .filter(|s| !is_missing(s) && s.chars().any(char::is_alphanumeric))
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
    fn given_names() {
        assert_eq!(given_text(Some(" Lyon ")), Some("Lyon"));
        for s in ["", " - ", "NC", "n/c", "N.C.", "NR", "?", "..."] {
            assert_eq!(given_text(Some(s)), None, "{s:?}");
        }
    }
}
