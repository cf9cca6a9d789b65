//! Text from partners' exports: UTF-8, UTF-8 with BOM or Windows-1252, and
//! mojibake (UTF-8 read once as Windows-1252: `Ã©` for `é`).

use std::borrow::Cow;

/// The encoding [`decode_text`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Windows1252,
}

/// Decodes an export: a UTF-8 BOM wins, then valid UTF-8, else Windows-1252
/// (where `0x80` is `€`). Windows-1252 decoding never fails. Mojibake inside
/// the text is repaired too.
pub fn decode_text(bytes: &[u8]) -> (String, TextEncoding) {
    let (text, encoding) = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        (
            String::from_utf8_lossy(rest).into_owned(),
            TextEncoding::Utf8Bom,
        )
    } else if let Ok(s) = std::str::from_utf8(bytes) {
        (s.to_string(), TextEncoding::Utf8)
    } else {
        (decode_cp1252(bytes), TextEncoding::Windows1252)
    };
    let repaired = match repair_mojibake(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(r) => r,
    };
    (repaired, encoding)
}

/// Characters of Windows-1252 bytes 0x80–0x9F (the WHATWG mapping: the five
/// undefined bytes decode to the C1 control of the same number).
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// Windows-1252 as the WHATWG Encoding Standard decodes it (the five bytes it
/// leaves undefined become the C1 control of the same number).
fn decode_cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// The Windows-1252 byte of a non-ASCII character, if it has one.
fn cp1252_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    CP1252_HIGH
        .iter()
        .position(|&h| h == c)
        .and_then(|i| u8::try_from(0x80 + i).ok())
}

/// Repairs UTF-8 that was decoded as Windows-1252 (`Ã©` → `é`, `â‚¬` → `€`,
/// `Å“` → `œ`): each run of non-ASCII characters that, written back as
/// Windows-1252, forms valid UTF-8 is replaced by it. Correct French text is
/// left alone (`é` alone is not valid UTF-8 as one byte).
pub fn repair_mojibake(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    // A run of non-ASCII characters, each standing for one Windows-1252 byte.
    let mut run: Vec<(char, u8)> = Vec::new();
    for c in s.chars() {
        match (c.is_ascii(), cp1252_byte(c)) {
            (false, Some(b)) => run.push((c, b)),
            _ => {
                changed |= repair_run(&run, &mut out);
                run.clear();
                out.push(c);
            }
        }
    }
    changed |= repair_run(&run, &mut out);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

fn plausible(c: char) -> bool {
    matches!(u32::from(c), 0x80..=0x24F | 0x2000..=0x206F | 0x20A0..=0x20CF | 0x2100..=0x214F)
}

/// Pushes `run` onto `out`, replacing each valid UTF-8 multi-byte sequence
/// its bytes form by the character it encodes. True if anything was replaced.
fn repair_run(run: &[(char, u8)], out: &mut String) -> bool {
    let bytes: Vec<u8> = run.iter().map(|&(_, b)| b).collect();
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let (valid, next) = match std::str::from_utf8(&bytes[i..]) {
            Ok(v) => (v, bytes.len()),
            Err(e) => {
                let n = e.valid_up_to();
                (
                    std::str::from_utf8(&bytes[i..i + n]).unwrap_or_default(),
                    i + n,
                )
            }
        };
        // Every byte here is >= 0x80: valid UTF-8 is made of multi-byte
        // sequences only. Keep the repair only if it gives characters a French
        // text holds (`à\u{a0}€` is also valid UTF-8, for a Samaritan letter).
        if !valid.is_empty() && valid.chars().all(plausible) {
            out.push_str(valid);
            changed = true;
        } else {
            run[i..next].iter().for_each(|&(c, _)| out.push(c));
        }
        if next < bytes.len() {
            out.push(run[next].0);
        }
        i = next + 1;
    }
    changed
}

/// A label folded for comparison: mojibake repaired, lower case, accents
/// removed, typographic apostrophes and dashes made plain, spaces collapsed.
/// `Embauche en CDI non aidé` and ` embauche en cdi  NON AIDE ` fold alike.
pub fn fold_label(s: &str) -> String {
    let repaired = repair_mojibake(s);
    let mut out = String::with_capacity(repaired.len());
    let mut space = false;
    for c in repaired.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            '’' | '‘' | 'ʼ' | '`' | '´' => "'",
            '–' | '—' | '‐' => "-",
            c if c.is_whitespace() => {
                space = true;
                continue;
            }
            _ => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
                continue;
            }
        };
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push_str(folded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(
            decode_text("Fête à Lyon".as_bytes()),
            ("Fête à Lyon".into(), TextEncoding::Utf8)
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice("Épicerie".as_bytes());
        assert_eq!(
            decode_text(&bom),
            ("Épicerie".into(), TextEncoding::Utf8Bom)
        );
    }

    #[test]
    fn windows_1252_euro_and_accents() {
        // "Chèque alimentaire 15 €;Décès;œuf" in Windows-1252.
        let bytes = b"Ch\xE8que alimentaire 15 \x80;D\xE9c\xE8s;\x9Cuf \xC0 \xE7a";
        let (text, enc) = decode_text(bytes);
        assert_eq!(enc, TextEncoding::Windows1252);
        assert_eq!(text, "Chèque alimentaire 15 €;Décès;œuf À ça");
    }

    #[test]
    fn mojibake_is_repaired() {
        assert_eq!(repair_mojibake("DÃ©cÃ¨s"), "Décès");
        assert_eq!(repair_mojibake("15 â‚¬"), "15 €");
        assert_eq!(repair_mojibake("Å“uf"), "œuf");
        assert_eq!(repair_mojibake("DÃ©mÃ©nagement"), "Déménagement");
        assert_eq!(repair_mojibake("Ã\u{a0} Lyon"), "à Lyon");
        assert_eq!(repair_mojibake("Mission dâ€™intÃ©rim"), "Mission d’intérim");
        assert_eq!(repair_mojibake("Ã©té"), "été");
        assert_eq!(repair_mojibake("éÃ©"), "éé");
        assert_eq!(repair_mojibake("à\u{a0}€"), "à\u{a0}€");
        // Mojibake inside a UTF-8 file is repaired by decode_text too.
        assert_eq!(decode_text("Ã‰picerie".as_bytes()).0, "Épicerie");
    }

    #[test]
    fn correct_text_is_left_alone() {
        for s in [
            "Décès",
            "Fête à Lyon",
            "œuf",
            "15 €",
            "Ça",
            "ASCII only",
            "été à Noël",
            "«\u{a0}oui\u{a0}»",
        ] {
            assert!(matches!(repair_mojibake(s), Cow::Borrowed(_)), "{s:?}");
        }
    }

    #[test]
    fn folding_labels() {
        assert_eq!(
            fold_label("Embauche en CDI non aidé"),
            "embauche en cdi non aide"
        );
        assert_eq!(
            fold_label("  EMBAUCHE en  CDI\u{a0}non aide "),
            "embauche en cdi non aide"
        );
        assert_eq!(fold_label("Mission d’intérim"), "mission d'interim");
        assert_eq!(fold_label("DÃ©cÃ¨s"), "deces");
        assert_eq!(
            fold_label("Entrée en formation qualifiante"),
            "entree en formation qualifiante"
        );
    }
}
