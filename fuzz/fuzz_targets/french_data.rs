//! The French-data rules on arbitrary bytes and text: no panic, and what a
//! rule accepts is well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, _) = vivres_fr::decode_text(data);
    for s in [text.as_str(), &*vivres_fr::repair_mojibake(&text)] {
        let _ = vivres_fr::fold_label(s);
        let _ = vivres_fr::name_key(s);
        let _ = vivres_fr::is_missing(s);
        if let Ok(vivres_fr::Parsed::Value(n)) = vivres_fr::parse_decimal(s) {
            assert!(n.is_finite(), "{s:?} gave {n}");
        }
        let _ = vivres_fr::parse_cents(s);
        let _ = vivres_fr::parse_integer(s);
        let _ = vivres_fr::parse_quantity(s);
        let _ = vivres_fr::clean_postcode(s);
        if let Ok(vivres_fr::Parsed::Value(p)) = vivres_fr::parse_postcode(s) {
            assert!(
                p.len() == 5 && p.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{s:?} gave postcode {p:?}"
            );
        }
    }
});
