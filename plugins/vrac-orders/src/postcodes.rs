//! Is a clean 5-digit postcode a French one? The La Poste postcodes of the
//! hub's gazetteer (`hub/data/communes.csv`), embedded by `build.rs` as a
//! 100 000-bit bitmap (12.5 KB).
//!
//! Needed because an order line has no residence field: the hub cannot
//! quarantine a VRAC member's lines for an unknown postcode (`99999`), so the
//! guest does, with the same list the hub resolves residences with.

static BITS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/postcodes.bin"));

/// `code` is 5 ASCII digits and a French postcode.
pub fn is_known(code: &str) -> bool {
    if code.len() != 5 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(n) = code.parse::<usize>() else {
        return false;
    };
    BITS.get(n / 8).is_some_and(|b| b & (1 << (n % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown() {
        for c in ["69001", "01000", "31000", "34000", "13001", "75001"] {
            assert!(is_known(c), "{c}");
        }
        for c in ["99999", "00000", "6900", "690011", "ABCDE", ""] {
            assert!(!is_known(c), "{c}");
        }
    }
}
