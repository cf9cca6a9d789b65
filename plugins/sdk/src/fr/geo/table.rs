//! The layout of the gazetteer tables: written by the SDK's `build.rs` from the
//! hub's `hub/data/communes.csv`, read by [`super`].
//!
//! - `postcodes.bin`: a 100 000-bit bitmap, bit `n` set when `n` (5 digits) is
//!   a La Poste postcode;
//! - `names.bin`: one entry per commune or municipal arrondissement, sorted:
//!   the [`key_hash`] of its name key, then its [`departement_code`], little
//!   endian ([`ENTRY`] bytes).

/// Bytes of one `names.bin` entry.
pub const ENTRY: usize = 10;

/// FNV-1a on 64 bits: stable across builds and targets, and with some 35 000
/// names a collision with another text is vanishingly unlikely.
pub fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A département code as a number: `01`…`95` and `971`… as written, `2A` and
/// `2B` as 1000 and 1001; 0 for anything else.
pub fn departement_code(dep: &str) -> u16 {
    match dep {
        "2A" | "2a" => 1000,
        "2B" | "2b" => 1001,
        d if (2..=3).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => {
            d.parse().unwrap_or(0)
        }
        _ => 0,
    }
}
